package config

import (
	"errors"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/configs"
)

// loadLocal returns configs/local.yaml as Load leaves it.
func loadLocal(t *testing.T) *Config {
	t.Helper()
	c, err := Load(configs.Local, nil)
	if err != nil {
		t.Fatalf("configs/local.yaml refused: %v", err)
	}
	return c
}

// problemsOf returns the problems of a Validate or Load error; it fails the
// test on any other error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	return ce.Problems
}

// bearer switches the portal to the bearer transport with valid settings.
func bearer(c *Config) {
	c.Portal.Transport, c.Portal.TokenURL = "bearer", "https://portal.example/oauth/token"
	c.Portal.ClientID, c.Portal.ClientSecret = "dvc-adapter", "portal-client-secret"
}

// redisStore switches the store to Redis with one valid address.
func redisStore(c *Config) {
	c.Store.Kind, c.Store.Redis.Addrs = "redis", []string{"127.0.0.1:6379"}
}

// withMTLS turns on TLS with a client CA and two clients: the portal
// (submissions, by subject) and the treasury (callbacks, by URI).
func withMTLS(c *Config) {
	c.Server.TLS.CertFile, c.Server.TLS.KeyFile, c.Server.TLS.ClientCAFile = tlsPair.cert, tlsPair.key, tlsPair.ca
	c.Server.TLS.Clients = []TLSClient{{Name: "portal", Subject: "CN=portal,O=Portal", Group: "submissions"},
		{Name: "treasury", URI: "spiffe://kbnn.test/treasury", Group: "callbacks"}}
}

// treasuryTLS and portalTLS give the upstream mutual TLS with valid files
// and an https URL.
func treasuryTLS(c *Config) {
	c.Treasury.BaseURL = "https://127.0.0.1:8081"
	c.Treasury.TLS = ClientTLS{CAFile: tlsPair.ca, CertFile: tlsPair.cert, KeyFile: tlsPair.key, ServerName: "treasury.test"}
}

func portalTLS(c *Config) {
	c.Portal.URL = "https://127.0.0.1:8082/api"
	c.Portal.TLS = ClientTLS{CAFile: tlsPair.ca, CertFile: tlsPair.cert, KeyFile: tlsPair.key}
}

// proc edits one procedure of the map in place.
func proc(c *Config, id string, edit func(p *Procedure)) {
	p := c.Procedures[id]
	edit(&p)
	c.Procedures[id] = p
}

// invalidRows are one bad value per validated key, each set on the valid
// configs/local.yaml; Validate must name exactly that key, and no other.
var invalidRows = []struct {
	name string
	key  string
	edit func(c *Config)
}{
	{"server address without port", "server.addr", func(c *Config) { c.Server.Addr = "localhost" }},
	{"server address named port", "server.addr", func(c *Config) { c.Server.Addr = "127.0.0.1:http" }},
	{"admin address without port", "server.adminAddr", func(c *Config) { c.Server.AdminAddr = "127.0.0.1" }},
	{"admin address is the public one", "server.adminAddr", func(c *Config) { c.Server.AdminAddr = c.Server.Addr }},
	{"certificate without key", "server.tls.keyFile", func(c *Config) { c.Server.TLS.CertFile = "server.crt" }},
	{"key without certificate", "server.tls.certFile", func(c *Config) { c.Server.TLS.KeyFile = "server.key" }},
	{"certificate file missing", "server.tls.certFile", func(c *Config) {
		c.Server.TLS.CertFile, c.Server.TLS.KeyFile = "/no/such/server.crt", "/no/such/server.key"
	}},
	{"key not the certificate's", "server.tls.keyFile", func(c *Config) {
		c.Server.TLS.CertFile, c.Server.TLS.KeyFile = tlsPair.cert, tlsPair.otherKey
	}},
	{"client CA without TLS", "server.tls.clientCAFile", func(c *Config) { c.Server.TLS.ClientCAFile = tlsPair.ca }},
	{"client CA missing", "server.tls.clientCAFile", func(c *Config) { withMTLS(c); c.Server.TLS.ClientCAFile = "/no/such/ca.pem" }},
	{"client CA not PEM", "server.tls.clientCAFile", func(c *Config) { withMTLS(c); c.Server.TLS.ClientCAFile = tlsPair.key }},
	{"client without client CA", "server.tls.clients[0]", func(c *Config) {
		c.Server.TLS.Clients = []TLSClient{{Name: "portal", Subject: "CN=portal", Group: "submissions"}}
	}},
	{"client without name", "server.tls.clients[0].name", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].Name = "" }},
	{"client with subject and uri", "server.tls.clients[0]", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].URI = "spiffe://x/portal" }},
	{"client name with a bar", "server.tls.clients[0].name", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].Name = "portal|b" }},
	{"client subject not a name", "server.tls.clients[0].subject", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].Subject = "portal" }},
	{"client subject with a BER value", "server.tls.clients[0].subject", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].Subject = "CN=#0c03616263" }},
	{"client subject with an unknown type", "server.tls.clients[0].subject", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].Subject = "CNN=portal" }},
	{"client uri relative", "server.tls.clients[1].uri", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[1].URI = "treasury" }},
	{"client twice", "server.tls.clients[2]", func(c *Config) {
		withMTLS(c)
		c.Server.TLS.Clients = append(c.Server.TLS.Clients, TLSClient{Name: "other", Subject: "cn=portal, O=Portal", Group: "admin"})
	}},
	{"client group", "server.tls.clients[0].group", func(c *Config) { withMTLS(c); c.Server.TLS.Clients[0].Group = "portal" }},
	{"TLS 1.1", "server.tls.minVersion", func(c *Config) { c.Server.TLS.MinVersion = "1.1" }},
	{"negative reload interval", "server.tls.reloadInterval", func(c *Config) { c.Server.TLS.ReloadInterval = -time.Second }},
	{"body limit too small", "server.maxBodyBytes", func(c *Config) { c.Server.MaxBodyBytes = 1023 }},
	{"attachment file limit too small", "attachments.maxFileBytes", func(c *Config) { c.Attachments.MaxFileBytes = 1000 }},
	{"attachment total under the file limit", "attachments.maxTotalBytes", func(c *Config) { c.Attachments.MaxTotalBytes = c.Attachments.MaxFileBytes - 1 }},
	{"attachment parts over 100", "attachments.maxParts", func(c *Config) { c.Attachments.MaxParts = 101 }},
	{"attachment retention under a minute", "attachments.retention", func(c *Config) { c.Attachments.Retention = time.Second }},
	{"attachment store under the total", "attachments.maxStoredBytes", func(c *Config) { c.Attachments.MaxStoredBytes = c.Attachments.MaxTotalBytes - 1 }},
	{"attachment store without room for one request's files' overhead", "attachments.maxStoredBytes", func(c *Config) {
		c.Attachments.MaxStoredBytes = c.Attachments.MaxTotalBytes + int64(c.Attachments.MaxParts)*attachment.FileOverhead - 1
	}},
	{"attachment store over 1 TiB", "attachments.maxStoredBytes", func(c *Config) { c.Attachments.MaxStoredBytes = 1<<40 + 1 }},
	{"negative read timeout", "server.readTimeout", func(c *Config) { c.Server.ReadTimeout = -time.Second }},
	{"negative write timeout", "server.writeTimeout", func(c *Config) { c.Server.WriteTimeout = -time.Second }},
	{"write timeout within a deadline", "server.writeTimeout", func(c *Config) { c.Server.WriteTimeout = 20 * time.Second }},
	{"negative shutdown timeout", "server.shutdownTimeout", func(c *Config) { c.Server.ShutdownTimeout = -1 }},

	{"no bearer token", "auth.bearerTokens", func(c *Config) { c.Auth.BearerTokens = nil }},
	{"token without name", "auth.bearerTokens[0].name", func(c *Config) { c.Auth.BearerTokens[0].Name = " " }},
	{"token name with a bar", "auth.bearerTokens[0].name", func(c *Config) { c.Auth.BearerTokens[0].Name = "unit-a|b" }},
	{"admin token name with a hash", "auth.adminTokens[0].name", func(c *Config) { c.Auth.AdminTokens[0].Name = "ops#1" }},
	{"duplicate token name", "auth.bearerTokens[1].name", func(c *Config) {
		c.Auth.BearerTokens = append(c.Auth.BearerTokens, BearerToken{Name: "portal", Token: "another-portal-token"})
	}},
	{"short token", "auth.bearerTokens[0].token", func(c *Config) { c.Auth.BearerTokens[0].Token = "fifteen-chars-x" }},
	{"token with a space", "auth.bearerTokens[0].token", func(c *Config) { c.Auth.BearerTokens[0].Token = "dev portal token 1" }},
	{"two callers one token", "auth.bearerTokens[1].token", func(c *Config) {
		c.Auth.BearerTokens = append(c.Auth.BearerTokens, BearerToken{Name: "other", Token: c.Auth.BearerTokens[0].Token})
	}},
	{"token file content too short", "auth.bearerTokens[0].tokenFile", func(c *Config) {
		c.Auth.BearerTokens[0].Token, c.Auth.BearerTokens[0].TokenFile = "short", "/run/secrets/portal-token"
	}},
	{"admin token file content is a portal token", "auth.adminTokens[0].tokenFile", func(c *Config) {
		c.Auth.AdminTokens[0].Token, c.Auth.AdminTokens[0].TokenFile = c.Auth.BearerTokens[0].Token, "/run/secrets/operator-token"
	}},
	{"submissions mode", "auth.submissions", func(c *Config) { c.Auth.Submissions = "token" }},
	{"submissions by certificate without client CA", "auth.submissions", func(c *Config) { c.Auth.Submissions = "mtls" }},
	{"callbacks mode", "auth.callbacks", func(c *Config) { c.Auth.Callbacks = "bearer" }},
	{"callbacks by certificate without a treasury client", "auth.callbacks", func(c *Config) {
		withMTLS(c)
		c.Server.TLS.Clients = c.Server.TLS.Clients[:1]
		c.Auth.Callbacks = "both"
	}},
	{"admin mode", "auth.admin", func(c *Config) { c.Auth.Admin = "certificate" }},
	{"admin by certificate without an operator client", "auth.admin", func(c *Config) { withMTLS(c); c.Auth.Admin = "mtls" }},
	{"withdrawal age below -1", "withdrawal.maxAgeDays", func(c *Config) { c.Withdrawal.MaxAgeDays = -2 }},
	{"withdrawal age over a year", "withdrawal.maxAgeDays", func(c *Config) { c.Withdrawal.MaxAgeDays = 367 }},
	{"caller unit not 7 digits", "auth.bearerTokens[0].units[1]", func(c *Config) { c.Auth.BearerTokens[0].Units = []string{"1012345", "101234"} }},
	{"caller unit twice", "auth.bearerTokens[0].units[1]", func(c *Config) { c.Auth.BearerTokens[0].Units = []string{"1012345", "1012345"} }},
	{"operator with units", "auth.adminTokens[0].units", func(c *Config) { c.Auth.AdminTokens[0].Units = []string{"1012345"} }},
	{"admin without name", "auth.adminTokens[0].name", func(c *Config) { c.Auth.AdminTokens[0].Name = "" }},
	{"duplicate admin name", "auth.adminTokens[1].name", func(c *Config) {
		c.Auth.AdminTokens = append(c.Auth.AdminTokens, BearerToken{Name: "operator", Token: "another-operator-token"})
	}},
	{"short admin token", "auth.adminTokens[0].token", func(c *Config) { c.Auth.AdminTokens[0].Token = "short" }},
	{"admin token is a portal token", "auth.adminTokens[0].token", func(c *Config) {
		c.Auth.AdminTokens[0].Token = c.Auth.BearerTokens[0].Token
	}},

	{"no trust root", "signatures.trustRoots", func(c *Config) { c.Signatures.TrustRoots = nil }},
	{"empty trust root", "signatures.trustRoots[0]", func(c *Config) { c.Signatures.TrustRoots[0] = "" }},
	{"empty intermediate", "signatures.intermediates[0]", func(c *Config) { c.Signatures.Intermediates[0] = " " }},
	{"empty CRL", "signatures.crls[0]", func(c *Config) { c.Signatures.CRLs[0] = "" }},
	{"empty title", `signatures.roles[""]`, func(c *Config) { c.Signatures.Roles[""] = "thu-quy" }},
	{"empty role", `signatures.roles["Thu quy"]`, func(c *Config) { c.Signatures.Roles["Thu quy"] = "" }},
	{"a title twice in two normal forms", `signatures.roles["Thủ quỹ"]`, func(c *Config) {
		c.Signatures.Roles["Thủ quỹ"], c.Signatures.Roles["Thu\u0309 quy\u0303"] = "thu-quy", "thu-quy"
	}},
	{"JWS algorithm", "signatures.jwsAlgorithms[1]", func(c *Config) { c.Signatures.JWSAlgorithms = []string{"RS256", "HS256"} }},
	{"JWS none", "signatures.jwsAlgorithms[0]", func(c *Config) { c.Signatures.JWSAlgorithms = []string{"none"} }},
	{"too many signatures", "signatures.maxSignatures", func(c *Config) { c.Signatures.MaxSignatures = 9 }},
	{"negative signatures", "signatures.maxSignatures", func(c *Config) { c.Signatures.MaxSignatures = -1 }},
	{"unknown XML verifier", "signatures.xmlVerifier", func(c *Config) { c.Signatures.XMLVerifier = "goxmldsig" }},

	{"depth too small", "limits.maxDepth", func(c *Config) { c.Limits.MaxDepth = 3 }},
	{"depth too large", "limits.maxDepth", func(c *Config) { c.Limits.MaxDepth = 257 }},
	{"too few elements", "limits.maxElements", func(c *Config) { c.Limits.MaxElements = 99 }},
	{"large body threshold too small", "limits.largeBodyBytes", func(c *Config) { c.Limits.LargeBodyBytes = 1023 }},
	{"large body threshold too large", "limits.largeBodyBytes", func(c *Config) { c.Limits.LargeBodyBytes = 1<<30 + 1 }},
	{"negative large body threshold", "limits.largeBodyBytes", func(c *Config) { c.Limits.LargeBodyBytes = -1 }},
	{"large body concurrency negative", "limits.largeBodyConcurrency", func(c *Config) { c.Limits.LargeBodyConcurrency = -1 }},
	{"large body concurrency too high", "limits.largeBodyConcurrency", func(c *Config) { c.Limits.LargeBodyConcurrency = 1025 }},
	{"upload concurrency negative", "limits.uploadConcurrency", func(c *Config) { c.Limits.UploadConcurrency = -1 }},
	{"upload concurrency too high", "limits.uploadConcurrency", func(c *Config) { c.Limits.UploadConcurrency = 1025 }},
	{"negative large body wait", "limits.largeBodyWait", func(c *Config) { c.Limits.LargeBodyWait = -time.Second }},
	{"large body wait too long", "limits.largeBodyWait", func(c *Config) { c.Limits.LargeBodyWait = time.Minute + time.Second }},

	{"treasury URL scheme", "treasury.baseURL", func(c *Config) { c.Treasury.BaseURL = "ftp://127.0.0.1:8081" }},
	{"treasury URL relative", "treasury.baseURL", func(c *Config) { c.Treasury.BaseURL = "/api" }},
	{"treasury URL unparsable", "treasury.baseURL", func(c *Config) { c.Treasury.BaseURL = "http://[::1" }},
	{"inline attachments below -1", "treasury.inlineAttachmentBytes", func(c *Config) { c.Treasury.InlineAttachmentBytes = -2 }},
	{"inline attachments over the contract's bound", "treasury.inlineAttachmentBytes", func(c *Config) { c.Treasury.InlineAttachmentBytes = 256<<10 + 1 }},
	{"no client id", "treasury.clientID", func(c *Config) { c.Treasury.ClientID = "" }},
	{"no client secret", "treasury.clientSecret", func(c *Config) { c.Treasury.ClientSecret = "" }},
	{"empty client secret file", "treasury.clientSecretFile", func(c *Config) {
		c.Treasury.ClientSecret, c.Treasury.ClientSecretFile = "", "/run/secrets/treasury"
	}},
	{"treasury CA missing", "treasury.tls.caFile", func(c *Config) { treasuryTLS(c); c.Treasury.TLS.CAFile = "/no/such/ca.pem" }},
	{"treasury CA not PEM certificates", "treasury.tls.caFile", func(c *Config) { treasuryTLS(c); c.Treasury.TLS.CAFile = tlsPair.key }},
	{"treasury key without certificate", "treasury.tls.certFile", func(c *Config) { treasuryTLS(c); c.Treasury.TLS.CertFile = "" }},
	{"treasury certificate without key", "treasury.tls.keyFile", func(c *Config) { treasuryTLS(c); c.Treasury.TLS.KeyFile = "" }},
	{"treasury key not the certificate's", "treasury.tls.keyFile", func(c *Config) { treasuryTLS(c); c.Treasury.TLS.KeyFile = tlsPair.otherKey }},
	{"treasury TLS over http", "treasury.baseURL", func(c *Config) { treasuryTLS(c); c.Treasury.BaseURL = "http://127.0.0.1:8081" }},
	{"portal CA missing", "portal.tls.caFile", func(c *Config) { portalTLS(c); c.Portal.TLS.CAFile = "/no/such/ca.pem" }},
	{"portal key without certificate", "portal.tls.certFile", func(c *Config) { portalTLS(c); c.Portal.TLS.CertFile = "" }},
	{"portal key not the certificate's", "portal.tls.keyFile", func(c *Config) { portalTLS(c); c.Portal.TLS.KeyFile = tlsPair.otherKey }},
	{"portal TLS over http", "portal.url", func(c *Config) { portalTLS(c); c.Portal.URL = "http://127.0.0.1:8082/api" }},
	{"portal TLS, token URL over http", "portal.tokenURL", func(c *Config) {
		bearer(c)
		portalTLS(c)
		c.Portal.TokenURL = "http://portal.example/oauth/token"
	}},
	{"negative treasury timeout", "treasury.timeout", func(c *Config) { c.Treasury.Timeout = -time.Second }},
	{"treasury window", "treasury.resilience.window", func(c *Config) { c.Treasury.Resilience.Window = -time.Second }},
	{"treasury ratio above 1", "treasury.resilience.failureRatio", func(c *Config) { c.Treasury.Resilience.FailureRatio = 1.5 }},
	{"treasury ratio negative", "treasury.resilience.failureRatio", func(c *Config) { c.Treasury.Resilience.FailureRatio = -0.5 }},
	{"treasury ratio NaN", "treasury.resilience.failureRatio", func(c *Config) { c.Treasury.Resilience.FailureRatio = math.NaN() }},
	{"treasury open timeout", "treasury.resilience.openTimeout", func(c *Config) { c.Treasury.Resilience.OpenTimeout = -1 }},
	{"treasury bulkhead", "treasury.resilience.maxConcurrent", func(c *Config) { c.Treasury.Resilience.MaxConcurrent = -1 }},
	{"treasury retries", "treasury.resilience.retries", func(c *Config) { c.Treasury.Resilience.Retries = -2 }},
	{"treasury base delay", "treasury.resilience.baseDelay", func(c *Config) { c.Treasury.Resilience.BaseDelay = -1 }},
	{"treasury max delay", "treasury.resilience.maxDelay", func(c *Config) { c.Treasury.Resilience.MaxDelay = -1 }},
	{"treasury max below base", "treasury.resilience.maxDelay", func(c *Config) { c.Treasury.Resilience.BaseDelay = 3 * time.Second }},

	{"store kind", "store.kind", func(c *Config) { c.Store.Kind = "disk" }},
	{"redis without address", "store.redis.addrs", func(c *Config) { c.Store.Kind = "redis" }},
	{"redis address without port", "store.redis.addrs[1]", func(c *Config) {
		redisStore(c)
		c.Store.Redis.Addrs = append(c.Store.Redis.Addrs, "redis-2")
	}},
	{"negative database", "store.redis.db", func(c *Config) { redisStore(c); c.Store.Redis.DB = -1 }},
	{"database of a cluster", "store.redis.db", func(c *Config) {
		redisStore(c)
		c.Store.Redis.Addrs = append(c.Store.Redis.Addrs, "127.0.0.1:6380")
		c.Store.Redis.DB = 1
	}},
	{"empty key prefix", "store.redis.keyPrefix", func(c *Config) { c.Store.Redis.KeyPrefix = "" }},
	{"key prefix with a hash tag", "store.redis.keyPrefix", func(c *Config) { c.Store.Redis.KeyPrefix = "dvc:{a}:" }},
	{"negative dial timeout", "store.redis.dialTimeout", func(c *Config) { c.Store.Redis.DialTimeout = -1 }},
	{"negative read timeout", "store.redis.readTimeout", func(c *Config) { c.Store.Redis.ReadTimeout = -1 }},
	{"negative write timeout", "store.redis.writeTimeout", func(c *Config) { c.Store.Redis.WriteTimeout = -1 }},
	{"empty redis password file", "store.redis.passwordFile", func(c *Config) { c.Store.Redis.PasswordFile = "/run/secrets/redis" }},
	{"negative pool", "store.redis.poolSize", func(c *Config) { c.Store.Redis.PoolSize = -1 }},
	{"negative min replicas", "store.redis.minReplicas", func(c *Config) { c.Store.Redis.MinReplicas = -1 }},
	{"negative replica timeout", "store.redis.replicaTimeout", func(c *Config) { c.Store.Redis.ReplicaTimeout = -1 }},
	{"replica timeout under 1ms", "store.redis.replicaTimeout", func(c *Config) { c.Store.Redis.ReplicaTimeout = time.Microsecond }},
	{"replica timeout not under read timeout", "store.redis.replicaTimeout", func(c *Config) {
		c.Store.Redis.MinReplicas = 1
		c.Store.Redis.ReplicaTimeout = c.Store.Redis.ReadTimeout
	}},

	{"short retention", "idempotency.retention", func(c *Config) { c.Idempotency.Retention = 59 * time.Minute }},
	{"dossier retention below retention", "idempotency.dossierRetention", func(c *Config) { c.Idempotency.DossierRetention = time.Hour }},
	{"negative lease", "idempotency.lease", func(c *Config) { c.Idempotency.Lease = -time.Second }},
	{"lease within a deadline", "idempotency.lease", func(c *Config) { c.Idempotency.Lease = 20 * time.Second }},

	{"no callback secret", "callbacks.secrets", func(c *Config) { c.Callbacks.Secrets = nil }},
	{"callback secret without prefix", "callbacks.secrets[0]", func(c *Config) { c.Callbacks.Secrets[0] = "ZGV2LXRyZWFzdXJ5LWNhbGxiYWNrLXNlY3JldC0wMDAx" }},
	{"callback secret not base64", "callbacks.secrets[1]", func(c *Config) {
		c.Callbacks.Secrets = append(c.Callbacks.Secrets, "whsec_not base64!")
	}},
	{"callback secret too short", "callbacks.secrets[0]", func(c *Config) { c.Callbacks.Secrets[0] = "whsec_c2hvcnQ=" }},
	{"callback secret file not a secret", "callbacks.secretFiles[0]", func(c *Config) {
		c.Callbacks.SecretFiles = []string{"/run/secrets/callback"}
		c.Callbacks.Secrets = append(c.Callbacks.Secrets, "not-a-whsec")
	}},
	{"negative tolerance", "callbacks.tolerance", func(c *Config) { c.Callbacks.Tolerance = -time.Minute }},

	{"portal transport", "portal.transport", func(c *Config) { c.Portal.Transport = "soap" }},
	{"portal URL relative", "portal.url", func(c *Config) { c.Portal.URL = "/api" }},
	{"portal URL scheme", "portal.url", func(c *Config) { c.Portal.URL = "file:///api" }},
	{"session without username", "portal.username", func(c *Config) { c.Portal.Username = "" }},
	{"session without password", "portal.password", func(c *Config) { c.Portal.Password = "" }},
	{"empty password file", "portal.passwordFile", func(c *Config) { c.Portal.Password, c.Portal.PasswordFile = "", "/run/secrets/portal" }},
	{"empty client secret file", "portal.clientSecretFile", func(c *Config) {
		bearer(c)
		c.Portal.ClientSecret, c.Portal.ClientSecretFile = "", "/run/secrets/portal"
	}},
	{"bearer token URL", "portal.tokenURL", func(c *Config) { bearer(c); c.Portal.TokenURL = "/oauth/token" }},
	{"bearer without client id", "portal.clientID", func(c *Config) { bearer(c); c.Portal.ClientID = "" }},
	{"bearer without client secret", "portal.clientSecret", func(c *Config) { bearer(c); c.Portal.ClientSecret = "" }},
	{"no unit code", "portal.maDonVi", func(c *Config) { c.Portal.MaDonVi = "" }},
	{"negative portal timeout", "portal.timeout", func(c *Config) { c.Portal.Timeout = -time.Second }},
	{"auth URL relative", "portal.authURL", func(c *Config) { c.Portal.AuthURL = "/auth" }},
	{"auth URL with bearer", "portal.authURL", func(c *Config) { bearer(c); c.Portal.AuthURL = "https://portal.example/auth" }},
	{"dst code with a space", "portal.dstCode", func(c *Config) { c.Portal.DstCode = "000.00 G09" }},
	{"dst code too long", "portal.dstCode", func(c *Config) { c.Portal.DstCode = strings.Repeat("G", 129) }},
	{"empty transient code", "portal.errorCodes.transient[1]", func(c *Config) { c.Portal.ErrorCodes.Transient = []string{"99", " "} }},
	{"padded transient code", "portal.errorCodes.transient[0]", func(c *Config) { c.Portal.ErrorCodes.Transient = []string{" 99"} }},
	{"success code as session expired", "portal.errorCodes.sessionExpired[1]", func(c *Config) {
		c.Portal.ErrorCodes.SessionExpired = []string{"-1", "00"}
	}},
	{"code in two classes", "portal.errorCodes.permanent[1]", func(c *Config) {
		c.Portal.ErrorCodes.Transient, c.Portal.ErrorCodes.Permanent = []string{"99"}, []string{"-3", "99"}
	}},
	{"session code also permanent", "portal.errorCodes.permanent[0]", func(c *Config) { c.Portal.ErrorCodes.Permanent = []string{"-1"} }},
	{"success code as permanent", "portal.errorCodes.permanent[0]", func(c *Config) { c.Portal.ErrorCodes.Permanent = []string{"0"} }},
	{"default class", "portal.errorCodes.default", func(c *Config) { c.Portal.ErrorCodes.Default = "sessionExpired" }},
	{"applicant type", "portal.loaiDoiTuong", func(c *Config) { c.Portal.LoaiDoiTuong = "3" }},
	{"hand-back form", "portal.hinhThuc", func(c *Config) { c.Portal.HinhThuc = "2" }},
	{"portal window", "portal.resilience.window", func(c *Config) { c.Portal.Resilience.Window = -time.Second }},
	{"portal ratio", "portal.resilience.failureRatio", func(c *Config) { c.Portal.Resilience.FailureRatio = 2 }},
	{"portal ratio infinite", "portal.resilience.failureRatio", func(c *Config) { c.Portal.Resilience.FailureRatio = math.Inf(1) }},
	{"portal open timeout", "portal.resilience.openTimeout", func(c *Config) { c.Portal.Resilience.OpenTimeout = -1 }},
	{"portal bulkhead", "portal.resilience.maxConcurrent", func(c *Config) { c.Portal.Resilience.MaxConcurrent = -5 }},
	{"portal retries", "portal.resilience.retries", func(c *Config) { c.Portal.Resilience.Retries = -3 }},
	{"portal base delay", "portal.resilience.baseDelay", func(c *Config) { c.Portal.Resilience.BaseDelay = -1 }},
	{"portal max delay", "portal.resilience.maxDelay", func(c *Config) { c.Portal.Resilience.MaxDelay = -1 }},
	{"portal max below base", "portal.resilience.maxDelay", func(c *Config) {
		c.Portal.Resilience.BaseDelay, c.Portal.Resilience.MaxDelay = time.Second, 500*time.Millisecond
	}},

	{"too many workers", "delivery.workers", func(c *Config) { c.Delivery.Workers = 257 }},
	{"negative workers", "delivery.workers", func(c *Config) { c.Delivery.Workers = -1 }},
	{"negative delivery lease", "delivery.lease", func(c *Config) { c.Delivery.Lease = -time.Minute }},
	{"delivery lease under two portal timeouts", "delivery.lease", func(c *Config) { c.Delivery.Lease = 19 * time.Second }},
	{"first schedule slot used", "delivery.schedule[0]", func(c *Config) { c.Delivery.Schedule = []time.Duration{5 * time.Second, time.Minute} }},
	{"negative schedule delay", "delivery.schedule[2]", func(c *Config) { c.Delivery.Schedule = []time.Duration{0, time.Second, -time.Second} }},
	{"negative min span", "delivery.minSpan", func(c *Config) { c.Delivery.MinSpan = -time.Hour }},
	{"negative uncertain wait", "delivery.uncertainWait", func(c *Config) { c.Delivery.UncertainWait = -time.Minute }},

	{"no procedure", "procedures", func(c *Config) { c.Procedures = map[string]Procedure{} }},
	{"procedure id", "procedures.Tai_Khoan", func(c *Config) {
		c.Procedures["Tai_Khoan"] = c.Procedures["tai-khoan"]
		delete(c.Procedures, "tai-khoan")
	}},
	{"procedure code", "procedures.tai-khoan.code", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.Code = "" }) }},
	{"procedure code spaces", "procedures.tai-khoan.code", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.Code = " 1.008923" }) }},
	{"procedure code twice", "procedures.tai-khoan.code", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Code = c.Procedures["chi-thuong-xuyen"].Code })
	}},
	{"procedure name", "procedures.tai-khoan.name", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.Name = "" }) }},
	{"procedure SLA missing", "procedures.tai-khoan.slaWorkingDays", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.SLAWorkingDays = 0 }) }},
	{"procedure SLA too long", "procedures.tai-khoan.slaWorkingDays", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.SLAWorkingDays = 366 }) }},
	{"procedure deadline", "procedures.tai-khoan.deadline", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.Deadline = 99 * time.Millisecond }) }},
	{"OCSP mode", "signatures.revocation.ocsp", func(c *Config) { c.Signatures.Revocation.OCSP = "always" }},
	{"OCSP URL relative", "signatures.revocation.ocspURL", func(c *Config) { c.Signatures.Revocation.OCSPURL = "ocsp.example/" }},
	{"OCSP URL with OCSP off", "signatures.revocation.ocspURL", func(c *Config) {
		c.Signatures.Revocation.OCSP, c.Signatures.Revocation.OCSPURL = "off", "http://ocsp.example/"
	}},
	{"revocation on unavailable", "signatures.revocation.onUnavailable", func(c *Config) { c.Signatures.Revocation.OnUnavailable = "ignore" }},
	{"revocation timeout negative", "signatures.revocation.timeout", func(c *Config) { c.Signatures.Revocation.Timeout = -time.Second }},
	{"revocation timeout over a minute", "signatures.revocation.timeout", func(c *Config) { c.Signatures.Revocation.Timeout = 2 * time.Minute }},
	{"revocation max age negative", "signatures.revocation.maxAge", func(c *Config) { c.Signatures.Revocation.MaxAge = -time.Second }},
	{"revocation max age over an hour", "signatures.revocation.maxAge", func(c *Config) { c.Signatures.Revocation.MaxAge = 2 * time.Hour }},
	{"seed with spaces", "signatures.registeredSeed", func(c *Config) { c.Signatures.RegisteredSeed = " embedded" }},
	{"registers and requires", "procedures.tai-khoan.registeredSigners", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.RegisteredSigners = true })
	}},
	{"signer list path", "procedures.tai-khoan.signers.list", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Signers.List = "a//b" })
	}},
	{"signers registered on no status", "procedures.tai-khoan.signers.on", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Signers.On = "" })
	}},
	{"signers registered on a malformed status", "procedures.tai-khoan.signers.on", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Signers.On = "account opened" })
	}},
	{"signer role path", "procedures.tai-khoan.signers.role", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Signers.Role = "" })
	}},
	{"signer serial path", "procedures.tai-khoan.signers.serial", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Signers.Serial = "/x" })
	}},
	{"signer issuer path", "procedures.tai-khoan.signers.issuer", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Signers.Issuer = "x y" })
	}},
	{"unit path", "procedures.tai-khoan.unitPath", func(c *Config) { proc(c, "tai-khoan", func(p *Procedure) { p.UnitPath = "donVi//maDVQHNS" }) }},
	{"undefined role", "procedures.tai-khoan.requiredRoles[1]", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.RequiredRoles = []string{"chu-tai-khoan", "thu-quy"} })
	}},
	{"role twice", "procedures.tai-khoan.requiredRoles[1]", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.RequiredRoles = []string{"chu-tai-khoan", "chu-tai-khoan"} })
	}},
	{"field code without name", "procedures.tai-khoan.field.name", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Field = ProcedureField{Code: "KBNN"} })
	}},
	{"field name without code", "procedures.tai-khoan.field.code", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Field = ProcedureField{Name: "Kho bạc Nhà nước"} })
	}},
	{"field code spaces", "procedures.tai-khoan.field.code", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Field.Code = "KBNN " })
	}},
	{"field name spaces", "procedures.tai-khoan.field.name", func(c *Config) {
		proc(c, "tai-khoan", func(p *Procedure) { p.Field.Name = " Kho bạc" })
	}},
	{"more roles than signatures", "procedures.tai-khoan.requiredRoles", func(c *Config) {
		c.Signatures.Roles["Thu quy"], c.Signatures.MaxSignatures = "thu-quy", 2
		proc(c, "tai-khoan", func(p *Procedure) { p.RequiredRoles = []string{"chu-tai-khoan", "ke-toan-truong", "thu-quy"} })
	}},

	{"holidays directory missing", "calendar.holidaysDir", func(c *Config) { c.Calendar.HolidaysDir = "/no-such-holidays-dir" }},
	{"holidays directory is a file", "calendar.holidaysDir", func(c *Config) { c.Calendar.HolidaysDir = "validate_test.go" }},

	{"log level", "log.level", func(c *Config) { c.Log.Level = "verbose" }},

	{"evidence without a directory", "evidence.dir", func(c *Config) { c.Evidence.Dir = " " }},
	{"evidence instance with a slash", "evidence.instance", func(c *Config) { c.Evidence.Instance = "a/b" }},
	{"evidence instance too long", "evidence.instance", func(c *Config) { c.Evidence.Instance = strings.Repeat("a", 65) }},
	{"evidence without a key file", "evidence.keyFile", func(c *Config) { c.Evidence.KeyFile = "" }},
	{"checkpoint interval too short", "evidence.checkpointInterval", func(c *Config) { c.Evidence.CheckpointInterval = time.Millisecond }},
	{"checkpoint interval too long", "evidence.checkpointInterval", func(c *Config) { c.Evidence.CheckpointInterval = 2 * time.Hour }},
	{"negative evidence retention", "evidence.retention", func(c *Config) { c.Evidence.Retention = -time.Hour }},
	{"segment too small", "evidence.segmentBytes", func(c *Config) { c.Evidence.SegmentBytes = 100 }},
	{"dossier code not a regexp", "dossierCodes[0]", func(c *Config) { c.DossierCodes = []string{"^(unclosed$"} }},
	{"dossier code not anchored", "dossierCodes[1]", func(c *Config) { c.DossierCodes = []string{"^a$", "G09.*"} }},
}

// noInvalidValue are the keys that accept every value of their type, with
// the reason; every other key has rows in invalidRows.
var noInvalidValue = map[string]string{
	"signatures.allowSHA1":            "a boolean",
	"signatures.withComments":         "a boolean",
	"signatures.requireRegistered":    "a boolean",
	"signatures.revocation.ocspNonce": "a boolean",
	"signatures.revocation.fetchCRLs": "a boolean",
	"evidence.enabled":                "a boolean",
	"evidence.archiveBodies":          "a boolean",
	"evidence.forwardOriginal":        "a boolean",
	"evidence.sealDaily":              "a boolean",
	"treasury.resilience.minRequests": "any count; zero means the default",
	"treasury.resilience.halfOpenMax": "any count; zero means the default",
	"portal.resilience.minRequests":   "any count; zero means the default",
	"portal.resilience.halfOpenMax":   "any count; zero means the default",
	"store.redis.masterName":          "any name; empty means no Sentinel",
	"treasury.tls.serverName":         "any name; empty means the URL's host",
	"portal.tls.serverName":           "any name; empty means the URL's host",
	"store.redis.username":            "any name; empty means the default user",
	"store.redis.password":            "any secret; empty means none",
	"store.redis.maxClockSkew":        "any duration; zero means the default, negative no check",
}

func TestValidateNamesEachKey(t *testing.T) {
	tlsFiles(t)
	for _, tt := range invalidRows {
		t.Run(tt.name, func(t *testing.T) {
			c := loadLocal(t)
			tt.edit(c)
			ps := problemsOf(t, c.Validate())
			if len(ps) != 1 || ps[0].Key != tt.key {
				t.Fatalf("problems %+v, want exactly one naming %s", ps, tt.key)
			}
			if want := "config: " + tt.key + ": " + ps[0].Reason; c.Validate().Error() != want {
				t.Fatalf("message %q, want %q", c.Validate().Error(), want)
			}
		})
	}
}

// keyPattern turns a key with indices and procedure ids into the pattern
// configKeys lists: auth.bearerTokens[1].name -> auth.bearerTokens.name,
// procedures.tai-khoan.code -> procedures.*.code.
func keyPattern(key string) string {
	key = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(key, "")
	return regexp.MustCompile(`^procedures\.[^.]+`).ReplaceAllString(key, "procedures.*")
}

// configKeys lists every key of t's YAML shape: sections, lists and maps
// themselves, and the keys inside their items.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if prefix != "" {
			key = prefix + "." + key
		}
		keys = append(keys, key)
		switch ft := f.Type; {
		case ft.Kind() == reflect.Struct:
			keys = append(keys, configKeys(ft, key)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, configKeys(ft.Elem(), key)...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, key+".*")
			keys = append(keys, configKeys(ft.Elem(), key+".*")...)
		}
	}
	return keys
}

// Every key of Config that holds a value has an invalid-value row, or is
// listed as accepting anything; a key added without either fails here.
// Sections and lists of structs are checked through their keys.
func TestEveryKeyIsValidated(t *testing.T) {
	all := configKeys(reflect.TypeOf(Config{}), "")
	containers, known := map[string]bool{}, map[string]bool{}
	for _, k := range all {
		known[k] = true
		if i := strings.LastIndex(k, "."); i > 0 {
			containers[k[:i]] = true
		}
	}
	rows := map[string]bool{}
	for _, r := range invalidRows {
		rows[keyPattern(r.key)] = true
	}
	for _, k := range all {
		if !containers[k] && !rows[k] && noInvalidValue[k] == "" {
			t.Errorf("key %s has no invalid-value row and is not listed in noInvalidValue", k)
		}
	}
	for k := range rows {
		if !known[k] {
			t.Errorf("row key pattern %s is not a key of Config", k)
		}
	}
	for k := range noInvalidValue {
		if !known[k] || containers[k] || rows[k] {
			t.Errorf("noInvalidValue lists %s: not a value key of Config, or it has invalid-value rows", k)
		}
	}
}

// setYAML sets the value at a dotted path in a YAML document read as maps,
// creating sections on the way.
func setYAML(t *testing.T, doc map[string]any, path string, v any) {
	t.Helper()
	parts := strings.Split(path, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			if m[p] != nil {
				t.Fatalf("%s: %s is not a section", path, p)
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// localWith is configs/local.yaml with the values at the given paths set.
func localWith(t *testing.T, set map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(configs.Local, &doc); err != nil {
		t.Fatal(err)
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		setYAML(t, doc, p, set[p])
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A zero value written in the file is accepted where it is documented to
// mean the default, and Load replaces it by that default.
func TestZeroMeansDefault(t *testing.T) {
	tests := []struct {
		key  string
		zero any
		got  func(c *Config) any
		want any
	}{
		{"server.addr", "", func(c *Config) any { return c.Server.Addr }, "127.0.0.1:8080"},
		{"server.adminAddr", "", func(c *Config) any { return c.Server.AdminAddr }, "127.0.0.1:8090"},
		{"server.tls.minVersion", "", func(c *Config) any { return c.Server.TLS.MinVersion }, "1.2"},
		{"auth.submissions", "", func(c *Config) any { return c.Auth.Submissions }, "bearer"},
		{"auth.callbacks", "", func(c *Config) any { return c.Auth.Callbacks }, "webhook"},
		{"auth.admin", "", func(c *Config) any { return c.Auth.Admin }, "bearer"},
		{"server.tls.reloadInterval", "0s", func(c *Config) any { return c.Server.TLS.ReloadInterval }, 5 * time.Second},
		{"server.maxBodyBytes", 0, func(c *Config) any { return c.Server.MaxBodyBytes }, int64(16 << 20)},
		{"server.readTimeout", "0s", func(c *Config) any { return c.Server.ReadTimeout }, 30 * time.Second},
		{"server.writeTimeout", "0s", func(c *Config) any { return c.Server.WriteTimeout }, 60 * time.Second},
		{"server.shutdownTimeout", "0s", func(c *Config) any { return c.Server.ShutdownTimeout }, 20 * time.Second},
		{"signatures.jwsAlgorithms", []string{}, func(c *Config) any { return c.Signatures.JWSAlgorithms }, []string{"RS256", "ES256"}},
		{"signatures.maxSignatures", 0, func(c *Config) any { return c.Signatures.MaxSignatures }, 4},
		{"signatures.xmlVerifier", "", func(c *Config) any { return c.Signatures.XMLVerifier }, "fast"},
		{"signatures.revocation.ocsp", "", func(c *Config) any { return c.Signatures.Revocation.OCSP }, "prefer"},
		{"signatures.revocation.onUnavailable", "", func(c *Config) any { return c.Signatures.Revocation.OnUnavailable }, "fail"},
		{"signatures.revocation.timeout", "0s", func(c *Config) any { return c.Signatures.Revocation.Timeout }, 5 * time.Second},
		{"limits.maxDepth", 0, func(c *Config) any { return c.Limits.MaxDepth }, 32},
		{"attachments.maxFileBytes", 0, func(c *Config) any { return c.Attachments.MaxFileBytes }, int64(20 << 20)},
		{"attachments.maxTotalBytes", 0, func(c *Config) any { return c.Attachments.MaxTotalBytes }, int64(50 << 20)},
		{"attachments.maxParts", 0, func(c *Config) any { return c.Attachments.MaxParts }, 20},
		{"attachments.retention", "0s", func(c *Config) any { return c.Attachments.Retention }, 24 * time.Hour},
		{"attachments.maxStoredBytes", 0, func(c *Config) any { return c.Attachments.MaxStoredBytes }, int64(400 << 20)},
		{"limits.maxElements", 0, func(c *Config) any { return c.Limits.MaxElements }, 200_000},
		{"limits.largeBodyBytes", 0, func(c *Config) any { return c.Limits.LargeBodyBytes }, int64(256 << 10)},
		{"limits.largeBodyConcurrency", 0, func(c *Config) any { return c.Limits.LargeBodyConcurrency }, 2},
		{"limits.largeBodyWait", "0s", func(c *Config) any { return c.Limits.LargeBodyWait }, 2 * time.Second},
		{"limits.uploadConcurrency", 0, func(c *Config) any { return c.Limits.UploadConcurrency }, 8},
		{"treasury.timeout", "0s", func(c *Config) any { return c.Treasury.Timeout }, 10 * time.Second},
		{"treasury.resilience.window", "0s", func(c *Config) any { return c.Treasury.Resilience.Window }, 30 * time.Second},
		{"treasury.resilience.minRequests", 0, func(c *Config) any { return c.Treasury.Resilience.MinRequests }, uint32(20)},
		{"treasury.resilience.failureRatio", 0, func(c *Config) any { return c.Treasury.Resilience.FailureRatio }, 0.5},
		{"treasury.resilience.openTimeout", "0s", func(c *Config) any { return c.Treasury.Resilience.OpenTimeout }, 15 * time.Second},
		{"treasury.resilience.halfOpenMax", 0, func(c *Config) any { return c.Treasury.Resilience.HalfOpenMax }, uint32(3)},
		{"treasury.resilience.maxConcurrent", 0, func(c *Config) any { return c.Treasury.Resilience.MaxConcurrent }, 64},
		{"treasury.resilience.retries", 0, func(c *Config) any { return c.Treasury.Resilience.Retries }, 2},
		{"treasury.resilience.baseDelay", "0s", func(c *Config) any { return c.Treasury.Resilience.BaseDelay }, 100 * time.Millisecond},
		{"treasury.resilience.maxDelay", "0s", func(c *Config) any { return c.Treasury.Resilience.MaxDelay }, 2 * time.Second},
		{"store.kind", "", func(c *Config) any { return c.Store.Kind }, "memory"},
		{"store.redis.keyPrefix", "", func(c *Config) any { return c.Store.Redis.KeyPrefix }, "dvc:"},
		{"store.redis.dialTimeout", "0s", func(c *Config) any { return c.Store.Redis.DialTimeout }, time.Second},
		{"store.redis.readTimeout", "0s", func(c *Config) any { return c.Store.Redis.ReadTimeout }, time.Second},
		{"store.redis.writeTimeout", "0s", func(c *Config) any { return c.Store.Redis.WriteTimeout }, time.Second},
		{"store.redis.poolSize", 0, func(c *Config) any { return c.Store.Redis.PoolSize }, 64},
		{"idempotency.retention", "0s", func(c *Config) any { return c.Idempotency.Retention }, 72 * time.Hour},
		{"idempotency.dossierRetention", "0s", func(c *Config) any { return c.Idempotency.DossierRetention }, 720 * time.Hour},
		{"idempotency.lease", "0s", func(c *Config) any { return c.Idempotency.Lease }, 30 * time.Second},
		{"callbacks.tolerance", "0s", func(c *Config) any { return c.Callbacks.Tolerance }, 5 * time.Minute},
		{"portal.transport", "", func(c *Config) any { return c.Portal.Transport }, "session"},
		{"portal.timeout", "0s", func(c *Config) any { return c.Portal.Timeout }, 10 * time.Second},
		{"portal.errorCodes.sessionExpired", []string{}, func(c *Config) any { return c.Portal.ErrorCodes.SessionExpired }, []string{"-1"}},
		{"portal.errorCodes.default", "", func(c *Config) any { return c.Portal.ErrorCodes.Default }, "permanent"},
		{"portal.loaiDoiTuong", "", func(c *Config) any { return c.Portal.LoaiDoiTuong }, "2"},
		{"portal.hinhThuc", "", func(c *Config) any { return c.Portal.HinhThuc }, "0"},
		{"portal.resilience.window", "0s", func(c *Config) any { return c.Portal.Resilience.Window }, 30 * time.Second},
		{"portal.resilience.minRequests", 0, func(c *Config) any { return c.Portal.Resilience.MinRequests }, uint32(20)},
		{"portal.resilience.failureRatio", 0.0, func(c *Config) any { return c.Portal.Resilience.FailureRatio }, 0.5},
		{"portal.resilience.openTimeout", "0s", func(c *Config) any { return c.Portal.Resilience.OpenTimeout }, 15 * time.Second},
		{"portal.resilience.halfOpenMax", 0, func(c *Config) any { return c.Portal.Resilience.HalfOpenMax }, uint32(3)},
		{"portal.resilience.maxConcurrent", 0, func(c *Config) any { return c.Portal.Resilience.MaxConcurrent }, 64},
		{"portal.resilience.retries", 0, func(c *Config) any { return c.Portal.Resilience.Retries }, 2},
		{"portal.resilience.baseDelay", "0s", func(c *Config) any { return c.Portal.Resilience.BaseDelay }, 100 * time.Millisecond},
		{"portal.resilience.maxDelay", "0s", func(c *Config) any { return c.Portal.Resilience.MaxDelay }, 2 * time.Second},
		{"delivery.workers", 0, func(c *Config) any { return c.Delivery.Workers }, 4},
		{"delivery.lease", "0s", func(c *Config) any { return c.Delivery.Lease }, 2 * time.Minute},
		{"delivery.schedule", []string{}, func(c *Config) any { return c.Delivery.Schedule }, []time.Duration(nil)},
		{"delivery.minSpan", "0s", func(c *Config) any { return c.Delivery.MinSpan }, 72 * time.Hour},
		{"delivery.uncertainWait", "0s", func(c *Config) any { return c.Delivery.UncertainWait }, 2 * time.Minute},
		{"procedures.tai-khoan.deadline", "0s", func(c *Config) any { return c.Procedures["tai-khoan"].Deadline }, 20 * time.Second},
		{"procedures.tai-khoan.unitPath", "", func(c *Config) any { return c.Procedures["tai-khoan"].UnitPath }, "maDVQHNS"},
		{"log.level", "", func(c *Config) any { return c.Log.Level }, "info"},
		{"evidence.checkpointInterval", "0s", func(c *Config) any { return c.Evidence.CheckpointInterval }, time.Second},
		{"evidence.segmentBytes", 0, func(c *Config) any { return c.Evidence.SegmentBytes }, int64(64 << 20)},
		{"dossierCodes", []string{}, func(c *Config) any { return c.DossierCodes }, DefaultDossierCodes()},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c, err := Load(localWith(t, map[string]any{tt.key: tt.zero}), nil)
			if err != nil {
				t.Fatalf("%s: %v refused: %v", tt.key, tt.zero, err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s = %#v after defaults, want %#v", tt.key, got, tt.want)
			}
		})
	}
}

// attachments.maxStoredBytes defaults to 2 GiB when the files live in Redis.
func TestMaxStoredBytesDefaultInRedis(t *testing.T) {
	c, err := Load(localWith(t, map[string]any{"store.kind": "redis", "store.redis.addrs": []string{"127.0.0.1:6379"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attachments.MaxStoredBytes != 2<<30 {
		t.Fatalf("attachments.maxStoredBytes = %d with store.kind redis, want 2 GiB", c.Attachments.MaxStoredBytes)
	}
}

// The documented sentinels and boundary values other than zero are accepted.
func TestValidateAcceptsBoundaries(t *testing.T) {
	tlsFiles(t)
	tests := []struct {
		name string
		set  map[string]any
	}{
		{"no retries", map[string]any{"treasury.resilience.retries": -1, "portal.resilience.retries": -1}},
		{"ratio 1", map[string]any{"treasury.resilience.failureRatio": 1.0}},
		{"max delay equal to base", map[string]any{"portal.resilience.baseDelay": "1s", "portal.resilience.maxDelay": "1s"}},
		{"base delay below the default max", map[string]any{"treasury.resilience.baseDelay": "1s"}},
		{"schedule starting at zero", map[string]any{"delivery.schedule": []string{"0s", "0s", "1s"}}},
		{"lease twice the portal timeout", map[string]any{"delivery.lease": "20s"}},
		{"bearer transport", map[string]any{"portal.transport": "bearer", "portal.tokenURL": "https://portal.example/token",
			"portal.clientID": "c", "portal.clientSecret": "s"}},
		{"redis cluster", map[string]any{"store.kind": "redis", "store.redis.addrs": []string{"a:1", "b:2"}}},
		{"redis sentinel with a database", map[string]any{"store.kind": "redis", "store.redis.addrs": []string{"a:26379", "b:26379"},
			"store.redis.masterName": "m", "store.redis.db": 3}},
		{"listener on every interface", map[string]any{"server.addr": ":8080"}},
		{"mutual TLS everywhere, certificates only", map[string]any{"server.tls.certFile": tlsPair.cert, "server.tls.keyFile": tlsPair.key,
			"server.tls.clientCAFile": tlsPair.ca, "server.tls.clients": []map[string]any{
				{"name": "portal", "subject": "CN=portal,O=Portal", "group": "submissions"},
				{"name": "treasury", "uri": "spiffe://kbnn.test/treasury", "group": "callbacks"},
				{"name": "ops", "subject": "CN=ops", "group": "admin"},
				{"name": "sub", "subject": `CN=portal,O=Sub\, Inc,C=VN`, "group": "admin"},
				{"name": "sub-hex", "subject": `CN=portal,O=Sub\2C Ltd,C=VN`, "group": "admin"}},
			"auth.submissions": "mtls", "auth.callbacks": "mtls", "auth.admin": "mtls",
			"auth.bearerTokens": []any{}, "callbacks.secrets": []any{}}},
		{"either and both", map[string]any{"server.tls.certFile": tlsPair.cert, "server.tls.keyFile": tlsPair.key,
			"server.tls.clientCAFile": tlsPair.ca, "server.tls.clients": []map[string]any{
				{"name": "treasury", "uri": "spiffe://kbnn.test/treasury", "group": "callbacks"}},
			"auth.submissions": "either", "auth.callbacks": "both"}},
		{"upstreams over mutual TLS", map[string]any{"treasury.baseURL": "https://treasury.test", "portal.url": "https://portal.test/api",
			"treasury.tls": map[string]any{"caFile": tlsPair.ca, "certFile": tlsPair.cert, "keyFile": tlsPair.key, "serverName": "kbnn"},
			"portal.tls":   map[string]any{"caFile": tlsPair.ca, "certFile": tlsPair.cert, "keyFile": tlsPair.key}}},
		{"TLS 1.3 only", map[string]any{"server.tls.certFile": tlsPair.cert, "server.tls.keyFile": tlsPair.key, "server.tls.minVersion": "1.3"}},
		{"both listeners on any free port", map[string]any{"server.addr": "127.0.0.1:0", "server.adminAddr": "127.0.0.1:0"}},
		{"limits at their bounds", map[string]any{"limits.maxDepth": 256, "limits.maxElements": 100, "server.maxBodyBytes": 1024,
			"limits.largeBodyBytes": 1024, "limits.largeBodyConcurrency": 1024, "limits.largeBodyWait": "1m",
			"limits.uploadConcurrency": 1024}},
		{"OpenCPS login", map[string]any{"portal.authURL": "https://portal.example/auth", "portal.dstCode": "000.00.00.G09"}},
		{"unlisted codes transient", map[string]any{"portal.errorCodes.default": "transient", "portal.errorCodes.permanent": []string{"-3", "-4"},
			"portal.errorCodes.transient": []string{"99"}, "portal.errorCodes.sessionExpired": []string{"-1", "401"}}},
		{"citizen, by post", map[string]any{"portal.loaiDoiTuong": "1", "portal.hinhThuc": "1"}},
		{"procedure without a field", map[string]any{"procedures.tai-khoan.field": map[string]any{}}},
		{"holidays from a directory", map[string]any{"calendar.holidaysDir": "../../configs/holidays"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(localWith(t, tt.set), nil); err != nil {
				t.Fatalf("%v refused: %v", tt.set, err)
			}
		})
	}
}

// Validate names every invalid key, in the order of Config's fields with
// map keys sorted, whatever the map iteration order.
func TestValidateIsDeterministic(t *testing.T) {
	c := loadLocal(t)
	proc(c, "von-dau-tu", func(p *Procedure) { p.Code = "" })
	proc(c, "cam-ket-chi", func(p *Procedure) { p.Code = "" })
	for _, id := range []string{"a-1", "b-2", "c-3", "d-4", "e-5", "f-6"} { // more keys for the map to shuffle
		c.Procedures[id] = Procedure{Code: "9." + id, Name: id, SLAWorkingDays: 1, Deadline: time.Second, UnitPath: "maDVQHNS"}
	}
	want := "config: procedures.cam-ket-chi.code: the national procedure code (maTTHC) must be set, without surrounding spaces\n" +
		"config: procedures.von-dau-tu.code: the national procedure code (maTTHC) must be set, without surrounding spaces"
	for i := range 200 {
		err := c.Validate()
		if err == nil || err.Error() != want {
			t.Fatalf("run %d: %v\nwant %s", i, err, want)
		}
	}
}

func TestValidateReportsEveryKey(t *testing.T) {
	c := loadLocal(t)
	c.Log.Level = "loud"
	c.Portal.Resilience.FailureRatio = 7
	c.Server.Addr = "nowhere"
	c.Portal.Resilience.Window = -1
	proc(c, "tai-khoan", func(p *Procedure) { p.Name = "" })
	c.Treasury.Resilience.Retries = -9
	var keys []string
	for _, p := range problemsOf(t, c.Validate()) {
		keys = append(keys, p.Key)
	}
	want := []string{"server.addr", "treasury.resilience.retries", "portal.resilience.window",
		"portal.resilience.failureRatio", "procedures.tai-khoan.name", "log.level"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
}

// An invalid value from the environment is refused naming its key, like
// one from the file.
func TestEnvironmentValueNamesKey(t *testing.T) {
	tests := []struct {
		variable, value, key string
	}{
		{"DVC_SERVER_ADDR", "localhost", "server.addr"},
		{"DVC_SERVER_WRITETIMEOUT", "5s", "server.writeTimeout"},
		{"DVC_SIGNATURES_TRUSTROOTS", "", "signatures.trustRoots"},
		{"DVC_SIGNATURES_CRLS", "a.crl, ", "signatures.crls[1]"},
		{"DVC_SIGNATURES_REVOCATION_OCSP", "always", "signatures.revocation.ocsp"},
		{"DVC_SIGNATURES_REVOCATION_OCSPURL", "ocsp.local", "signatures.revocation.ocspURL"},
		{"DVC_TREASURY_BASEURL", "treasury.local", "treasury.baseURL"},
		{"DVC_TREASURY_RESILIENCE_FAILURERATIO", "1.5", "treasury.resilience.failureRatio"},
		{"DVC_TREASURY_RESILIENCE_BASEDELAY", "5s", "treasury.resilience.maxDelay"},
		{"DVC_TREASURY_RESILIENCE_RETRIES", "-2", "treasury.resilience.retries"},
		{"DVC_PORTAL_RESILIENCE_FAILURERATIO", "NaN", "portal.resilience.failureRatio"},
		{"DVC_PORTAL_RESILIENCE_MAXCONCURRENT", "-1", "portal.resilience.maxConcurrent"},
		{"DVC_PORTAL_URL", "/api", "portal.url"},
		{"DVC_PORTAL_ERRORCODES_TRANSIENT", "99,,98", "portal.errorCodes.transient[1]"},
		{"DVC_PORTAL_ERRORCODES_DEFAULT", "retry", "portal.errorCodes.default"},
		{"DVC_PORTAL_DSTCODE", "a b", "portal.dstCode"},
		{"DVC_CALENDAR_HOLIDAYSDIR", "/no-such-holidays-dir", "calendar.holidaysDir"},
		{"DVC_STORE_KIND", "redis", "store.redis.addrs"},
		{"DVC_STORE_REDIS_POOLSIZE", "-1", "store.redis.poolSize"},
		{"DVC_STORE_REDIS_MINREPLICAS", "-1", "store.redis.minReplicas"},
		{"DVC_STORE_REDIS_REPLICATIMEOUT", "2s", "store.redis.replicaTimeout"},
		{"DVC_STORE_REDIS_KEYPREFIX", "{dvc}:", "store.redis.keyPrefix"},
		{"DVC_CALLBACKS_SECRETS", "whsec_c2hvcnQ=", "callbacks.secrets[0]"},
		{"DVC_DELIVERY_SCHEDULE", "0s, 5s, -1s", "delivery.schedule[2]"},
		{"DVC_DELIVERY_MINSPAN", "-1h", "delivery.minSpan"},
		{"DVC_DELIVERY_LEASE", "10s", "delivery.lease"},
		{"DVC_IDEMPOTENCY_LEASE", "20s", "idempotency.lease"},
		{"DVC_LOG_LEVEL", "verbose", "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			_, err := Load(configs.Local, envOf(map[string]string{tt.variable: tt.value}))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s=%q: error %v, want a *config.Error", tt.variable, tt.value, err)
			}
			if len(ce.Problems) != 1 || ce.Problems[0].Key != tt.key {
				t.Fatalf("%s=%q: %v, want one problem naming %s", tt.variable, tt.value, err, tt.key)
			}
		})
	}
}

// A value the environment cannot hold in the key's type names both the
// variable and the key.
func TestEnvironmentParseErrorNamesKey(t *testing.T) {
	tests := []struct {
		variable, value, key string
	}{
		{"DVC_TREASURY_RESILIENCE_MINREQUESTS", "-1", "treasury.resilience.minRequests"},
		{"DVC_PORTAL_RESILIENCE_HALFOPENMAX", "4294967296", "portal.resilience.halfOpenMax"},
		{"DVC_PORTAL_RESILIENCE_FAILURERATIO", "half", "portal.resilience.failureRatio"},
		{"DVC_DELIVERY_SCHEDULE", "0s,soon", "delivery.schedule"},
		{"DVC_STORE_REDIS_DB", "one", "store.redis.db"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			_, err := Load(configs.Local, envOf(map[string]string{tt.variable: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.variable) || !strings.Contains(err.Error(), "("+tt.key+")") {
				t.Fatalf("%s=%q: error %v, want one naming %s and %s", tt.variable, tt.value, err, tt.variable, tt.key)
			}
		})
	}
}

// Every scalar and list key the README promises can be set from the
// environment is set, with its type.
func TestEnvironmentSetsEveryScalarType(t *testing.T) {
	c, err := Load(configs.Local, envOf(map[string]string{
		"DVC_TREASURY_RESILIENCE_MINREQUESTS": "5",
		"DVC_PORTAL_RESILIENCE_FAILURERATIO":  "0.25",
		"DVC_PORTAL_RESILIENCE_RETRIES":       "-1",
		"DVC_DELIVERY_SCHEDULE":               "0s, 1s, 1m",
		"DVC_SIGNATURES_CRLS":                 "",
		"DVC_STORE_REDIS_DB":                  "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Treasury.Resilience.MinRequests, c.Portal.Resilience.FailureRatio, c.Portal.Resilience.Retries,
		c.Delivery.Schedule, len(c.Signatures.CRLs), c.Store.Redis.DB}
	want := []any{uint32(5), 0.25, -1, []time.Duration{0, time.Second, time.Minute}, 0, 2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestReplicaTimeoutDefaultsOnlyWithMinReplicas(t *testing.T) {
	c, err := Load(localWith(t, map[string]any{"store.redis.minReplicas": 1}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Redis.ReplicaTimeout != 500*time.Millisecond {
		t.Errorf("replicaTimeout = %v with minReplicas 1, want 500ms", c.Store.Redis.ReplicaTimeout)
	}
	c, err = Load(localWith(t, map[string]any{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Redis.MinReplicas != 0 || c.Store.Redis.ReplicaTimeout != 0 {
		t.Errorf("minReplicas %d, replicaTimeout %v by default, want 0 and 0", c.Store.Redis.MinReplicas, c.Store.Redis.ReplicaTimeout)
	}
}

// attachments.maxStoredBytes left unset is never under the least it may be:
// a small maxTotalBytes in memory, a large one in Redis.
func TestDefaultMaxStoredBytesHoldsOneRequest(t *testing.T) {
	for _, c := range []struct {
		kind  string
		total int64
	}{{"memory", 1024}, {"redis", 2 << 30}} {
		a := Attachments{MaxFileBytes: c.total, MaxTotalBytes: c.total}
		a.defaults(c.kind)
		if a.MaxStoredBytes < a.leastStored() {
			t.Errorf("%s, maxTotalBytes %d: maxStoredBytes defaults to %d, under %d", c.kind, c.total, a.MaxStoredBytes, a.leastStored())
		}
	}
}
