// Package config owns the adapter's configuration: the YAML file, the
// environment overrides, the defaults and the validation that stops
// start-up with a message naming the key at fault. Secrets are typed so that
// they never reach a log.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Secret is a configuration value that must never be logged.
type Secret string

func (Secret) String() string { return "[redacted]" }

// LogValue keeps secrets out of slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON keeps secrets out of any JSON rendering (slog's JSON handler
// marshals structs that hold them).
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Reveal returns the secret itself, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// Config is the whole configuration.
type Config struct {
	Server      Server               `yaml:"server"`
	Auth        Auth                 `yaml:"auth"`
	Signatures  Signatures           `yaml:"signatures"`
	Limits      Limits               `yaml:"limits"`
	Treasury    Treasury             `yaml:"treasury"`
	Store       Store                `yaml:"store"`
	Idempotency Idempotency          `yaml:"idempotency"`
	Callbacks   Callbacks            `yaml:"callbacks"`
	Portal      Portal               `yaml:"portal"`
	Delivery    Delivery             `yaml:"delivery"`
	Procedures  map[string]Procedure `yaml:"procedures"`
	Log         Log                  `yaml:"log"`
}

// Server is the HTTP listener.
type Server struct {
	Addr            string        `yaml:"addr"`            // default 127.0.0.1:8080
	MaxBodyBytes    int64         `yaml:"maxBodyBytes"`    // default 16 MiB
	ReadTimeout     time.Duration `yaml:"readTimeout"`     // default 30s
	WriteTimeout    time.Duration `yaml:"writeTimeout"`    // default 60s
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"` // default 20s
}

// Auth holds the callers' credentials.
type Auth struct {
	// BearerTokens are the accepted portal credentials; a caller is known by
	// the token's name (idempotency keys are scoped to it).
	BearerTokens []BearerToken `yaml:"bearerTokens"`
	// AdminTokens are the operators' credentials for /v1/admin.
	AdminTokens []BearerToken `yaml:"adminTokens"`
}

// Callbacks authenticates the treasury's status callbacks.
type Callbacks struct {
	// Secrets are Standard Webhooks secrets ("whsec_<base64>"); several
	// during a rotation. Required.
	Secrets   []Secret      `yaml:"secrets"`
	Tolerance time.Duration `yaml:"tolerance"` // webhook-timestamp tolerance; default 5m
}

// Portal is the national portal's integration endpoint.
type Portal struct {
	// Transport is "session" (login and session JSON on one URL, the
	// default) or "bearer" (OAuth2 client credentials, one path per service).
	Transport    string        `yaml:"transport"`
	URL          string        `yaml:"url"` // session: the endpoint; bearer: the base URL
	Username     string        `yaml:"username"`
	Password     Secret        `yaml:"password"`
	MaDonVi      string        `yaml:"maDonVi"` // the reporting unit's code (madonvi)
	TokenURL     string        `yaml:"tokenURL"`
	ClientID     string        `yaml:"clientID"`
	ClientSecret Secret        `yaml:"clientSecret"`
	Timeout      time.Duration `yaml:"timeout"` // default 10s
	// TransientCodes are error_code values worth retrying.
	TransientCodes []string   `yaml:"transientCodes"`
	Resilience     Resilience `yaml:"resilience"`
}

// Delivery configures the outbox workers that carry status to the portal.
type Delivery struct {
	Workers int           `yaml:"workers"` // delivery goroutines per instance; default 4
	Lease   time.Duration `yaml:"lease"`   // how long a claimed event is held; default 2m
	// Schedule is the delay before each retry; default the Standard
	// Webhooks schedule (5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h) with ±20%
	// jitter, at least 72h in all before an event becomes a dead letter.
	Schedule []time.Duration `yaml:"schedule"`
	MinSpan  time.Duration   `yaml:"minSpan"` // shortest time to a dead letter; default 72h
}

// BearerToken is one caller credential.
type BearerToken struct {
	Name  string `yaml:"name"`
	Token Secret `yaml:"token"`
}

// Signatures configures trust and the signature profile.
type Signatures struct {
	TrustRoots    []string          `yaml:"trustRoots"`    // PEM files of trusted CAs
	Intermediates []string          `yaml:"intermediates"` // PEM files of intermediate CAs
	CRLs          []string          `yaml:"crls"`          // CRL files (PEM or DER)
	Roles         map[string]string `yaml:"roles"`         // certificate title -> role
	AllowSHA1     bool              `yaml:"allowSHA1"`     // default false
	WithComments  bool              `yaml:"withComments"`  // default false
	JWSAlgorithms []string          `yaml:"jwsAlgorithms"` // default RS256, ES256
	MaxSignatures int               `yaml:"maxSignatures"` // default 4
}

// Limits bound inbound XML before it is parsed.
type Limits struct {
	MaxDepth    int `yaml:"maxDepth"`    // default 32
	MaxElements int `yaml:"maxElements"` // default 200000
}

// Treasury is the treasury gateway the adapter calls.
type Treasury struct {
	BaseURL      string        `yaml:"baseURL"`
	ClientID     string        `yaml:"clientID"`
	ClientSecret Secret        `yaml:"clientSecret"`
	Timeout      time.Duration `yaml:"timeout"` // default 10s
	Resilience   Resilience    `yaml:"resilience"`
}

// Resilience configures the circuit breaker, bulkhead and retries of each
// upstream endpoint. Zero values take the defaults of adapter/upstream.
type Resilience struct {
	Window        time.Duration `yaml:"window"`        // rolling failure window; default 30s
	MinRequests   uint32        `yaml:"minRequests"`   // calls in the window before it can trip; default 20
	FailureRatio  float64       `yaml:"failureRatio"`  // trip at failures/calls >= this; default 0.5
	OpenTimeout   time.Duration `yaml:"openTimeout"`   // open before half-open probes; default 15s
	HalfOpenMax   uint32        `yaml:"halfOpenMax"`   // probes while half-open; default 3
	MaxConcurrent int           `yaml:"maxConcurrent"` // bulkhead per endpoint; default 64
	Retries       int           `yaml:"retries"`       // extra attempts of idempotent calls; default 2, negative none
	BaseDelay     time.Duration `yaml:"baseDelay"`     // backoff base; default 100ms
	MaxDelay      time.Duration `yaml:"maxDelay"`      // backoff cap; default 2s
}

// Procedure is one procedure's settings; its id is the map key.
type Procedure struct {
	Code           string        `yaml:"code"` // national procedure code (maTTHC)
	Name           string        `yaml:"name"`
	SLAWorkingDays int           `yaml:"slaWorkingDays"`
	RequiredRoles  []string      `yaml:"requiredRoles"`
	Deadline       time.Duration `yaml:"deadline"` // treasury call deadline; default 20s
}

// Store selects where shared state lives.
type Store struct {
	// Kind is "memory" (one process, nothing survives a restart; the
	// embedded default) or "redis" (production; several instances share it).
	Kind  string `yaml:"kind"`
	Redis Redis  `yaml:"redis"`
}

// Redis configures the go-redis UniversalClient: one address for a single
// server, several for a Cluster, MasterName for Sentinel.
type Redis struct {
	Addrs        []string      `yaml:"addrs"`
	MasterName   string        `yaml:"masterName"`
	Username     string        `yaml:"username"`
	Password     Secret        `yaml:"password"`
	DB           int           `yaml:"db"`
	KeyPrefix    string        `yaml:"keyPrefix"`    // default "dvc:"
	DialTimeout  time.Duration `yaml:"dialTimeout"`  // default 1s
	ReadTimeout  time.Duration `yaml:"readTimeout"`  // default 1s
	WriteTimeout time.Duration `yaml:"writeTimeout"` // default 1s
	PoolSize     int           `yaml:"poolSize"`     // default 64
}

// Idempotency configures the exactly-once records.
type Idempotency struct {
	Retention        time.Duration `yaml:"retention"`        // completed keys; default 72h
	DossierRetention time.Duration `yaml:"dossierRetention"` // sent-dossier claims; default 720h
	// Lease is how long a request holds its key and dossier before another
	// attempt may take over; default the longest procedure deadline + 10s.
	Lease time.Duration `yaml:"lease"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error; default info
}

// EnvPrefix prefixes every environment override.
const EnvPrefix = "DVC_"

// Load reads YAML strictly, applies environment overrides from env (nil
// means none), fills defaults and validates.
func Load(raw []byte, env func(string) (string, bool)) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, errors.New("config: the file must hold one YAML document")
	}
	if env != nil {
		if err := applyEnv(reflect.ValueOf(&c).Elem(), EnvPrefix, env); err != nil {
			return nil, err
		}
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadFile reads the file at path with the process environment.
func LoadFile(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Load(raw, os.LookupEnv)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Server.Addr == "" {
		c.Server.Addr = "127.0.0.1:8080"
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = 16 << 20
	}
	def(&c.Server.ReadTimeout, 30*time.Second)
	def(&c.Server.WriteTimeout, 60*time.Second)
	def(&c.Server.ShutdownTimeout, 20*time.Second)
	def(&c.Treasury.Timeout, 10*time.Second)
	if c.Store.Kind == "" {
		c.Store.Kind = "memory"
	}
	if c.Store.Redis.KeyPrefix == "" {
		c.Store.Redis.KeyPrefix = "dvc:"
	}
	def(&c.Store.Redis.DialTimeout, time.Second)
	def(&c.Store.Redis.ReadTimeout, time.Second)
	def(&c.Store.Redis.WriteTimeout, time.Second)
	if c.Store.Redis.PoolSize == 0 {
		c.Store.Redis.PoolSize = 64
	}
	def(&c.Callbacks.Tolerance, 5*time.Minute)
	if c.Portal.Transport == "" {
		c.Portal.Transport = "session"
	}
	def(&c.Portal.Timeout, 10*time.Second)
	if c.Delivery.Workers == 0 {
		c.Delivery.Workers = 4
	}
	def(&c.Delivery.Lease, 2*time.Minute)
	def(&c.Idempotency.Retention, 72*time.Hour)
	def(&c.Idempotency.DossierRetention, 720*time.Hour)
	longest := time.Duration(0)
	for id, p := range c.Procedures {
		def(&p.Deadline, 20*time.Second)
		c.Procedures[id] = p
		longest = max(longest, p.Deadline)
	}
	def(&c.Idempotency.Lease, longest+10*time.Second)
	if len(c.Signatures.JWSAlgorithms) == 0 {
		c.Signatures.JWSAlgorithms = []string{"RS256", "ES256"}
	}
	if c.Signatures.MaxSignatures == 0 {
		c.Signatures.MaxSignatures = 4
	}
	if c.Limits.MaxDepth == 0 {
		c.Limits.MaxDepth = 32
	}
	if c.Limits.MaxElements == 0 {
		c.Limits.MaxElements = 200_000
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

var procedureID = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)

// Validate reports the first invalid key by its path.
func (c *Config) Validate() error {
	bad := func(key, why string) error { return fmt.Errorf("config: %s: %s", key, why) }
	for key, d := range map[string]time.Duration{
		"server.readTimeout": c.Server.ReadTimeout, "server.writeTimeout": c.Server.WriteTimeout,
		"server.shutdownTimeout": c.Server.ShutdownTimeout, "treasury.timeout": c.Treasury.Timeout,
		"store.redis.dialTimeout": c.Store.Redis.DialTimeout, "store.redis.readTimeout": c.Store.Redis.ReadTimeout,
		"store.redis.writeTimeout": c.Store.Redis.WriteTimeout, "idempotency.lease": c.Idempotency.Lease,
	} {
		if d <= 0 {
			return bad(key, "must be a positive duration")
		}
	}
	if c.Server.MaxBodyBytes < 1024 {
		return bad("server.maxBodyBytes", "must be at least 1024")
	}
	if len(c.Auth.BearerTokens) == 0 {
		return bad("auth.bearerTokens", "at least one caller credential is required")
	}
	seen := map[string]bool{}
	for i, t := range c.Auth.BearerTokens {
		k := fmt.Sprintf("auth.bearerTokens[%d]", i)
		if t.Name == "" || seen[t.Name] {
			return bad(k+".name", "must be set and unique")
		}
		seen[t.Name] = true
		if len(t.Token) < 16 {
			return bad(k+".token", "must be at least 16 characters")
		}
	}
	if len(c.Signatures.TrustRoots) == 0 {
		return bad("signatures.trustRoots", "at least one trusted CA is required")
	}
	for i, a := range c.Signatures.JWSAlgorithms {
		switch a {
		case "RS256", "RS384", "RS512", "ES256", "ES384", "PS256":
		default:
			return bad(fmt.Sprintf("signatures.jwsAlgorithms[%d]", i), fmt.Sprintf("%q is not an accepted JWS algorithm", a))
		}
	}
	if c.Signatures.MaxSignatures < 1 || c.Signatures.MaxSignatures > 8 {
		return bad("signatures.maxSignatures", "must be between 1 and 8")
	}
	if c.Limits.MaxDepth < 4 || c.Limits.MaxDepth > 256 {
		return bad("limits.maxDepth", "must be between 4 and 256")
	}
	if c.Limits.MaxElements < 100 {
		return bad("limits.maxElements", "must be at least 100")
	}
	if u, err := url.Parse(c.Treasury.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("treasury.baseURL", "must be an absolute http(s) URL")
	}
	if r := c.Treasury.Resilience; r.FailureRatio < 0 || r.FailureRatio > 1 {
		return bad("treasury.resilience.failureRatio", "must be between 0 and 1")
	}
	if r := c.Treasury.Resilience; r.Window < 0 || r.OpenTimeout < 0 || r.BaseDelay < 0 || r.MaxDelay < 0 || r.MaxConcurrent < 0 {
		return bad("treasury.resilience", "durations and maxConcurrent must not be negative")
	}
	if c.Treasury.ClientID == "" {
		return bad("treasury.clientID", "must be set")
	}
	if c.Treasury.ClientSecret == "" {
		return bad("treasury.clientSecret", "must be set")
	}
	if len(c.Callbacks.Secrets) == 0 {
		return bad("callbacks.secrets", "at least one Standard Webhooks secret (whsec_...) is required")
	}
	for i, sec := range c.Callbacks.Secrets {
		if !strings.HasPrefix(string(sec), "whsec_") {
			return bad(fmt.Sprintf("callbacks.secrets[%d]", i), "must be a whsec_ secret")
		}
	}
	switch c.Portal.Transport {
	case "session":
		if c.Portal.Username == "" || c.Portal.Password == "" {
			return bad("portal.username", "username and password are required for the session transport")
		}
	case "bearer":
		if c.Portal.TokenURL == "" || c.Portal.ClientID == "" || c.Portal.ClientSecret == "" {
			return bad("portal.tokenURL", "tokenURL, clientID and clientSecret are required for the bearer transport")
		}
	default:
		return bad("portal.transport", "must be session or bearer")
	}
	if u, err := url.Parse(c.Portal.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("portal.url", "must be an absolute http(s) URL")
	}
	if c.Portal.MaDonVi == "" {
		return bad("portal.maDonVi", "must be set")
	}
	if c.Delivery.Workers < 1 || c.Delivery.Workers > 256 {
		return bad("delivery.workers", "must be between 1 and 256")
	}
	for i, d := range c.Delivery.Schedule {
		if d < 0 {
			return bad(fmt.Sprintf("delivery.schedule[%d]", i), "must not be negative")
		}
	}
	switch c.Store.Kind {
	case "memory":
	case "redis":
		if len(c.Store.Redis.Addrs) == 0 {
			return bad("store.redis.addrs", "at least one address is required when store.kind is redis")
		}
	default:
		return bad("store.kind", "must be memory or redis")
	}
	if c.Idempotency.Retention < time.Hour {
		return bad("idempotency.retention", "must be at least 1h")
	}
	if c.Idempotency.DossierRetention < c.Idempotency.Retention {
		return bad("idempotency.dossierRetention", "must be at least idempotency.retention")
	}
	if len(c.Procedures) == 0 {
		return bad("procedures", "at least one procedure is required")
	}
	roles := map[string]bool{}
	for _, r := range c.Signatures.Roles {
		roles[r] = true
	}
	for id, p := range c.Procedures {
		k := "procedures." + id
		if !procedureID.MatchString(id) {
			return bad(k, "procedure ids are lower-case words joined by '-'")
		}
		if p.Code == "" {
			return bad(k+".code", "the national procedure code (maTTHC) must be set")
		}
		if p.Name == "" {
			return bad(k+".name", "must be set")
		}
		if p.SLAWorkingDays < 0 {
			return bad(k+".slaWorkingDays", "must not be negative")
		}
		if p.Deadline < 100*time.Millisecond {
			return bad(k+".deadline", "must be at least 100ms")
		}
		if c.Idempotency.Lease <= p.Deadline {
			return bad("idempotency.lease", fmt.Sprintf("must be longer than procedures.%s.deadline (%s)", id, p.Deadline))
		}
		for i, r := range p.RequiredRoles {
			if !roles[r] {
				return bad(fmt.Sprintf("%s.requiredRoles[%d]", k, i), fmt.Sprintf("role %q is not defined in signatures.roles", r))
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error")
	}
	return nil
}

// applyEnv overrides scalar and list fields from PREFIX_PATH variables
// (DVC_TREASURY_CLIENTSECRET, DVC_SERVER_ADDR, DVC_SIGNATURES_CRLS=a.crl,b.crl).
func applyEnv(v reflect.Value, prefix string, env func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := applyEnv(fv, name+"_", env); err != nil {
				return err
			}
			continue
		}
		s, ok := env(name)
		if !ok {
			continue
		}
		if err := setFromString(fv, s); err != nil {
			return fmt.Errorf("config: environment %s: %w", name, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		parts := strings.Split(s, ",")
		sl := reflect.MakeSlice(fv.Type(), len(parts), len(parts))
		for i, p := range parts {
			sl.Index(i).SetString(strings.TrimSpace(p))
		}
		fv.Set(sl)
	default:
		return errors.New("this key cannot be set from the environment; use the YAML file")
	}
	return nil
}
