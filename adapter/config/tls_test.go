package config

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/tlstest"
)

// tlsPair are a server certificate, its key and another key, written once
// (by tlsFiles) under tlsDir for the tests of this package.
var (
	tlsDir  string
	tlsOnce sync.Once
	tlsPair struct{ cert, key, otherKey, ca string }
)

func TestMain(m *testing.M) {
	var err error
	if tlsDir, err = os.MkdirTemp("", "dvc-config-tls-"); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(tlsDir)
	os.Exit(code)
}

// tlsFiles writes tlsPair's files the first time it is called.
func tlsFiles(t *testing.T) {
	t.Helper()
	tlsOnce.Do(func() {
		ca := tlstest.NewCA(t, "config test CA")
		tlsPair.cert, tlsPair.key = ca.Server(t, "adapter").Write(t, tlsDir, "server")
		_, tlsPair.otherKey = ca.Server(t, "other").Write(t, tlsDir, "other")
		tlsPair.ca = filepath.Join(tlsDir, "clients-ca.pem")
		tlstest.WriteFile(t, tlsPair.ca, ca.PEM)
	})
}

// The listeners' TLS loads from the configured pair.
func TestTLSPairLoads(t *testing.T) {
	tlsFiles(t)
	c, err := Load(localWith(t, map[string]any{"server.tls.certFile": tlsPair.cert, "server.tls.keyFile": tlsPair.key}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.TLS.CertFile != tlsPair.cert || c.Server.TLS.KeyFile != tlsPair.key || c.Server.TLS.MinVersion != "1.2" {
		t.Fatalf("%+v", c.Server.TLS)
	}
}

// configs/tls.yaml, the production shape, loads once its secret files
// exist (here under a temporary directory instead of /run/secrets).
func TestTLSExampleLoads(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "configs", "tls.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	for name, v := range map[string]string{
		"dvc-portal-token": "portal-token-from-a-file", "dvc-treasury-client-secret": "treasury-secret",
		"dvc-callback-secret": "whsec_ZGV2LXRyZWFzdXJ5LWNhbGxiYWNrLXNlY3JldC0wMDAx", "dvc-portal-password": "portal-password",
		"dvc-redis-password": "redis-password",
	} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw = []byte(strings.ReplaceAll(string(raw), "/run/secrets/", secrets+"/"))
	t.Chdir(filepath.Join("..", ".."))
	c, err := Load(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Submissions != "both" || c.Auth.Admin != "mtls" || len(c.Server.TLS.Clients) != 3 ||
		c.Store.Redis.MasterName == "" || c.Store.Redis.Password.Reveal() != "redis-password" ||
		c.Auth.BearerTokens[0].Token.Reveal() != "portal-token-from-a-file" || !c.Treasury.TLS.Set() {
		t.Fatalf("configs/tls.yaml loaded as %+v", c)
	}
}
