package config

import (
	"os"
	"path/filepath"
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
