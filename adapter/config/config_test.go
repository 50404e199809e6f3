package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/configs"
)

// The secrets of configs/local.yaml; no rendering of a Config may show them.
const (
	localToken  = "dev-portal-token"
	localSecret = "dev-treasury-secret"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// edit rewrites local.yaml for one case; it fails the test if the text it
// expects to change is not there, so a case can never pass vacuously.
type edit func(t *testing.T, s string) string

func replace(old, repl string) edit {
	return func(t *testing.T, s string) string {
		t.Helper()
		if strings.Count(s, old) != 1 {
			t.Fatalf("local.yaml holds %q %d times, want once", old, strings.Count(s, old))
		}
		return strings.Replace(s, old, repl, 1)
	}
}

func replaceRe(re, repl string) edit {
	return func(t *testing.T, s string) string {
		t.Helper()
		r := regexp.MustCompile(re)
		if len(r.FindAllStringIndex(s, -1)) != 1 {
			t.Fatalf("local.yaml does not match %s exactly once", re)
		}
		return r.ReplaceAllString(s, repl)
	}
}

func local(t *testing.T, e edit) []byte {
	t.Helper()
	return []byte(e(t, string(configs.Local)))
}

func TestLoadAcceptsLocal(t *testing.T) {
	c, err := Load(configs.Local, nil)
	if err != nil {
		t.Fatalf("configs/local.yaml refused: %v", err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Treasury.BaseURL != "http://127.0.0.1:8081" {
		t.Errorf("addresses: server %q, treasury %q", c.Server.Addr, c.Treasury.BaseURL)
	}
	if len(c.Auth.BearerTokens) != 1 || c.Auth.BearerTokens[0].Token.Reveal() != localToken ||
		c.Treasury.ClientSecret.Reveal() != localSecret {
		t.Errorf("credentials not read: %d tokens", len(c.Auth.BearerTokens))
	}
	for _, id := range []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"} {
		if p, ok := c.Procedures[id]; !ok || p.Code == "" || p.Name == "" {
			t.Errorf("procedure %s missing or incomplete: %+v", id, p)
		}
	}
	if got := c.Procedures["tai-khoan"].RequiredRoles; !reflect.DeepEqual(got, []string{"chu-tai-khoan"}) {
		t.Errorf("tai-khoan roles %v", got)
	}
	if c.Signatures.Roles["Ke toan truong"] != "ke-toan-truong" || c.Treasury.Timeout != 10*time.Second {
		t.Errorf("roles %v, treasury timeout %v", c.Signatures.Roles, c.Treasury.Timeout)
	}
}

// An unknown key is refused wherever it is, and the message names it and its line.
func TestLoadRefusesUnknownKeys(t *testing.T) {
	tests := []struct {
		name, after, insert, key string
	}{
		{"top level", "    clients: []", "logging: {}", "logging"},
		{"server", "  addr: 127.0.0.1:8080", "  adress: 0.0.0.0:1", "adress"},
		{"bearer token", "      token: dev-portal-token", "      scope: all", "scope"},
		{"signatures", "  maxSignatures: 4", "  allowMD5: true", "allowMD5"},
		{"limits", "  maxDepth: 32", "  maxAttributes: 9", "maxAttributes"},
		{"treasury", "  clientID: dvc-adapter", "  clientSecrett: x", "clientSecrett"},
		{"procedure", "    slaWorkingDays: 1", "    slaDays: 1", "slaDays"},
		{"log", "  level: info", "  format: json", "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := strings.Split(string(configs.Local), "\n")
			at := -1
			for i, l := range lines {
				if l == tt.after {
					at = i
					break
				}
			}
			if at < 0 {
				t.Fatalf("local.yaml has no line %q", tt.after)
			}
			lines = append(lines[:at+1], append([]string{tt.insert}, lines[at+1:]...)...)
			_, err := Load([]byte(strings.Join(lines, "\n")), nil)
			if err == nil {
				t.Fatalf("unknown key %s accepted", tt.key)
			}
			line := fmt.Sprintf("line %d", at+2)
			if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), line) {
				t.Fatalf("error %q does not name %s and %s", err, tt.key, line)
			}
		})
	}
}

// One case per check in Validate: each invalid value is refused with a
// message that names its key path.
func TestLoadRefusesInvalidValues(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		key  string
	}{
		{"body limit too small", replace("maxBodyBytes: 16777216", "maxBodyBytes: 1023"), "server.maxBodyBytes"},
		{"no bearer token", replaceRe(`(?m)^  bearerTokens:\n(    .*\n)+`, "  bearerTokens: []\n"), "auth.bearerTokens"},
		{"token without name", replace("- name: portal", `- name: ""`), "auth.bearerTokens[0].name"},
		{"duplicate token name", replace("      token: dev-portal-token\n",
			"      token: dev-portal-token\n    - name: portal\n      token: another-portal-token\n"), "auth.bearerTokens[1].name"},
		{"short token", replace("token: dev-portal-token", "token: fifteen-chars-x"), "auth.bearerTokens[0].token"},
		{"no trust root", replace("trustRoots: [testdata/pki/root-ca.crt]", "trustRoots: []"), "signatures.trustRoots"},
		{"JWS algorithm", replace("jwsAlgorithms: [RS256, ES256]", "jwsAlgorithms: [RS256, HS256]"), "signatures.jwsAlgorithms[1]"},
		{"JWS none", replace("jwsAlgorithms: [RS256, ES256]", "jwsAlgorithms: [none]"), "signatures.jwsAlgorithms[0]"},
		{"too many signatures", replace("maxSignatures: 4", "maxSignatures: 9"), "signatures.maxSignatures"},
		{"negative signatures", replace("maxSignatures: 4", "maxSignatures: -1"), "signatures.maxSignatures"},
		{"depth too small", replace("maxDepth: 32", "maxDepth: 3"), "limits.maxDepth"},
		{"depth too large", replace("maxDepth: 32", "maxDepth: 257"), "limits.maxDepth"},
		{"too few elements", replace("maxElements: 200000", "maxElements: 99"), "limits.maxElements"},
		{"treasury URL scheme", replace("baseURL: http://127.0.0.1:8081", "baseURL: ftp://127.0.0.1:8081"), "treasury.baseURL"},
		{"treasury URL relative", replace("baseURL: http://127.0.0.1:8081", "baseURL: /api"), "treasury.baseURL"},
		{"treasury URL unparsable", replace("baseURL: http://127.0.0.1:8081", `baseURL: "http://[::1"`), "treasury.baseURL"},
		{"no client id", replace("clientID: dvc-adapter", `clientID: ""`), "treasury.clientID"},
		{"no client secret", replace("clientSecret: dev-treasury-secret", `clientSecret: ""`), "treasury.clientSecret"},
		{"no procedure", replaceRe(`(?s)\nprocedures:\n.*\n\nlog:`, "\nprocedures: {}\n\nlog:"), "procedures"},
		{"procedure id", replace("  tai-khoan:\n", "  Tai_Khoan:\n"), "procedures.Tai_Khoan"},
		{"procedure code", replace(`code: "1.008923"`, `code: ""`), "procedures.tai-khoan.code"},
		{"procedure name", replace(`name: "Đăng ký và sử dụng tài khoản tại Kho bạc Nhà nước"`, `name: ""`), "procedures.tai-khoan.name"},
		{"procedure SLA", replace("slaWorkingDays: 1", "slaWorkingDays: -1"), "procedures.tai-khoan.slaWorkingDays"},
		{"undefined role", replace("requiredRoles: [chu-tai-khoan]\n", "requiredRoles: [chu-tai-khoan, thu-quy]\n"), "procedures.tai-khoan.requiredRoles[1]"},
		{"log level", replace("level: info", "level: verbose"), "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(local(t, tt.edit), nil)
			if err == nil {
				t.Fatalf("accepted; want an error naming %s", tt.key)
			}
			if want := "config: " + tt.key + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

func TestLoadEnvironmentOverrides(t *testing.T) {
	c, err := Load(configs.Local, envOf(map[string]string{
		"DVC_SERVER_ADDR":           "0.0.0.0:9090",
		"DVC_TREASURY_CLIENTSECRET": "from-the-environment",
		"DVC_SIGNATURES_CRLS":       "a.crl, b.crl",
		"DVC_SERVER_READTIMEOUT":    "45s",
		"DVC_SIGNATURES_ALLOWSHA1":  "true",
		"DVC_LIMITS_MAXDEPTH":       "64",
		"DVC_UNRELATED":             "ignored",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "0.0.0.0:9090" {
		t.Errorf("server.addr %q", c.Server.Addr)
	}
	if c.Treasury.ClientSecret.Reveal() != "from-the-environment" {
		t.Errorf("treasury.clientSecret not overridden")
	}
	if !reflect.DeepEqual(c.Signatures.CRLs, []string{"a.crl", "b.crl"}) {
		t.Errorf("signatures.crls %q", c.Signatures.CRLs)
	}
	if c.Server.ReadTimeout != 45*time.Second || !c.Signatures.AllowSHA1 || c.Limits.MaxDepth != 64 {
		t.Errorf("readTimeout %v, allowSHA1 %v, maxDepth %d", c.Server.ReadTimeout, c.Signatures.AllowSHA1, c.Limits.MaxDepth)
	}
	if c.Server.WriteTimeout != 60*time.Second || c.Treasury.ClientID != "dvc-adapter" {
		t.Errorf("keys without a variable changed: writeTimeout %v, clientID %q", c.Server.WriteTimeout, c.Treasury.ClientID)
	}
}

// A bad environment value names the variable; an overridden value is
// validated like one from the file.
func TestLoadRefusesBadEnvironment(t *testing.T) {
	tests := []struct {
		name, variable, value, want string
	}{
		{"duration", "DVC_SERVER_READTIMEOUT", "soon", "DVC_SERVER_READTIMEOUT"},
		{"integer", "DVC_SERVER_MAXBODYBYTES", "16MiB", "DVC_SERVER_MAXBODYBYTES"},
		{"boolean", "DVC_SIGNATURES_ALLOWSHA1", "maybe", "DVC_SIGNATURES_ALLOWSHA1"},
		{"map", "DVC_PROCEDURES", "tai-khoan", "DVC_PROCEDURES"},
		{"list of structs", "DVC_AUTH_BEARERTOKENS", "portal", "DVC_AUTH_BEARERTOKENS"},
		{"validated", "DVC_LOG_LEVEL", "verbose", "log.level"},
		{"empty secret", "DVC_TREASURY_CLIENTSECRET", "", "treasury.clientSecret"},
		{"list validated", "DVC_SIGNATURES_JWSALGORITHMS", "RS256,HS256", "signatures.jwsAlgorithms[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(configs.Local, envOf(map[string]string{tt.variable: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s=%q: error %v, want one naming %s", tt.variable, tt.value, err, tt.want)
			}
		})
	}
}

// defaultResilience is Resilience with adapter/upstream's defaults.
var defaultResilience = Resilience{Window: 30 * time.Second, MinRequests: 20, FailureRatio: 0.5, OpenTimeout: 15 * time.Second,
	HalfOpenMax: 3, MaxConcurrent: 64, Retries: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}

func TestLoadFillsDefaults(t *testing.T) {
	minimal := `
auth:
  bearerTokens: [{name: portal, token: 0123456789abcdef}]
signatures:
  trustRoots: [root.crt]
limits:
  maxDepth: 64
treasury:
  baseURL: https://treasury.example
  clientID: dvc
  clientSecret: s
procedures:
  tai-khoan: {code: "1.008923", name: Tai khoan, slaWorkingDays: 1}
callbacks:
  secrets: [whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0]
portal:
  url: https://portal.example/api
  username: u
  password: p
  maDonVi: "000.00.00.G09"
evidence:
  dir: /var/lib/dvc/evidence
  keyFile: adapter-log.key
`
	c, err := Load([]byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Server: Server{Addr: "127.0.0.1:8080", AdminAddr: "127.0.0.1:8090", MaxBodyBytes: 16 << 20, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, ShutdownTimeout: 20 * time.Second,
			TLS: TLS{MinVersion: "1.2", ReloadInterval: 5 * time.Second}},
		Auth: c.Auth,
		Signatures: Signatures{TrustRoots: []string{"root.crt"}, JWSAlgorithms: []string{"RS256", "ES256"}, MaxSignatures: 4, XMLVerifier: "fast", RequireRegistered: true,
			Revocation: Revocation{OCSP: "prefer", FetchCRLs: true, OnUnavailable: "fail", Timeout: 5 * time.Second}},
		Limits:      Limits{MaxDepth: 64, MaxElements: 200_000, LargeBodyBytes: 256 << 10, LargeBodyConcurrency: 2, LargeBodyWait: 2 * time.Second, UploadConcurrency: 8}, // a value given is kept
		Attachments: Attachments{MaxFileBytes: 20 << 20, MaxTotalBytes: 50 << 20, MaxParts: 20, Retention: 24 * time.Hour, MaxStoredBytes: 400 << 20},
		Treasury: Treasury{BaseURL: "https://treasury.example", ClientID: "dvc", ClientSecret: "s", Timeout: 10 * time.Second,
			Resilience: defaultResilience, InlineAttachmentBytes: 64 << 10},
		Store: Store{Kind: "memory", Redis: Redis{KeyPrefix: "dvc:", DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 64, MaxClockSkew: 5 * time.Second}},
		Idempotency: Idempotency{Retention: 72 * time.Hour, DossierRetention: 720 * time.Hour, Lease: 30 * time.Second},
		Withdrawal:  Withdrawal{MaxAgeDays: 30},
		Callbacks:   Callbacks{Secrets: c.Callbacks.Secrets, Tolerance: 5 * time.Minute},
		Portal: Portal{Transport: "session", URL: "https://portal.example/api", Username: "u", Password: "p", MaDonVi: "000.00.00.G09",
			Timeout: 10 * time.Second, Resilience: defaultResilience,
			ErrorCodes:   PortalErrorCodes{SessionExpired: []string{"-1"}, Default: "permanent"},
			LoaiDoiTuong: "2", HinhThuc: "0"},
		Delivery:     Delivery{Workers: 4, Lease: 2 * time.Minute, MinSpan: 72 * time.Hour, UncertainWait: 2 * time.Minute},
		Procedures:   c.Procedures,
		DossierCodes: DefaultDossierCodes(),
		Log:          Log{Level: "info"},
		Evidence: Evidence{Enabled: true, Dir: "/var/lib/dvc/evidence", Instance: c.Evidence.Instance, KeyFile: "adapter-log.key",
			CheckpointInterval: time.Second, ForwardOriginal: true, SegmentBytes: 64 << 20},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if d := c.Procedures["tai-khoan"].Deadline; d != 20*time.Second {
		t.Fatalf("procedure deadline default %v", d)
	}
}

// holder is how a Secret usually reaches a log: inside some struct.
type holder struct {
	Caller string
	Token  Secret
}

func TestSecretNeverPrinted(t *testing.T) {
	c, err := Load(configs.Local, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, out string) {
		t.Helper()
		leaked := false
		for _, s := range []string{localToken, localSecret} {
			if i := strings.Index(out, s); i >= 0 {
				leaked = true
				t.Errorf("secret %q shown: …%s…", s, out[max(0, i-40):min(len(out), i+len(s)+10)])
			}
		}
		if !leaked && !strings.Contains(out, "[redacted]") {
			t.Errorf("no [redacted] marker in %s", out)
		}
	}
	for _, verb := range []string{"%v", "%s", "%+v"} {
		t.Run("fmt "+verb, func(t *testing.T) {
			check(t, fmt.Sprintf(verb, *c))
			check(t, fmt.Sprintf(verb, c))
			check(t, fmt.Sprintf(verb, c.Treasury.ClientSecret))
		})
	}
	h := holder{Caller: "portal", Token: c.Auth.BearerTokens[0].Token}
	for _, tt := range []struct {
		name string
		attr slog.Attr
	}{
		{"struct holding a secret", slog.Any("caller", h)},
		{"config", slog.Any("config", c)},
		{"treasury section", slog.Any("treasury", c.Treasury)},
		{"secret", slog.Any("secret", c.Treasury.ClientSecret)},
	} {
		for _, handler := range []string{"json", "text"} {
			t.Run("slog "+handler+" "+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				var hd slog.Handler = slog.NewJSONHandler(&buf, nil)
				if handler == "text" {
					hd = slog.NewTextHandler(&buf, nil)
				}
				slog.New(hd).Info("loaded", tt.attr)
				check(t, buf.String())
			})
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(configs.Local)
	f.Add([]byte("server: {addr: x}\n"))
	f.Add([]byte("procedures:\n  a: {code: x, name: y, requiredRoles: [r]}\n"))
	f.Add([]byte("server:\n  readTimeout: -1s\n  maxBodyBytes: 9223372036854775807\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("--- !!binary\n---\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Load(raw, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		if c.Server.Addr == "" || c.Log.Level == "" || len(c.Signatures.JWSAlgorithms) == 0 || c.Treasury.Timeout == 0 {
			t.Fatalf("accepted config lacks defaults: %+v", c)
		}
	})
}

// requireRegistered is on unless the file or the environment turns it off.
func TestRequireRegisteredDefaultsOn(t *testing.T) {
	on, err := Load(localWith(t, map[string]any{"signatures.requireRegistered": nil}), nil)
	if err != nil || !on.Signatures.RequireRegistered {
		t.Fatalf("without the key: %v, %v; want on", err, on)
	}
	off, err := Load(localWith(t, map[string]any{"signatures.requireRegistered": false}), nil)
	if err != nil || off.Signatures.RequireRegistered {
		t.Fatalf("false in the file: want off (%v)", err)
	}
	env, err := Load(configs.Local, func(k string) (string, bool) {
		return "false", k == "DVC_SIGNATURES_REQUIREREGISTERED"
	})
	if err != nil || env.Signatures.RequireRegistered {
		t.Fatalf("DVC_SIGNATURES_REQUIREREGISTERED=false: want off (%v)", err)
	}
}
