package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSecret writes content to a new file and returns its path.
func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every secret key is read from its …File key instead, as container
// platforms mount secrets: the trailing newline is trimmed.
func TestSecretsFromFiles(t *testing.T) {
	portalTok := writeSecret(t, "portal-token", "portal-token-from-file\n")
	adminTok := writeSecret(t, "admin-token", "operator-token-from-file\r\n")
	treasury := writeSecret(t, "treasury", "treasury-secret-from-file\n")
	redisPw := writeSecret(t, "redis", "redis-password-from-file")
	portalPw := writeSecret(t, "portal", "portal-password-from-file\n")
	callback := writeSecret(t, "callback", "whsec_c2Vjb25kLWNhbGxiYWNrLXNlY3JldC0wMDAwMDE=\n")
	raw := localWith(t, map[string]any{
		"auth.bearerTokens":         []map[string]any{{"name": "portal", "tokenFile": portalTok}},
		"auth.adminTokens":          []map[string]any{{"name": "operator", "tokenFile": adminTok}},
		"treasury.clientSecret":     "",
		"treasury.clientSecretFile": treasury,
		"store.redis.passwordFile":  redisPw,
		"portal.password":           "",
		"portal.passwordFile":       portalPw,
		"callbacks.secretFiles":     []string{callback},
	})
	c, err := Load(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Auth.BearerTokens[0].Token.Reveal(), c.Auth.AdminTokens[0].Token.Reveal(),
		c.Treasury.ClientSecret.Reveal(), c.Store.Redis.Password.Reveal(), c.Portal.Password.Reveal(),
		c.Callbacks.Secrets[0].Reveal(), c.Callbacks.Secrets[1].Reveal()}
	want := []string{"portal-token-from-file", "operator-token-from-file", "treasury-secret-from-file",
		"redis-password-from-file", "portal-password-from-file",
		"whsec_ZGV2LXRyZWFzdXJ5LWNhbGxiYWNrLXNlY3JldC0wMDAx", "whsec_c2Vjb25kLWNhbGxiYWNrLXNlY3JldC0wMDAwMDE="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("secrets %q, want %q", got, want)
	}
	// The bearer transport's client secret too.
	c, err = Load(localWith(t, map[string]any{"portal.transport": "bearer", "portal.tokenURL": "https://portal.example/token",
		"portal.clientID": "c", "portal.clientSecretFile": writeSecret(t, "cs", "portal-client-secret\n")}), nil)
	if err != nil || c.Portal.ClientSecret.Reveal() != "portal-client-secret" {
		t.Fatalf("portal.clientSecretFile: %v", err)
	}
}

// DVC_…_FILE names a secret's file from the environment; it replaces the
// secret written in the YAML file (environment over file).
func TestSecretFileFromEnvironment(t *testing.T) {
	env := envOf(map[string]string{
		"DVC_TREASURY_CLIENTSECRET_FILE": writeSecret(t, "treasury", "treasury-from-env-file\n"),
		"DVC_PORTAL_PASSWORD_FILE":       writeSecret(t, "portal", "portal-from-env-file\n"),
		"DVC_STORE_REDIS_PASSWORD_FILE":  writeSecret(t, "redis", "redis-from-env-file\n"),
		"DVC_CALLBACKS_SECRETS_FILE":     writeSecret(t, "callback", "whsec_c2Vjb25kLWNhbGxiYWNrLXNlY3JldC0wMDAwMDE=\n"),
	})
	c, err := Load(localWith(t, nil), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Treasury.ClientSecret.Reveal() != "treasury-from-env-file" || c.Portal.Password.Reveal() != "portal-from-env-file" ||
		c.Store.Redis.Password.Reveal() != "redis-from-env-file" || len(c.Callbacks.Secrets) != 1 ||
		c.Callbacks.Secrets[0].Reveal() != "whsec_c2Vjb25kLWNhbGxiYWNrLXNlY3JldC0wMDAwMDE=" {
		t.Fatalf("secrets %q %q %q %q", c.Treasury.ClientSecret.Reveal(), c.Portal.Password.Reveal(),
			c.Store.Redis.Password.Reveal(), c.Callbacks.Secrets)
	}
	// Both the secret and its file in the environment: refused.
	_, err = Load(localWith(t, nil), envOf(map[string]string{
		"DVC_TREASURY_CLIENTSECRET":      "treasury-from-env",
		"DVC_TREASURY_CLIENTSECRET_FILE": writeSecret(t, "treasury", "treasury-from-env-file\n"),
	}))
	wantProblems(t, err, "treasury.clientSecretFile")
}

// wantProblems requires err to name exactly the keys.
func wantProblems(t *testing.T, err error, keys ...string) {
	t.Helper()
	ps := problemsOf(t, err)
	var got []string
	for _, p := range ps {
		got = append(got, p.Key)
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Fatalf("problems %v (%v), want %v", got, err, keys)
	}
}

// A file that cannot be read, a secret given twice, or a file whose
// content is invalid is refused naming the …File key, once, and the
// message never holds the content.
func TestSecretFileProblems(t *testing.T) {
	short := writeSecret(t, "short", "leaked short\n") // not a valid token, nor a whsec_ secret
	tests := []struct {
		name string
		set  map[string]any
		key  string
	}{
		{"missing file", map[string]any{"treasury.clientSecret": "", "treasury.clientSecretFile": "/no/such/secret"}, "treasury.clientSecretFile"},
		{"blank path", map[string]any{"portal.password": "", "portal.passwordFile": " "}, "portal.passwordFile"},
		{"both in the file", map[string]any{"treasury.clientSecretFile": short}, "treasury.clientSecretFile"},
		{"invalid token in a file", map[string]any{"auth.bearerTokens": []map[string]any{{"name": "portal", "tokenFile": short}}},
			"auth.bearerTokens[0].tokenFile"},
		{"invalid callback secret in a file", map[string]any{"callbacks.secretFiles": []string{short}}, "callbacks.secretFiles[0]"},
		{"unreadable callback secret file", map[string]any{"callbacks.secretFiles": []string{"/no/such/secret"}}, "callbacks.secretFiles[0]"},
		{"empty redis password file", map[string]any{"store.redis.passwordFile": writeSecret(t, "empty", "\n")}, "store.redis.passwordFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(localWith(t, tt.set), nil)
			wantProblems(t, err, tt.key)
			if strings.Contains(err.Error(), "leaked") {
				t.Fatalf("the message shows the secret: %v", err)
			}
		})
	}
}
