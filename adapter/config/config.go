// Package config owns the adapter's configuration: the YAML file, the
// environment overrides, the defaults and the validation that stops
// start-up with a message naming the key at fault. Secrets are typed so that
// they never reach a log.
package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/text"
	"github.com/kbnn/dvc/adapter/tlsconf"
	"github.com/kbnn/dvc/adapter/upstream"
	"github.com/kbnn/dvc/adapter/webhook"
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

// Config is the whole configuration. A zero value means the default only
// where the field's comment says "zero: default ..."; Load fills those
// defaults before Validate sees the values.
type Config struct {
	Server      Server               `yaml:"server"`
	Auth        Auth                 `yaml:"auth"`
	Signatures  Signatures           `yaml:"signatures"`
	Limits      Limits               `yaml:"limits"`
	Attachments Attachments          `yaml:"attachments"`
	Treasury    Treasury             `yaml:"treasury"`
	Store       Store                `yaml:"store"`
	Idempotency Idempotency          `yaml:"idempotency"`
	Withdrawal  Withdrawal           `yaml:"withdrawal"`
	Callbacks   Callbacks            `yaml:"callbacks"`
	Portal      Portal               `yaml:"portal"`
	Delivery    Delivery             `yaml:"delivery"`
	Procedures  map[string]Procedure `yaml:"procedures"`
	Calendar    Calendar             `yaml:"calendar"`
	// DossierCodes are the formats a dossier code (maHoSo) may take, as
	// anchored regular expressions (^…$); a code must match one. Zero:
	// DefaultDossierCodes.
	DossierCodes []string `yaml:"dossierCodes"`
	Log          Log      `yaml:"log"`
	Evidence     Evidence `yaml:"evidence"`
}

// Evidence configures the evidence log (adapter/auditlog) and the evidence
// every treasury document request carries.
type Evidence struct {
	// Enabled turns the evidence log on: every submission, withdrawal,
	// callback and delivery attempt is a leaf, and the 202 carries a
	// receipt. Default true when the key is absent.
	Enabled bool `yaml:"enabled"`
	// Dir is the log's data directory, one per instance; required when
	// Enabled.
	Dir string `yaml:"dir"`
	// Instance names this adapter instance: the log's origin is
	// kbnn-dvc-adapter/<instance>, which must be the name of KeyFile's key.
	// 1 to 64 of A-Z a-z 0-9 . _ -; zero: default the host name.
	Instance string `yaml:"instance"`
	// KeyFile holds the instance's Ed25519 note signer key
	// (PRIVATE+KEY+<name>+<hash>+<key>, from dvc-sign logkey); required
	// when Enabled. Read at start-up.
	KeyFile string `yaml:"keyFile"`
	// CheckpointInterval: a signed checkpoint at least this often while the
	// log grows, 10ms to 1h; zero: default 1s.
	CheckpointInterval time.Duration `yaml:"checkpointInterval"`
	// ArchiveBodies stores every received body, filed under its SHA-256, in
	// the body pack of the log's active segment (<dir>/bodies), durable
	// with its record. Default false.
	ArchiveBodies bool `yaml:"archiveBodies"`
	// ForwardOriginal sends the exact received bytes (base64) in each
	// treasury document request's evidence. Default true when the key is
	// absent; false sends the hash and the signers only.
	ForwardOriginal bool `yaml:"forwardOriginal"`
	// Retention: a sealed segment older than this is removed from the data
	// directory (ship it first, README "Evidence log"); not negative; zero:
	// default 0, keep every segment.
	Retention time.Duration `yaml:"retention"`
	// SegmentBytes: the active segment is sealed once it holds this many
	// bytes, at least 4096; zero: default 64 MiB.
	SegmentBytes int64 `yaml:"segmentBytes"`
	// SealDaily also seals the active segment at the first record of each
	// UTC day, so a sealed segment holds one day at most. Default false.
	SealDaily bool `yaml:"sealDaily"`
}

// DefaultDossierCodes are the dossier code formats seen on the portal:
// "<agency code>-<yyyyMMdd>-<7-digit sequence>" (G09.20-20260609-0092637, in
// working portal integrations) and the provincial portals'
// "<000.00.00.X00>-<yyMMdd>-<4-digit sequence>" (000.00.01.H22-240509-0001,
// reported in the field; its parts are assumed).
func DefaultDossierCodes() []string {
	return []string{
		`^[A-Za-z0-9.]{1,20}-[0-9]{8}-[0-9]{7}$`,
		`^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{6}-[0-9]{4}$`,
	}
}

// Server is the HTTP listeners: the public one (addr) for the portal and
// the treasury, and the admin one (adminAddr) for operators.
type Server struct {
	Addr string `yaml:"addr"` // host:port; zero: default 127.0.0.1:8080
	// AdminAddr is the admin listener's host:port (/metrics, /debug/pprof/,
	// /v1/admin/...): keep it on a private interface. It differs from addr;
	// zero: default 127.0.0.1:8090.
	AdminAddr    string `yaml:"adminAddr"`
	MaxBodyBytes int64  `yaml:"maxBodyBytes"` // at least 1024; zero: default 16 MiB
	// ReadTimeout bounds reading a request (headers included); zero: default 30s.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// WriteTimeout bounds a request from its headers to the end of its
	// answer, so it must be longer than every procedure's deadline; zero:
	// default 60s.
	WriteTimeout    time.Duration `yaml:"writeTimeout"`
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"` // drain on SIGTERM; zero: default 20s
	// TLS, when certFile is set, makes both listeners serve HTTPS only.
	TLS TLS `yaml:"tls"`
}

// TLS is the listeners' TLS: a certificate and key read from PEM files and
// reloaded when they change (no restart).
type TLS struct {
	// CertFile and KeyFile are PEM files: the certificate (its chain after
	// it) and its private key; both or neither. Neither: plain HTTP.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// MinVersion is the oldest TLS version accepted: "1.2" or "1.3";
	// zero: default "1.2".
	MinVersion string `yaml:"minVersion"`
	// ReloadInterval is how often the two files are checked for a change
	// (modification time and size); a changed pair is loaded for new
	// handshakes. Zero: default 5s.
	ReloadInterval time.Duration `yaml:"reloadInterval"`
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client
	// certificates the listeners verify (mutual TLS): a certificate that
	// does not chain to one, or has expired, fails the handshake; a client
	// may still connect without one where its route group takes another
	// credential (auth.submissions, auth.callbacks, auth.admin). Needs
	// certFile.
	ClientCAFile string `yaml:"clientCAFile"`
	// Clients map verified client certificates to callers.
	Clients []TLSClient `yaml:"clients"`
}

// TLSClient is a caller known by its client certificate: by subject or by
// URI SAN (one of them), in one route group.
type TLSClient struct {
	Name string `yaml:"name"` // the caller's name, as a bearer token's name; required
	// Subject is the certificate's subject in RFC 4514 order, as
	// `openssl x509 -noout -subject -nameopt RFC2253` prints it:
	// "CN=portal.example.vn,O=Example,C=VN" (spaces around , and = and the
	// case of attribute types do not matter).
	Subject string `yaml:"subject"`
	URI     string `yaml:"uri"`   // a URI SAN, e.g. spiffe://dvc.example.vn/portal
	Group   string `yaml:"group"` // submissions, callbacks or admin
}

// Auth holds the callers' credentials. Every token is at least 16 visible
// ASCII characters and is unique across both lists.
type Auth struct {
	// BearerTokens are the accepted portal credentials (at least one); a
	// caller is known by the token's name (idempotency keys are scoped to it).
	BearerTokens []BearerToken `yaml:"bearerTokens"`
	// AdminTokens are the operators' credentials for /v1/admin; none means
	// every operator request is refused.
	AdminTokens []BearerToken `yaml:"adminTokens"`
	// Submissions, Callbacks and Admin are how each route group's callers
	// authenticate: the group's credential (bearer: auth.bearerTokens or
	// auth.adminTokens; webhook: callbacks.secrets), mtls (a client
	// certificate of server.tls.clients in the group), either, or both (for
	// bearer: naming the same caller). Zero: default bearer, webhook, bearer.
	Submissions string `yaml:"submissions"`
	Callbacks   string `yaml:"callbacks"`
	Admin       string `yaml:"admin"`
}

// Callbacks authenticates the treasury's status callbacks.
type Callbacks struct {
	// Secrets are Standard Webhooks secrets ("whsec_<base64>" of at least
	// 24 bytes); several during a rotation. Required.
	Secrets []Secret `yaml:"secrets"`
	// SecretFiles are files each holding one more secret (a trailing
	// newline is trimmed), as container platforms mount them; Load appends
	// their contents to Secrets, in order.
	SecretFiles []string      `yaml:"secretFiles" env:"SECRETS_FILE"`
	Tolerance   time.Duration `yaml:"tolerance"` // webhook-timestamp tolerance; zero: default 5m
}

// Portal is the national portal's integration endpoint.
type Portal struct {
	// Transport is "session" (login and session JSON on one URL) or "bearer"
	// (OAuth2 client credentials, one path per service); zero: default
	// session. Username and Password are required with session; TokenURL,
	// ClientID and ClientSecret with bearer.
	Transport    string `yaml:"transport"`
	URL          string `yaml:"url"` // absolute http(s); session: the endpoint; bearer: the base URL
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"passwordFile" env:"PASSWORD_FILE"` // instead of password: a file holding it
	MaDonVi      string `yaml:"maDonVi"`                          // the reporting unit's code (madonvi); required
	TokenURL     string `yaml:"tokenURL"`                         // absolute http(s)
	ClientID     string `yaml:"clientID"`
	ClientSecret Secret `yaml:"clientSecret"`
	// ClientSecretFile, instead of clientSecret: a file holding it.
	ClientSecretFile string        `yaml:"clientSecretFile" env:"CLIENTSECRET_FILE"`
	Timeout          time.Duration `yaml:"timeout"` // one HTTP exchange; zero: default 10s
	// AuthURL, when set (absolute http(s), session transport only), is the separate
	// authentication endpoint of OpenCPS's variant: the login POSTs {"username","password"}
	// to it. Empty: the login is the Login service on url.
	AuthURL string `yaml:"authURL"`
	// DstCode, when set, is sent as the dstcode header on every request, logins included:
	// visible ASCII without spaces, at most 128 characters.
	DstCode    string           `yaml:"dstCode"`
	ErrorCodes PortalErrorCodes `yaml:"errorCodes"`
	// LoaiDoiTuong is the applicant type sent in every full dossier: "1" (citizen) or "2"
	// (organisation); zero: default "2". Budget-using units are organisations; that the portal
	// files them under "2" is assumed.
	LoaiDoiTuong string `yaml:"loaiDoiTuong"`
	// HinhThuc is the form of hand-back sent in every full dossier: "0" or "1" (OpenCPS sends
	// "1" when the result goes by post); zero: default "0".
	HinhThuc   string     `yaml:"hinhThuc"`
	Resilience Resilience `yaml:"resilience"`
	TLS        ClientTLS  `yaml:"tls"` // with an https url (and tokenURL, authURL)
}

// PortalErrorCodes sorts the portal's error_code values into classes: transient (retry with
// backoff), sessionExpired (log in again once and repeat the call once), permanent (a dead
// letter at once). A code is listed in one class at most, never "0" or "00"; a code listed
// nowhere takes Default.
type PortalErrorCodes struct {
	Transient      []string `yaml:"transient"`
	SessionExpired []string `yaml:"sessionExpired"` // empty: default ["-1"]
	Permanent      []string `yaml:"permanent"`
	Default        string   `yaml:"default"` // permanent or transient; zero: default permanent
}

// Calendar configures the working days that due dates count.
type Calendar struct {
	// HolidaysDir is a directory of <year>.yaml public-holiday files (the format of
	// configs/holidays) read instead of the embedded configs/holidays. Empty: the embedded
	// files.
	HolidaysDir string `yaml:"holidaysDir"`
}

// Delivery configures the outbox workers that carry status to the portal.
type Delivery struct {
	Workers int `yaml:"workers"` // delivery goroutines per instance, 1 to 256; zero: default 4
	// Lease is how long a claimed event is held; one delivery may take half
	// of it, so it must be at least twice portal.timeout. Zero: default 2m.
	Lease time.Duration `yaml:"lease"`
	// Schedule[i] is the delay before attempt i+1; Schedule[0] is not used
	// (a new event is due at once), so a schedule starts with 0s. An event
	// that fails attempt len(Schedule) becomes a dead letter (but see
	// MinSpan). No delay is negative. Empty: default 0s, 5s, 5m, 30m, 2h,
	// 5h, 10h, 14h, 20h, 24h (the Standard Webhooks schedule), with ±20%
	// jitter.
	Schedule []time.Duration `yaml:"schedule"`
	MinSpan  time.Duration   `yaml:"minSpan"` // shortest time to a dead letter; zero: default 72h
	// UncertainWait is the least wait before an event whose write to the
	// portal may have taken effect (it timed out, or failed with no clear
	// answer: portal.MayHaveApplied) is tried again; the dossier's later
	// events wait too, so that the late write cannot land after theirs.
	// Zero: default 2m.
	UncertainWait time.Duration `yaml:"uncertainWait"`
}

// BearerToken is one caller credential.
type BearerToken struct {
	Name  string `yaml:"name"`  // required, unique within its list
	Token Secret `yaml:"token"` // at least 16 visible ASCII characters, unique
	// TokenFile, instead of token: a file holding it (a trailing newline
	// is trimmed).
	TokenFile string `yaml:"tokenFile"`
	// Units, for a caller of auth.bearerTokens, are the budget units
	// (maDVQHNS, 7 digits, each once) whose dossiers it may submit,
	// withdraw, list and read; another unit's dossier is refused
	// (unit-not-allowed) or not found. Empty: every unit. A client
	// certificate caller of the same name takes the same units. Operators
	// (auth.adminTokens) see every unit: none may be listed there.
	Units []string `yaml:"units"`
}

// Signatures configures trust and the signature profile.
type Signatures struct {
	TrustRoots    []string          `yaml:"trustRoots"`    // PEM files of trusted CAs; at least one
	Intermediates []string          `yaml:"intermediates"` // PEM files of intermediate CAs
	CRLs          []string          `yaml:"crls"`          // CRL files (PEM or DER)
	Roles         map[string]string `yaml:"roles"`         // certificate title -> role, neither empty
	AllowSHA1     bool              `yaml:"allowSHA1"`     // default false
	WithComments  bool              `yaml:"withComments"`  // default false
	JWSAlgorithms []string          `yaml:"jwsAlgorithms"` // RS256/384/512, ES256/384, PS256; empty: default RS256, ES256
	MaxSignatures int               `yaml:"maxSignatures"` // 1 to 8; zero: default 4
	// XMLVerifier picks the XML signature verification path: "fast" (one
	// parse, one canonicalization per signature) or "reference"
	// (goxmldsig's Validate per signature, kept for one release). Empty:
	// default fast.
	XMLVerifier string `yaml:"xmlVerifier"`
	// RequireRegistered refuses a dossier of a procedure with
	// registeredSigners whose signer certificate is not registered for the
	// dossier's budget unit in its role (signer-not-registered). Default
	// true: only an explicit false in the file or the environment turns it
	// off.
	RequireRegistered bool `yaml:"requireRegistered"`
	// RegisteredSeed names the registrations loaded into the signers store
	// at start-up (those already present are kept): "embedded" for the
	// embedded configs/signers.yaml (the test PKI's signers, for make run
	// and tests), else the path of a file in the same format; empty: none.
	RegisteredSeed string `yaml:"registeredSeed"`
	// Revocation configures live revocation checking of signer
	// certificates (adapter/revocation), beside the CRL files above.
	Revocation Revocation `yaml:"revocation"`
}

// Revocation configures OCSP and fetched CRLs.
type Revocation struct {
	// OCSP is "require" (the signer certificate's status must come from
	// OCSP), "prefer" (OCSP first, the CRLs when no responder is known or
	// it does not answer) or "off"; zero: default prefer.
	OCSP string `yaml:"ocsp"`
	// OCSPURL, when set, is the responder asked about every signer
	// certificate instead of the one its AIA extension names; an absolute
	// http(s) URL.
	OCSPURL string `yaml:"ocspURL"`
	// OCSPNonce sends a nonce with each OCSP request and refuses a response
	// that does not echo it. Default false.
	OCSPNonce bool `yaml:"ocspNonce"`
	// FetchCRLs downloads the CRLs named by certificates' CRL distribution
	// points. Default true: only an explicit false turns it off.
	FetchCRLs bool `yaml:"fetchCRLs"`
	// OnUnavailable is "fail" (refuse with 503 revocation-unavailable) or
	// "allow" (accept) when no source can tell a certificate's status;
	// zero: default fail.
	OnUnavailable string `yaml:"onUnavailable"`
	// Timeout bounds one OCSP request or CRL download; at most 1m; zero:
	// default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAge is how long an OCSP response or a CRL without nextUpdate is
	// reused; not negative, at most 1h; zero (the default): not reused.
	MaxAge time.Duration `yaml:"maxAge"`
}

// Limits bound inbound XML before it is parsed, and how many large
// submissions are handled at once.
type Limits struct {
	MaxDepth    int `yaml:"maxDepth"`    // 4 to 256; zero: default 32
	MaxElements int `yaml:"maxElements"` // at least 100; zero: default 200000
	// LargeBodyBytes is the body size (Content-Length, or the bytes read so
	// far) above which a submission or a validation needs one of the
	// LargeBodyConcurrency slots; 1 KiB to 1 GiB; zero: default 256 KiB.
	LargeBodyBytes int64 `yaml:"largeBodyBytes"`
	// LargeBodyConcurrency is how many such requests are handled at once;
	// 1 to 1024; zero: default 2.
	LargeBodyConcurrency int `yaml:"largeBodyConcurrency"`
	// LargeBodyWait is how long a large request waits for a slot before it
	// is answered 503 server-busy; up to 1 minute; zero: default 2s.
	LargeBodyWait time.Duration `yaml:"largeBodyWait"`
	// UploadConcurrency is how many attachment uploads over LargeBodyBytes
	// are read at once, in slots of their own (each is held whole, up to
	// attachments.maxFileBytes), and submissions that send on an uploaded
	// file that large take one too; they wait LargeBodyWait for one; 1 to
	// 1024; zero: default 8.
	UploadConcurrency int `yaml:"uploadConcurrency"`
}

// Attachments bound the files a dossier lists (dinhKem[]) and that travel
// beside it: the parts of a multipart/related submission and the uploads to
// PUT /v1/attachments/{sha256}.
type Attachments struct {
	// MaxFileBytes bounds one file; 1 KiB to 1 GiB; zero: default 20 MiB.
	MaxFileBytes int64 `yaml:"maxFileBytes"`
	// MaxTotalBytes bounds the files of one request together, at least
	// maxFileBytes and at most 4 GiB; zero: default 50 MiB.
	MaxTotalBytes int64 `yaml:"maxTotalBytes"`
	// MaxParts bounds the files of one multipart/related request (the
	// signed dossier not counted); 1 to 100; zero: default 20.
	MaxParts int `yaml:"maxParts"`
	// Retention is how long an uploaded file is kept for the dossier that
	// lists it (renewed by each upload); 1 minute to 30 days; zero:
	// default 24h.
	Retention time.Duration `yaml:"retention"`
	// MaxStoredBytes bounds the uploaded files the attachment store holds
	// at once, all callers together; at least maxTotalBytes and at most
	// 1 TiB; zero: default 2 GiB with store.kind redis, 8 × maxTotalBytes
	// in memory.
	MaxStoredBytes int64 `yaml:"maxStoredBytes"`
}

// Treasury is the treasury gateway the adapter calls.
type Treasury struct {
	BaseURL      string `yaml:"baseURL"` // absolute http(s)
	ClientID     string `yaml:"clientID"`
	ClientSecret Secret `yaml:"clientSecret"`
	// ClientSecretFile, instead of clientSecret: a file holding it.
	ClientSecretFile string        `yaml:"clientSecretFile" env:"CLIENTSECRET_FILE"`
	Timeout          time.Duration `yaml:"timeout"` // one HTTP exchange; zero: default 10s
	Resilience       Resilience    `yaml:"resilience"`
	TLS              ClientTLS     `yaml:"tls"` // with an https baseURL
	// InlineAttachmentBytes: a dossier whose files' listed sizes together
	// fit in it sends them in its document (attachments[].content, base64)
	// instead of one upload each; -1: never; zero: default 64 KiB; at most
	// MaxInlineAttachmentBytes, the contract's bound.
	InlineAttachmentBytes int64 `yaml:"inlineAttachmentBytes"`
}

// MaxInlineAttachmentBytes bounds treasury.inlineAttachmentBytes: the
// files a document may carry in all (schemas/treasury).
const MaxInlineAttachmentBytes = 256 << 10

// ClientTLS is how the adapter connects to an upstream over TLS: which CAs
// it trusts, the client certificate it presents (mutual TLS) and the name
// the server's certificate must carry. Every key is optional; any of them
// needs an https URL.
type ClientTLS struct {
	CAFile     string `yaml:"caFile"`     // PEM bundle; empty: the system's roots
	CertFile   string `yaml:"certFile"`   // client certificate (PEM), with keyFile; reloaded when it changes
	KeyFile    string `yaml:"keyFile"`    // its private key (PEM)
	ServerName string `yaml:"serverName"` // empty: the URL's host
}

// Set reports whether any key of t is set.
func (t ClientTLS) Set() bool { return t != ClientTLS{} }

// Resilience configures the circuit breaker, bulkhead and retries of each
// endpoint of one upstream. Every zero field takes the default of
// adapter/upstream (named below); the ranges are upstream.Settings'.
type Resilience struct {
	Window        time.Duration `yaml:"window"`        // rolling failure window, positive; zero: default 30s
	MinRequests   uint32        `yaml:"minRequests"`   // calls in the window before it can trip; zero: default 20
	FailureRatio  float64       `yaml:"failureRatio"`  // trip at failures/calls >= this, in (0, 1]; zero: default 0.5
	OpenTimeout   time.Duration `yaml:"openTimeout"`   // open before half-open probes, positive; zero: default 15s
	HalfOpenMax   uint32        `yaml:"halfOpenMax"`   // probes while half-open; zero: default 3
	MaxConcurrent int           `yaml:"maxConcurrent"` // bulkhead per endpoint, positive; zero: default 64
	Retries       int           `yaml:"retries"`       // extra attempts of idempotent calls; -1: none; zero: default 2
	BaseDelay     time.Duration `yaml:"baseDelay"`     // backoff base, positive; zero: default 100ms
	MaxDelay      time.Duration `yaml:"maxDelay"`      // backoff cap, at least baseDelay; zero: default 2s
}

// Settings returns r as the upstream package's settings.
func (r Resilience) Settings() upstream.Settings {
	return upstream.Settings{
		Window: r.Window, MinRequests: r.MinRequests, FailureRatio: r.FailureRatio, OpenTimeout: r.OpenTimeout,
		HalfOpenMax: r.HalfOpenMax, MaxConcurrent: r.MaxConcurrent, Retries: r.Retries,
		BaseDelay: r.BaseDelay, MaxDelay: r.MaxDelay,
	}
}

// Procedure is one procedure's settings; its id is the map key (lower-case
// words joined by '-').
type Procedure struct {
	Code           string        `yaml:"code"`           // national procedure code (maTTHC); required, unique
	Name           string        `yaml:"name"`           // required
	SLAWorkingDays int           `yaml:"slaWorkingDays"` // processing time, 1 to 365 working days; required
	RequiredRoles  []string      `yaml:"requiredRoles"`  // roles of signatures.roles, each once
	Deadline       time.Duration `yaml:"deadline"`       // treasury call deadline, at least 100ms; zero: default 20s
	// UnitPath is where a dossier names its budget unit (maDVQHNS):
	// property names separated by '/', a required string of the
	// procedure's definition (checked at start-up); zero: default
	// "maDVQHNS".
	UnitPath string `yaml:"unitPath"`
	// RegisteredSigners makes the procedure's signers subject to
	// signatures.requireRegistered: each must be registered for the
	// dossier's unit in its role. Never together with signers.
	RegisteredSigners bool `yaml:"registeredSigners"`
	// Signers, when List is set, makes an accepted dossier of the procedure
	// register its unit's signers from its signature specimen.
	Signers SignerPaths `yaml:"signers"`
	// Field is the procedure's field (lĩnh vực) on the portal, sent as MaLinhVuc and
	// TenLinhVuc: both or neither.
	Field ProcedureField `yaml:"field"`
}

// SignerPaths say where an account-registration dossier lists the signers
// it registers: List is the list of entries (property names separated by
// '/', a name ending in "[]" standing for every element of a list on the
// way, e.g. "taiLieu[]/mauChuKy"), Role, Serial and Issuer are paths inside
// one entry. Issuer is
// optional: without it, or when an entry has no value there, the issuer is
// taken from the dossier's own signer certificate whose serial is the
// entry's (an entry matching none is not registered).
type SignerPaths struct {
	List   string `yaml:"list"`
	Role   string `yaml:"role"`   // required with list
	Serial string `yaml:"serial"` // required with list
	Issuer string `yaml:"issuer"`
	// On is the treasury status (of the procedure's status mapping) that
	// registers the specimen's signers: the account opened. Required with
	// list; until the treasury reports it, the signers wait in the
	// dossier's record.
	On string `yaml:"on"`
}

// ProcedureField is a field of the national procedure catalogue (the LINHVUCTHUCHIEN of
// the portal's LayThuTuc answer).
type ProcedureField struct {
	Code string `yaml:"code"` // MaLinhVuc, without surrounding spaces
	Name string `yaml:"name"` // TenLinhVuc, without surrounding spaces
}

// Store selects where shared state lives.
type Store struct {
	// Kind is "memory" (one process, nothing survives a restart) or "redis"
	// (production; several instances share it); zero: default memory.
	Kind  string `yaml:"kind"`
	Redis Redis  `yaml:"redis"`
}

// Redis configures the go-redis UniversalClient: one address for a single
// server, several for a Cluster, MasterName for Sentinel. Its values are
// checked whatever the store's kind.
type Redis struct {
	Addrs        []string      `yaml:"addrs"` // host:port each; at least one with store.kind redis
	MasterName   string        `yaml:"masterName"`
	Username     string        `yaml:"username"`
	Password     Secret        `yaml:"password"`
	PasswordFile string        `yaml:"passwordFile" env:"PASSWORD_FILE"` // instead of password: a file holding it
	DB           int           `yaml:"db"`                               // not negative; 0 for a Cluster
	KeyPrefix    string        `yaml:"keyPrefix"`                        // without braces; zero: default "dvc:"
	DialTimeout  time.Duration `yaml:"dialTimeout"`                      // zero: default 1s
	ReadTimeout  time.Duration `yaml:"readTimeout"`                      // zero: default 1s
	WriteTimeout time.Duration `yaml:"writeTimeout"`                     // zero: default 1s
	PoolSize     int           `yaml:"poolSize"`                         // zero: default 64
	// MinReplicas is how many replicas must acknowledge a write the
	// adapter acknowledges to a caller (a callback's 202, a completed
	// idempotency record, a dossier claim before the treasury send) before
	// it answers: WAIT after the write, on the key's primary. Not negative;
	// zero (the default) does not wait.
	MinReplicas int `yaml:"minReplicas"`
	// ReplicaTimeout bounds that wait; at least 1ms and less than
	// readTimeout. Zero: default 500ms when minReplicas is above zero.
	ReplicaTimeout time.Duration `yaml:"replicaTimeout"`
	// MaxClockSkew is how far the adapter's clock may be from the Redis
	// server's before /readyz fails: leases, retry times and expiries one
	// instance writes are read on another's clock, so instances must agree
	// (Redis's clock is the common reference). Zero: default 5s; negative:
	// not checked (a deployment whose Redis clock is not to be trusted).
	MaxClockSkew time.Duration `yaml:"maxClockSkew"`
}

// Idempotency configures the exactly-once records.
type Idempotency struct {
	Retention        time.Duration `yaml:"retention"`        // completed keys, at least 1h; zero: default 72h
	DossierRetention time.Duration `yaml:"dossierRetention"` // sent-dossier claims, at least retention; zero: default 720h
	// Lease is how long a request holds its key and dossier before another
	// attempt may take over; longer than every procedure's deadline. Zero:
	// default the longest procedure deadline + 10s.
	Lease time.Duration `yaml:"lease"`
}

// Withdrawal configures the units' withdrawals of dossiers.
type Withdrawal struct {
	// MaxAgeDays refuses a withdrawal whose signed request date
	// (ngayYeuCau) is more than this many days before the day it is
	// received (Asia/Ho_Chi_Minh), so a signed withdrawal replayed months
	// later is of no use; 0 to 366, or -1 for no limit. A request date
	// after the receipt day is always refused. Zero: default 30.
	MaxAgeDays int `yaml:"maxAgeDays"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error; zero: default info
}

// EnvPrefix prefixes every environment override.
const EnvPrefix = "DVC_"

// Load reads YAML strictly, applies environment overrides from env (nil
// means none), fills defaults and validates: an invalid configuration gives
// an *Error naming every invalid key.
func Load(raw []byte, env func(string) (string, bool)) (*Config, error) {
	var c Config
	c.Signatures.RequireRegistered = true // a default a missing key keeps
	c.Signatures.Revocation.FetchCRLs = true
	c.Evidence.Enabled, c.Evidence.ForwardOriginal = true, true
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
		if err := applyEnv(reflect.ValueOf(&c).Elem(), EnvPrefix, "", env); err != nil {
			return nil, err
		}
	} else {
		env = func(string) (string, bool) { return "", false }
	}
	read := c.readSecretFiles(env)
	c.defaults()
	err := c.Validate()
	if len(read) == 0 {
		if err != nil {
			return nil, err
		}
		return &c, nil
	}
	// A file that could not be read is named once, by its own problem.
	ps := read
	if ce, ok := err.(*Error); ok {
		for _, p := range ce.Problems {
			if !slices.ContainsFunc(read, func(r Problem) bool { return r.Key == p.Key }) {
				ps = append(ps, p)
			}
		}
	}
	return nil, &Error{Problems: ps}
}

// secretFile is a secret key and the …File key that may give it instead.
type secretFile struct {
	key    string // the secret's key: treasury.clientSecret
	secret *Secret
	file   *string // the …File key's value
	env    string  // the secret's environment variable; "" when it has none
}

// secretFiles lists every secret that a …File key may give.
func (c *Config) secretFiles() []secretFile {
	out := []secretFile{
		{"treasury.clientSecret", &c.Treasury.ClientSecret, &c.Treasury.ClientSecretFile, "DVC_TREASURY_CLIENTSECRET"},
		{"store.redis.password", &c.Store.Redis.Password, &c.Store.Redis.PasswordFile, "DVC_STORE_REDIS_PASSWORD"},
		{"portal.password", &c.Portal.Password, &c.Portal.PasswordFile, "DVC_PORTAL_PASSWORD"},
		{"portal.clientSecret", &c.Portal.ClientSecret, &c.Portal.ClientSecretFile, "DVC_PORTAL_CLIENTSECRET"},
	}
	for _, l := range []struct {
		key    string
		tokens []BearerToken
	}{{"auth.bearerTokens", c.Auth.BearerTokens}, {"auth.adminTokens", c.Auth.AdminTokens}} {
		for i := range l.tokens {
			out = append(out, secretFile{fmt.Sprintf("%s[%d].token", l.key, i), &l.tokens[i].Token, &l.tokens[i].TokenFile, ""})
		}
	}
	return out
}

// readSecretFiles replaces every secret given by a …File key with the
// file's content, trailing newlines trimmed, and appends the contents of
// callbacks.secretFiles to callbacks.secrets. A secret and its file are
// never both given in one place; a file named in the environment
// (DVC_…_FILE) replaces a secret written in the YAML file. The problems name
// the …File key and never hold a file's content.
func (c *Config) readSecretFiles(env func(string) (string, bool)) problems {
	var ps problems
	envOnly := func(v string) bool {
		_, file := env(v + "_FILE")
		_, inline := env(v)
		return v != "" && file && !inline
	}
	for _, sf := range c.secretFiles() {
		if *sf.file == "" {
			continue
		}
		fileKey := sf.key + "File"
		if envOnly(sf.env) {
			*sf.secret = ""
		}
		if *sf.secret != "" {
			ps.badf(fileKey, "give %s or %s, not both", sf.key, fileKey)
			continue
		}
		if v, ok := ps.readSecret(fileKey, *sf.file); ok {
			*sf.secret = v
		}
	}
	if len(c.Callbacks.SecretFiles) > 0 && envOnly("DVC_CALLBACKS_SECRETS") {
		c.Callbacks.Secrets = nil
	}
	for i, f := range c.Callbacks.SecretFiles {
		v, _ := ps.readSecret(fmt.Sprintf("callbacks.secretFiles[%d]", i), f)
		c.Callbacks.Secrets = append(c.Callbacks.Secrets, v)
	}
	return ps
}

// readSecret reads the secret in the file at path, without its trailing
// newlines; a problem names key.
func (ps *problems) readSecret(key, path string) (Secret, bool) {
	if strings.TrimSpace(path) == "" {
		ps.bad(key, "must be a file path")
		return "", false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		ps.bad(key, "cannot read the file: "+err.Error())
		return "", false
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), true
}

// secretKey is the key a problem with a secret names: its …File key when
// a file gave it.
func secretKey(key, file string) string {
	if file != "" {
		return key + "File"
	}
	return key
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
	if len(c.DossierCodes) == 0 {
		c.DossierCodes = DefaultDossierCodes()
	}
	if c.Server.Addr == "" {
		c.Server.Addr = "127.0.0.1:8080"
	}
	if c.Server.AdminAddr == "" {
		c.Server.AdminAddr = "127.0.0.1:8090"
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = 16 << 20
	}
	def(&c.Server.ReadTimeout, 30*time.Second)
	def(&c.Server.WriteTimeout, 60*time.Second)
	def(&c.Server.ShutdownTimeout, 20*time.Second)
	if c.Server.TLS.MinVersion == "" {
		c.Server.TLS.MinVersion = "1.2"
	}
	def(&c.Server.TLS.ReloadInterval, 5*time.Second)
	for _, m := range []struct {
		mode *string
		def  string
	}{{&c.Auth.Submissions, "bearer"}, {&c.Auth.Callbacks, "webhook"}, {&c.Auth.Admin, "bearer"}} {
		if *m.mode == "" {
			*m.mode = m.def
		}
	}
	def(&c.Treasury.Timeout, 10*time.Second)
	if c.Treasury.InlineAttachmentBytes == 0 {
		c.Treasury.InlineAttachmentBytes = 64 << 10
	}
	c.Treasury.Resilience.defaults()
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
	if c.Store.Redis.MinReplicas > 0 {
		def(&c.Store.Redis.ReplicaTimeout, 500*time.Millisecond)
	}
	def(&c.Store.Redis.MaxClockSkew, 5*time.Second)
	def(&c.Callbacks.Tolerance, 5*time.Minute)
	if c.Portal.Transport == "" {
		c.Portal.Transport = "session"
	}
	def(&c.Portal.Timeout, 10*time.Second)
	if len(c.Portal.ErrorCodes.SessionExpired) == 0 {
		c.Portal.ErrorCodes.SessionExpired = []string{"-1"}
	}
	if c.Portal.ErrorCodes.Default == "" {
		c.Portal.ErrorCodes.Default = "permanent"
	}
	if c.Portal.LoaiDoiTuong == "" {
		c.Portal.LoaiDoiTuong = "2"
	}
	if c.Portal.HinhThuc == "" {
		c.Portal.HinhThuc = "0"
	}
	c.Portal.Resilience.defaults()
	if c.Delivery.Workers == 0 {
		c.Delivery.Workers = 4
	}
	def(&c.Delivery.Lease, 2*time.Minute)
	if len(c.Delivery.Schedule) == 0 {
		c.Delivery.Schedule = nil // the outbox's standard schedule
	}
	def(&c.Delivery.MinSpan, 72*time.Hour)
	def(&c.Delivery.UncertainWait, 2*time.Minute)
	def(&c.Idempotency.Retention, 72*time.Hour)
	def(&c.Idempotency.DossierRetention, 720*time.Hour)
	longest := time.Duration(0)
	for id, p := range c.Procedures {
		def(&p.Deadline, 20*time.Second)
		if p.UnitPath == "" {
			p.UnitPath = "maDVQHNS"
		}
		c.Procedures[id] = p
		longest = max(longest, p.Deadline)
	}
	def(&c.Idempotency.Lease, longest+10*time.Second)
	if len(c.Signatures.JWSAlgorithms) == 0 {
		c.Signatures.JWSAlgorithms = []string{"RS256", "ES256"}
	}
	if c.Signatures.XMLVerifier == "" {
		c.Signatures.XMLVerifier = "fast"
	}
	if c.Signatures.MaxSignatures == 0 {
		c.Signatures.MaxSignatures = 4
	}
	if c.Signatures.Revocation.OCSP == "" {
		c.Signatures.Revocation.OCSP = "prefer"
	}
	if c.Signatures.Revocation.OnUnavailable == "" {
		c.Signatures.Revocation.OnUnavailable = "fail"
	}
	def(&c.Signatures.Revocation.Timeout, 5*time.Second)
	if c.Limits.MaxDepth == 0 {
		c.Limits.MaxDepth = 32
	}
	if c.Limits.MaxElements == 0 {
		c.Limits.MaxElements = 200_000
	}
	if c.Limits.LargeBodyBytes == 0 {
		c.Limits.LargeBodyBytes = 256 << 10
	}
	if c.Limits.LargeBodyConcurrency == 0 {
		c.Limits.LargeBodyConcurrency = 2
	}
	def(&c.Limits.LargeBodyWait, 2*time.Second)
	if c.Limits.UploadConcurrency == 0 {
		c.Limits.UploadConcurrency = 8
	}
	c.Attachments.defaults(c.Store.Kind)
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Evidence.Instance == "" {
		if h, err := os.Hostname(); err == nil {
			c.Evidence.Instance = instanceName(h)
		}
	}
	if c.Withdrawal.MaxAgeDays == 0 {
		c.Withdrawal.MaxAgeDays = 30
	}
	def(&c.Evidence.CheckpointInterval, time.Second)
	if c.Evidence.SegmentBytes == 0 {
		c.Evidence.SegmentBytes = 64 << 20
	}
}

// instanceName makes a host name a valid evidence.instance: the first
// label, characters outside A-Z a-z 0-9 . _ - dropped, at most 64.
func instanceName(host string) string {
	host, _, _ = strings.Cut(host, ".")
	var b strings.Builder
	for _, r := range host {
		if r < 0x80 && instancePattern.MatchString(string(r)) {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

var instancePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// defaults fills the zero fields with adapter/upstream's defaults, so that
// the loaded configuration shows the values in force.
func (r *Resilience) defaults() {
	d := r.Settings().WithDefaults()
	r.Window, r.MinRequests, r.FailureRatio, r.OpenTimeout = d.Window, d.MinRequests, d.FailureRatio, d.OpenTimeout
	r.HalfOpenMax, r.MaxConcurrent, r.Retries = d.HalfOpenMax, d.MaxConcurrent, d.Retries
	r.BaseDelay, r.MaxDelay = d.BaseDelay, d.MaxDelay
}

// Problem is one invalid key.
type Problem struct {
	Key    string // the full key: "portal.resilience.failureRatio", "procedures.tai-khoan.code"
	Reason string // what a valid value is
}

// Error lists every invalid key of a configuration in a stable order: the
// sections and keys in the order of Config's fields, map keys (procedure
// ids, certificate titles) sorted, list items by index. Each line reads
// "config: <key>: <reason>".
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "config: " + p.Key + ": " + p.Reason
	}
	return strings.Join(lines, "\n")
}

// problems collects the invalid keys found by Validate.
type problems []Problem

func (ps *problems) bad(key, reason string) { *ps = append(*ps, Problem{Key: key, Reason: reason}) }

func (ps *problems) badf(key, format string, args ...any) { ps.bad(key, fmt.Sprintf(format, args...)) }

// positive checks a duration whose zero value Load replaces by a default.
func (ps *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		ps.bad(key, "must be a positive duration (zero means the default)")
	}
}

func (ps *problems) httpURL(key, raw string) {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.bad(key, "must be an absolute http(s) URL")
	}
}

func (ps *problems) required(key, v string) {
	if strings.TrimSpace(v) == "" {
		ps.bad(key, "must be set")
	}
}

// hostPort checks a "host:port" address; the host may be empty (every
// interface, or localhost for a client).
func (ps *problems) hostPort(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		ps.bad(key, "must be host:port with a numeric port")
	}
}

// listPath is a fieldPath whose names may end in "[]" (every element).
var listPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\[\])?(/[A-Za-z_][A-Za-z0-9_]*(\[\])?)*$`)

var fieldPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$`)

var procedureID = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)

// Validate checks c as Load leaves it (defaults filled) and returns nil or an
// *Error naming every invalid key, in a stable order.
func (c *Config) Validate() error {
	var ps problems
	c.validateServer(&ps)
	c.validateAuth(&ps)
	c.validateSignatures(&ps)
	c.validateLimits(&ps)
	c.validateAttachments(&ps)
	c.validateTreasury(&ps)
	c.validateStore(&ps)
	c.validateIdempotency(&ps)
	if d := c.Withdrawal.MaxAgeDays; d < -1 || d > 366 {
		ps.bad("withdrawal.maxAgeDays", "must be between 0 and 366 days, or -1 for no limit")
	}
	c.validateCallbacks(&ps)
	c.validatePortal(&ps)
	c.validateDelivery(&ps)
	c.validateProcedures(&ps)
	c.validateCalendar(&ps)
	c.validateDossierCodes(&ps)
	c.validateLog(&ps)
	c.validateEvidence(&ps)
	if len(ps) == 0 {
		return nil
	}
	return &Error{Problems: ps}
}

// validateDossierCodes checks each dossier code format: a regular
// expression anchored at both ends.
func (c *Config) validateDossierCodes(ps *problems) {
	for i, p := range c.DossierCodes {
		k := fmt.Sprintf("dossierCodes[%d]", i)
		if _, err := regexp.Compile(p); err != nil {
			ps.badf(k, "not a regular expression: %v", err)
			continue
		}
		if !strings.HasPrefix(p, "^") || !strings.HasSuffix(p, "$") {
			ps.bad(k, "must be anchored: start with ^ and end with $")
		}
	}
}

// procedureIDs returns the procedure ids sorted.
func (c *Config) procedureIDs() []string {
	ids := make([]string, 0, len(c.Procedures))
	for id := range c.Procedures {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// longestDeadline returns the procedure with the longest deadline (the
// first in id order among equals); ok is false without procedures.
func (c *Config) longestDeadline() (id string, d time.Duration, ok bool) {
	for _, pid := range c.procedureIDs() {
		if p := c.Procedures[pid]; !ok || p.Deadline > d {
			id, d, ok = pid, p.Deadline, true
		}
	}
	return id, d, ok
}

func (c *Config) validateServer(ps *problems) {
	s := c.Server
	ps.hostPort("server.addr", s.Addr)
	ps.hostPort("server.adminAddr", s.AdminAddr)
	if s.AdminAddr == s.Addr && !strings.HasSuffix(s.Addr, ":0") {
		ps.bad("server.adminAddr", "must differ from server.addr: operators' routes are never on the public listener")
	}
	if s.MaxBodyBytes < 1024 {
		ps.bad("server.maxBodyBytes", "must be at least 1024")
	}
	ps.positive("server.readTimeout", s.ReadTimeout)
	ps.positive("server.writeTimeout", s.WriteTimeout)
	if id, d, ok := c.longestDeadline(); ok && s.WriteTimeout > 0 && s.WriteTimeout <= d {
		ps.badf("server.writeTimeout", "must be longer than procedures.%s.deadline (%s), or a slow treasury call loses its answer", id, d)
	}
	ps.positive("server.shutdownTimeout", s.ShutdownTimeout)
	validateTLS(ps, s.TLS)
}

// validateTLS checks the listeners' TLS: the pair loads (both files, the
// key matching the certificate), a known minimum version.
func validateTLS(ps *problems, t TLS) {
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		ps.bad("server.tls.certFile", "must be set with server.tls.keyFile")
	case t.CertFile != "" && t.KeyFile == "":
		ps.bad("server.tls.keyFile", "must be set with server.tls.certFile")
	case t.CertFile != "":
		if _, err := os.Stat(t.CertFile); err != nil {
			ps.bad("server.tls.certFile", "cannot read the file: "+err.Error())
		} else if _, err := os.Stat(t.KeyFile); err != nil {
			ps.bad("server.tls.keyFile", "cannot read the file: "+err.Error())
		} else if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			ps.bad("server.tls.keyFile", "the certificate and key do not load as a pair: "+err.Error())
		}
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		ps.bad("server.tls.minVersion", `must be "1.2" or "1.3"`)
	}
	ps.positive("server.tls.reloadInterval", t.ReloadInterval)
	if t.ClientCAFile != "" {
		if t.CertFile == "" {
			ps.bad("server.tls.clientCAFile", "needs server.tls.certFile: mutual TLS is TLS")
		} else if b, err := os.ReadFile(t.ClientCAFile); err != nil {
			ps.bad("server.tls.clientCAFile", "cannot read the file: "+err.Error())
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			ps.bad("server.tls.clientCAFile", "holds no PEM certificate")
		}
	}
	seen := map[string]string{} // subject or URI -> the key of its first client
	for i, cl := range t.Clients {
		k := fmt.Sprintf("server.tls.clients[%d]", i)
		if t.ClientCAFile == "" {
			ps.bad(k, "needs server.tls.clientCAFile: no client certificate is verified without it")
			continue
		}
		ps.required(k+".name", cl.Name)
		if !validCallerName(cl.Name) {
			ps.bad(k+".name", callerNameRule)
		}
		id := ""
		switch {
		case (cl.Subject == "") == (cl.URI == ""):
			ps.bad(k, "give subject or uri, one of them")
		case cl.Subject != "":
			if dn, err := tlsconf.ParseDN(cl.Subject); err != nil {
				ps.bad(k+".subject", `must be a distinguished name "TYPE=value,TYPE=value" (RFC 4514), e.g. "CN=portal,O=Example,C=VN": `+err.Error())
			} else {
				id = "subject " + dn.String()
			}
		default:
			if u, err := url.Parse(cl.URI); err != nil || u.Scheme == "" || strings.TrimSpace(cl.URI) != cl.URI {
				ps.bad(k+".uri", "must be an absolute URI, e.g. spiffe://dvc.example.vn/portal")
			}
			id = "uri " + cl.URI
		}
		if first, dup := seen[id]; dup && id != "" {
			ps.badf(k, "the same %s as %s", id, first)
		} else {
			seen[id] = k
		}
		switch cl.Group {
		case "submissions", "callbacks", "admin":
		default:
			ps.bad(k+".group", "must be submissions, callbacks or admin")
		}
	}
}

// validateModes checks each route group's authentication mode against what
// it needs: a client certificate mode needs server.tls.clientCAFile and,
// unless a credential may stand in (either), a client of the group.
func (c *Config) validateModes(ps *problems) {
	for _, g := range []struct{ group, mode, credential string }{
		{"submissions", c.Auth.Submissions, "bearer"}, {"callbacks", c.Auth.Callbacks, "webhook"}, {"admin", c.Auth.Admin, "bearer"}} {
		k := "auth." + g.group
		switch g.mode {
		case g.credential:
			continue
		case "mtls", "either", "both":
		default:
			ps.badf(k, "must be %s, mtls, either or both", g.credential)
			continue
		}
		if c.Server.TLS.ClientCAFile == "" {
			ps.badf(k, "%s needs server.tls.clientCAFile (and server.tls.clients)", g.mode)
			continue
		}
		if g.mode == "either" {
			continue
		}
		n := 0
		for _, cl := range c.Server.TLS.Clients {
			if cl.Group == g.group {
				n++
			}
		}
		if n == 0 {
			ps.badf(k, "%s needs at least one of server.tls.clients in group %s", g.mode, g.group)
		}
	}
}

// validToken reports whether a bearer token can be sent and compared as it is.
func validToken(t string) bool {
	if len(t) < 16 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

func (c *Config) validateAuth(ps *problems) {
	if len(c.Auth.BearerTokens) == 0 && c.Auth.Submissions != "mtls" {
		ps.bad("auth.bearerTokens", "at least one caller credential is required (unless auth.submissions is mtls)")
	}
	c.validateModes(ps)
	tokens := map[Secret]string{} // token -> the key of its first holder
	for _, list := range []struct {
		key    string
		tokens []BearerToken
	}{{"auth.bearerTokens", c.Auth.BearerTokens}, {"auth.adminTokens", c.Auth.AdminTokens}} {
		names := map[string]bool{}
		for i, t := range list.tokens {
			k := fmt.Sprintf("%s[%d]", list.key, i)
			switch {
			case strings.TrimSpace(t.Name) == "":
				ps.bad(k+".name", "must be set")
			case names[t.Name]:
				ps.badf(k+".name", "%q is already the name of an earlier token of %s", t.Name, list.key)
			case !validCallerName(t.Name):
				ps.bad(k+".name", callerNameRule)
			}
			names[t.Name] = true
			validateUnits(ps, list.key, k+".units", t.Units)
			tk := secretKey(k+".token", t.TokenFile)
			switch first, dup := tokens[t.Token]; {
			case !validToken(string(t.Token)):
				ps.bad(tk, "must be at least 16 visible ASCII characters, without spaces")
			case dup:
				ps.badf(tk, "must differ from %s", first)
			default:
				tokens[t.Token] = tk
			}
		}
	}
}

// unitCode is a budget unit code (maDVQHNS): 7 digits, as the listing's
// unit filter (adapter/dossier) takes it.
var unitCode = regexp.MustCompile(`^[0-9]{7}$`)

// validateUnits checks the units of a caller: only auth.bearerTokens take
// any, each a budget unit code, listed once.
func validateUnits(ps *problems, list, key string, units []string) {
	if list != "auth.bearerTokens" {
		if len(units) > 0 {
			ps.bad(key, "operators see every unit; units are for auth.bearerTokens only")
		}
		return
	}
	seen := map[string]bool{}
	for i, u := range units {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case !unitCode.MatchString(u):
			ps.badf(k, "%q is not a budget unit code (maDVQHNS, 7 digits)", u)
		case seen[u]:
			ps.badf(k, "%s is listed twice", u)
		}
		seen[u] = true
	}
}

// jwsAlgorithms are the JWS algorithms the verifier may be allowed.
var jwsAlgorithms = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "ES256": true, "ES384": true, "PS256": true}

func (c *Config) validateSignatures(ps *problems) {
	s := c.Signatures
	if len(s.TrustRoots) == 0 {
		ps.bad("signatures.trustRoots", "at least one trusted CA is required")
	}
	for _, l := range []struct {
		key   string
		files []string
	}{{"signatures.trustRoots", s.TrustRoots}, {"signatures.intermediates", s.Intermediates}, {"signatures.crls", s.CRLs}} {
		for i, f := range l.files {
			if strings.TrimSpace(f) == "" {
				ps.badf(fmt.Sprintf("%s[%d]", l.key, i), "must be a file path")
			}
		}
	}
	titles := make([]string, 0, len(s.Roles))
	for t := range s.Roles {
		titles = append(titles, t)
	}
	sort.Strings(titles)
	normal := map[string]string{} // title in NFC -> the title as written
	for _, t := range titles {
		k := fmt.Sprintf("signatures.roles[%q]", t)
		if strings.TrimSpace(t) == "" {
			ps.bad(k, "the certificate title must not be empty")
		} else if strings.TrimSpace(s.Roles[t]) == "" {
			ps.bad(k, "the role must not be empty")
		}
		// Titles are matched in Unicode normalization form C: two spellings
		// of one title would make which role wins depend on map order.
		if first, dup := normal[text.NFC(t)]; dup {
			ps.badf(k, "the same title as %q once normalized (NFC); list it once", first)
		}
		normal[text.NFC(t)] = t
	}
	for i, a := range s.JWSAlgorithms {
		if !jwsAlgorithms[a] {
			ps.badf(fmt.Sprintf("signatures.jwsAlgorithms[%d]", i), "%q is not an accepted JWS algorithm (RS256, RS384, RS512, ES256, ES384, PS256)", a)
		}
	}
	if s.MaxSignatures < 1 || s.MaxSignatures > 8 {
		ps.bad("signatures.maxSignatures", "must be between 1 and 8")
	}
	if s.XMLVerifier != "fast" && s.XMLVerifier != "reference" {
		ps.bad("signatures.xmlVerifier", `must be "fast" or "reference"`)
	}
	if strings.TrimSpace(s.RegisteredSeed) != s.RegisteredSeed {
		ps.bad("signatures.registeredSeed", `must be "embedded" or a file path, without surrounding spaces (empty: no seed)`)
	}
	validateRevocation(ps, s.Revocation)
}

func validateRevocation(ps *problems, r Revocation) {
	switch r.OCSP {
	case "require", "prefer", "off":
	default:
		ps.bad("signatures.revocation.ocsp", "must be require, prefer or off")
	}
	if r.OCSPURL != "" {
		ps.httpURL("signatures.revocation.ocspURL", r.OCSPURL)
		if r.OCSP == "off" {
			ps.bad("signatures.revocation.ocspURL", "is set but signatures.revocation.ocsp is off")
		}
	}
	switch r.OnUnavailable {
	case "fail", "allow":
	default:
		ps.bad("signatures.revocation.onUnavailable", "must be fail or allow")
	}
	if r.Timeout <= 0 || r.Timeout > time.Minute {
		ps.bad("signatures.revocation.timeout", "must be a positive duration of at most 1m (zero means the default 5s)")
	}
	if r.MaxAge < 0 || r.MaxAge > time.Hour {
		ps.bad("signatures.revocation.maxAge", "must be between 0 (not reused) and 1h")
	}
}

func (c *Config) validateLimits(ps *problems) {
	if c.Limits.MaxDepth < 4 || c.Limits.MaxDepth > 256 {
		ps.bad("limits.maxDepth", "must be between 4 and 256")
	}
	if c.Limits.MaxElements < 100 {
		ps.bad("limits.maxElements", "must be at least 100")
	}
	if c.Limits.LargeBodyBytes < 1<<10 || c.Limits.LargeBodyBytes > 1<<30 {
		ps.bad("limits.largeBodyBytes", "must be between 1 KiB (1024) and 1 GiB")
	}
	if c.Limits.LargeBodyConcurrency < 1 || c.Limits.LargeBodyConcurrency > 1024 {
		ps.bad("limits.largeBodyConcurrency", "must be between 1 and 1024")
	}
	if c.Limits.LargeBodyWait < 0 || c.Limits.LargeBodyWait > time.Minute {
		ps.bad("limits.largeBodyWait", "must be between 0s and 1m")
	}
	if c.Limits.UploadConcurrency < 1 || c.Limits.UploadConcurrency > 1024 {
		ps.bad("limits.uploadConcurrency", "must be between 1 and 1024")
	}
}

// leastStored is the smallest attachments.maxStoredBytes: one request's
// files at maxTotalBytes, as many as maxParts, each with what the store
// counts beside its bytes (attachment.Charge).
func (a *Attachments) leastStored() int64 {
	return a.MaxTotalBytes + int64(max(a.MaxParts, 1))*attachment.FileOverhead
}

func (a *Attachments) defaults(storeKind string) {
	defer func() {
		if a.MaxStoredBytes == 0 {
			a.MaxStoredBytes = 8 * a.MaxTotalBytes
			if storeKind == "redis" {
				a.MaxStoredBytes = 2 << 30
			}
			// never under what validation asks: one request's files with their overhead
			a.MaxStoredBytes = max(a.MaxStoredBytes, a.leastStored())
		}
	}()
	if a.MaxFileBytes == 0 {
		a.MaxFileBytes = 20 << 20
	}
	if a.MaxTotalBytes == 0 {
		a.MaxTotalBytes = 50 << 20
	}
	if a.MaxParts == 0 {
		a.MaxParts = 20
	}
	if a.Retention == 0 {
		a.Retention = 24 * time.Hour
	}
}

func (c *Config) validateAttachments(ps *problems) {
	a := c.Attachments
	if a.MaxFileBytes < 1<<10 || a.MaxFileBytes > 1<<30 {
		ps.bad("attachments.maxFileBytes", "must be between 1024 (1 KiB) and 1073741824 (1 GiB)")
	}
	if a.MaxTotalBytes < a.MaxFileBytes || a.MaxTotalBytes > 4<<30 {
		ps.bad("attachments.maxTotalBytes", "must be at least attachments.maxFileBytes and at most 4294967296 (4 GiB)")
	}
	if a.MaxParts < 1 || a.MaxParts > 100 {
		ps.bad("attachments.maxParts", "must be between 1 and 100")
	}
	if a.Retention < time.Minute || a.Retention > 30*24*time.Hour {
		ps.bad("attachments.retention", "must be between 1m and 720h (30 days)")
	}
	// The store counts each file's overhead too (attachment.Charge): it must hold one
	// request's files, as many as maxParts, at maxTotalBytes.
	least := a.leastStored()
	if a.MaxStoredBytes < least || a.MaxStoredBytes > 1<<40 {
		ps.bad("attachments.maxStoredBytes", fmt.Sprintf("must be at least attachments.maxTotalBytes plus %d bytes for each of attachments.maxParts files (%d here) and at most 1099511627776 (1 TiB)",
			attachment.FileOverhead, least))
	}
}

func (c *Config) validateTreasury(ps *problems) {
	t := c.Treasury
	ps.httpURL("treasury.baseURL", t.BaseURL)
	ps.required("treasury.clientID", t.ClientID)
	ps.required(secretKey("treasury.clientSecret", t.ClientSecretFile), string(t.ClientSecret))
	ps.positive("treasury.timeout", t.Timeout)
	if t.InlineAttachmentBytes < -1 || t.InlineAttachmentBytes > MaxInlineAttachmentBytes {
		ps.badf("treasury.inlineAttachmentBytes", "must be -1 (every file uploaded), 0 (the default, 65536) or at most %d", MaxInlineAttachmentBytes)
	}
	validateResilience(ps, "treasury.resilience", t.Resilience)
	validateClientTLS(ps, "treasury", t.TLS, []string{"baseURL"}, []string{t.BaseURL})
}

// validateResilience applies upstream.Settings.Validate, the rules NewGroup
// enforces, and names each field by its key.
func validateResilience(ps *problems, prefix string, r Resilience) {
	err := r.Settings().Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *upstream.FieldError
		if !errors.As(e, &fe) {
			ps.bad(prefix, e.Error())
			continue
		}
		ps.bad(prefix+"."+strings.ToLower(fe.Field[:1])+fe.Field[1:], fe.Reason)
	}
}

func (c *Config) validateStore(ps *problems) {
	switch c.Store.Kind {
	case "memory", "redis":
	default:
		ps.bad("store.kind", "must be memory or redis")
	}
	r := c.Store.Redis
	if c.Store.Kind == "redis" && len(r.Addrs) == 0 {
		ps.bad("store.redis.addrs", "at least one address is required when store.kind is redis")
	}
	for i, a := range r.Addrs {
		ps.hostPort(fmt.Sprintf("store.redis.addrs[%d]", i), a)
	}
	switch {
	case r.DB < 0:
		ps.bad("store.redis.db", "must not be negative")
	case r.DB != 0 && r.MasterName == "" && len(r.Addrs) > 1:
		ps.bad("store.redis.db", "must be 0 with several addrs (a Redis Cluster has only database 0)")
	}
	switch {
	case r.KeyPrefix == "":
		ps.bad("store.redis.keyPrefix", "must be set")
	case strings.ContainsAny(r.KeyPrefix, "{}"):
		ps.bad("store.redis.keyPrefix", "must not contain braces (keys carry their own Cluster hash tags)")
	}
	ps.positive("store.redis.dialTimeout", r.DialTimeout)
	ps.positive("store.redis.readTimeout", r.ReadTimeout)
	ps.positive("store.redis.writeTimeout", r.WriteTimeout)
	if r.PoolSize <= 0 {
		ps.bad("store.redis.poolSize", "must be positive (zero means the default)")
	}
	if r.MinReplicas < 0 {
		ps.bad("store.redis.minReplicas", "must not be negative (zero means no wait for replicas)")
	}
	switch {
	case r.ReplicaTimeout < 0:
		ps.bad("store.redis.replicaTimeout", "must not be negative")
	case r.ReplicaTimeout > 0 && r.ReplicaTimeout < time.Millisecond:
		ps.bad("store.redis.replicaTimeout", "must be at least 1ms (WAIT counts in milliseconds)")
	case r.ReplicaTimeout > 0 && r.ReadTimeout > 0 && r.ReplicaTimeout >= r.ReadTimeout:
		ps.bad("store.redis.replicaTimeout", fmt.Sprintf("must be less than store.redis.readTimeout (%v), so that WAIT answers before the client gives up", r.ReadTimeout))
	}
	if r.PasswordFile != "" && r.Password == "" {
		ps.bad("store.redis.passwordFile", "the file is empty: leave passwordFile out for no password")
	}
}

func (c *Config) validateIdempotency(ps *problems) {
	i := c.Idempotency
	if i.Retention < time.Hour {
		ps.bad("idempotency.retention", "must be at least 1h")
	}
	if i.DossierRetention < i.Retention {
		ps.bad("idempotency.dossierRetention", "must be at least idempotency.retention")
	}
	ps.positive("idempotency.lease", i.Lease)
	if id, d, ok := c.longestDeadline(); ok && i.Lease > 0 && i.Lease <= d {
		ps.badf("idempotency.lease", "must be longer than procedures.%s.deadline (%s)", id, d)
	}
}

func (c *Config) validateCallbacks(ps *problems) {
	if len(c.Callbacks.Secrets) == 0 && c.Auth.Callbacks != "mtls" {
		ps.bad("callbacks.secrets", "at least one Standard Webhooks secret (whsec_...) is required")
	}
	// Load appended the files' contents: the last len(secretFiles) secrets.
	inline := len(c.Callbacks.Secrets) - len(c.Callbacks.SecretFiles)
	for i, sec := range c.Callbacks.Secrets {
		k := fmt.Sprintf("callbacks.secrets[%d]", i)
		if i >= inline {
			k = fmt.Sprintf("callbacks.secretFiles[%d]", i-inline)
		}
		if _, err := webhook.ParseSecret(sec.Reveal()); err != nil {
			ps.badf(k, "must be whsec_ followed by the base64 of at least %d bytes", webhook.MinSecretBytes)
		}
	}
	ps.positive("callbacks.tolerance", c.Callbacks.Tolerance)
}

func (c *Config) validatePortal(ps *problems) {
	p := c.Portal
	switch p.Transport {
	case "session":
		ps.required("portal.username", p.Username)
		ps.required(secretKey("portal.password", p.PasswordFile), string(p.Password))
	case "bearer":
		ps.httpURL("portal.tokenURL", p.TokenURL)
		ps.required("portal.clientID", p.ClientID)
		ps.required(secretKey("portal.clientSecret", p.ClientSecretFile), string(p.ClientSecret))
	default:
		ps.bad("portal.transport", "must be session or bearer")
	}
	ps.httpURL("portal.url", p.URL)
	ps.required("portal.maDonVi", p.MaDonVi)
	ps.positive("portal.timeout", p.Timeout)
	if p.AuthURL != "" {
		if p.Transport != "session" {
			ps.bad("portal.authURL", "is only used with portal.transport session; leave it empty")
		} else {
			ps.httpURL("portal.authURL", p.AuthURL)
		}
	}
	if !validDstCode(p.DstCode) {
		ps.bad("portal.dstCode", "must be visible ASCII without spaces, at most 128 characters")
	}
	validateErrorCodes(ps, p.ErrorCodes)
	if p.LoaiDoiTuong != "1" && p.LoaiDoiTuong != "2" {
		ps.bad("portal.loaiDoiTuong", `must be "1" (citizen) or "2" (organisation)`)
	}
	if p.HinhThuc != "0" && p.HinhThuc != "1" {
		ps.bad("portal.hinhThuc", `must be "0" or "1"`)
	}
	validateResilience(ps, "portal.resilience", p.Resilience)
	validateClientTLS(ps, "portal", p.TLS, []string{"url", "tokenURL", "authURL"}, []string{p.URL, p.TokenURL, p.AuthURL})
}

// validDstCode reports whether v can be sent as the dstcode header as it is.
func validDstCode(v string) bool {
	if len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// validateClientTLS checks an upstream's TLS: the CA bundle holds
// certificates, the client pair loads, and the upstream's URLs (those set)
// are https when any TLS key is.
func validateClientTLS(ps *problems, section string, t ClientTLS, urlKeys, urls []string) {
	k := section + ".tls."
	if t.CAFile != "" {
		if b, err := os.ReadFile(t.CAFile); err != nil {
			ps.bad(k+"caFile", "cannot read the file: "+err.Error())
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			ps.bad(k+"caFile", "holds no PEM certificate")
		}
	}
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		ps.bad(k+"certFile", "must be set with "+k+"keyFile")
	case t.CertFile != "" && t.KeyFile == "":
		ps.bad(k+"keyFile", "must be set with "+k+"certFile")
	case t.CertFile != "":
		if _, err := os.Stat(t.CertFile); err != nil {
			ps.bad(k+"certFile", "cannot read the file: "+err.Error())
		} else if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			ps.bad(k+"keyFile", "the certificate and key do not load as a pair: "+err.Error())
		}
	}
	if !t.Set() {
		return
	}
	for i, u := range urls {
		if pu, err := url.Parse(u); err == nil && pu.Scheme == "http" {
			ps.badf(section+"."+urlKeys[i], "must be https when %stls is set", section+".")
		}
	}
}

// validateErrorCodes checks the classes of portal.errorCodes: every code set, never a success
// code, in one class at most; the default permanent or transient.
func validateErrorCodes(ps *problems, e PortalErrorCodes) {
	first := map[string]string{} // code -> the key of the class that lists it
	for _, class := range []struct {
		key   string
		codes []string
	}{{"portal.errorCodes.transient", e.Transient}, {"portal.errorCodes.sessionExpired", e.SessionExpired},
		{"portal.errorCodes.permanent", e.Permanent}} {
		for i, code := range class.codes {
			k := fmt.Sprintf("%s[%d]", class.key, i)
			prev, listed := first[code]
			switch {
			case strings.TrimSpace(code) == "" || strings.TrimSpace(code) != code:
				ps.bad(k, "must be an error code without surrounding spaces")
			case code == "0" || code == "00":
				ps.badf(k, "%q is a success code", code)
			case listed && prev != class.key:
				ps.badf(k, "%q is already listed in %s", code, prev)
			default:
				first[code] = class.key
			}
		}
	}
	if e.Default != "permanent" && e.Default != "transient" {
		ps.bad("portal.errorCodes.default", "must be permanent or transient (the class of a code listed nowhere)")
	}
}

func (c *Config) validateDelivery(ps *problems) {
	d := c.Delivery
	if d.Workers < 1 || d.Workers > 256 {
		ps.bad("delivery.workers", "must be between 1 and 256")
	}
	ps.positive("delivery.lease", d.Lease)
	if d.Lease > 0 && c.Portal.Timeout > 0 && d.Lease < 2*c.Portal.Timeout {
		ps.badf("delivery.lease", "must be at least twice portal.timeout (%s): one delivery may take half the lease", c.Portal.Timeout)
	}
	for i, delay := range d.Schedule {
		k := fmt.Sprintf("delivery.schedule[%d]", i)
		switch {
		case i == 0 && delay != 0:
			ps.bad(k, "must be 0s: it is not used (a new event is due at once); the first retry waits delivery.schedule[1]")
		case delay < 0:
			ps.bad(k, "must not be negative")
		}
	}
	ps.positive("delivery.minSpan", d.MinSpan)
	ps.positive("delivery.uncertainWait", d.UncertainWait)
}

func (c *Config) validateProcedures(ps *problems) {
	if len(c.Procedures) == 0 {
		ps.bad("procedures", "at least one procedure is required")
	}
	roles := map[string]bool{}
	for _, r := range c.Signatures.Roles {
		roles[r] = true
	}
	codes := map[string]string{} // code -> the first procedure id holding it
	for _, id := range c.procedureIDs() {
		p := c.Procedures[id]
		k := "procedures." + id
		if !procedureID.MatchString(id) {
			ps.bad(k, "procedure ids are lower-case words joined by '-'")
		}
		switch first, dup := codes[p.Code]; {
		case strings.TrimSpace(p.Code) == "" || strings.TrimSpace(p.Code) != p.Code:
			ps.bad(k+".code", "the national procedure code (maTTHC) must be set, without surrounding spaces")
		case dup:
			ps.badf(k+".code", "%q is already procedures.%s.code", p.Code, first)
		default:
			codes[p.Code] = id
		}
		ps.required(k+".name", p.Name)
		if p.SLAWorkingDays < 1 || p.SLAWorkingDays > 365 {
			ps.bad(k+".slaWorkingDays", "must be between 1 and 365 working days")
		}
		if p.Deadline < 100*time.Millisecond {
			ps.bad(k+".deadline", "must be at least 100ms (zero means the default)")
		}
		validateField(ps, k+".field", p.Field)
		if !fieldPath.MatchString(p.UnitPath) {
			ps.bad(k+".unitPath", "must be property names separated by '/' (zero means the default maDVQHNS)")
		}
		validateSignerPaths(ps, k, p)
		listed := map[string]bool{}
		for i, r := range p.RequiredRoles {
			rk := fmt.Sprintf("%s.requiredRoles[%d]", k, i)
			switch {
			case !roles[r]:
				ps.badf(rk, "role %q is not defined in signatures.roles", r)
			case listed[r]:
				ps.badf(rk, "role %q is listed twice", r)
			}
			listed[r] = true
		}
		if limit := c.Signatures.MaxSignatures; limit >= 1 && len(listed) > limit {
			ps.badf(k+".requiredRoles", "needs %d signatures, each from a different certificate, more than signatures.maxSignatures (%d)", len(listed), limit)
		}
	}
}

// treasuryStatus is the shape of a treasury status code.
var treasuryStatus = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// validateSignerPaths checks where a procedure reads the signers it
// registers: the list, role and serial paths together, an optional issuer
// path, and never on a procedure that requires registered signers (its
// signers could never be registered).
func validateSignerPaths(ps *problems, k string, p Procedure) {
	sp := p.Signers
	if sp == (SignerPaths{}) {
		return
	}
	for _, f := range []struct{ key, v string }{{"list", sp.List}, {"role", sp.Role}, {"serial", sp.Serial}} {
		if !fieldPath.MatchString(f.v) && (f.key != "list" || !listPath.MatchString(f.v)) {
			ps.badf(k+".signers."+f.key, "must be property names separated by '/' (list, role and serial go together)")
		}
	}
	if sp.Issuer != "" && !fieldPath.MatchString(sp.Issuer) {
		ps.bad(k+".signers.issuer", "must be property names separated by '/' (empty: the issuer of the dossier's signer)")
	}
	if !treasuryStatus.MatchString(sp.On) {
		ps.bad(k+".signers.on", "must be the treasury status that registers the signers (the account opened, e.g. ACCOUNT_OPENED): a 202 is a receipt, not an approval")
	}
	if p.RegisteredSigners {
		ps.bad(k+".registeredSigners", "a procedure that registers signers (signers) cannot require registered signers")
	}
}

// validateField checks a procedure's field: both code and name, or neither, without
// surrounding spaces.
func validateField(ps *problems, key string, f ProcedureField) {
	code, name := key+".code", key+".name"
	for _, v := range []struct{ key, value, other, otherKey string }{
		{code, f.Code, f.Name, name}, {name, f.Name, f.Code, code}} {
		switch {
		case strings.TrimSpace(v.value) != v.value:
			ps.bad(v.key, "must not have surrounding spaces")
		case v.value == "" && v.other != "":
			ps.badf(v.key, "must be set when %s is (MaLinhVuc and TenLinhVuc go together)", v.otherKey)
		}
	}
}

func (c *Config) validateCalendar(ps *problems) {
	dir := c.Calendar.HolidaysDir
	if dir == "" {
		return
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		ps.bad("calendar.holidaysDir", "must be a directory of <year>.yaml holiday files (empty: the embedded configs/holidays)")
	}
}

func (c *Config) validateLog(ps *problems) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.bad("log.level", "must be debug, info, warn or error")
	}
}

func (c *Config) validateEvidence(ps *problems) {
	e := c.Evidence
	if e.Enabled {
		ps.required("evidence.dir", e.Dir)
		ps.required("evidence.keyFile", e.KeyFile)
	}
	if !instancePattern.MatchString(e.Instance) {
		ps.bad("evidence.instance", "must be 1 to 64 of A-Z a-z 0-9 . _ - (empty: the host name)")
	}
	if e.CheckpointInterval < 10*time.Millisecond || e.CheckpointInterval > time.Hour {
		ps.bad("evidence.checkpointInterval", "must be between 10ms and 1h")
	}
	if e.Retention < 0 {
		ps.bad("evidence.retention", "must not be negative (0 keeps every sealed segment)")
	}
	if e.SegmentBytes < 4096 {
		ps.bad("evidence.segmentBytes", "must be at least 4096")
	}
}

// applyEnv overrides scalar and list fields from PREFIX_PATH variables
// (DVC_TREASURY_CLIENTSECRET, DVC_SERVER_ADDR, DVC_SIGNATURES_CRLS=a.crl,b.crl,
// DVC_PORTAL_RESILIENCE_FAILURERATIO=0.3). A list is comma-separated; an
// empty value is an empty list. key is the YAML path of v ("" at the top).
func applyEnv(v reflect.Value, prefix, key string, env func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		if e := f.Tag.Get("env"); e != "" {
			name = prefix + e // a secret's file: DVC_PORTAL_PASSWORD_FILE
		}
		path := tag
		if key != "" {
			path = key + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := applyEnv(fv, name+"_", path, env); err != nil {
				return err
			}
			continue
		}
		s, ok := env(name)
		if !ok {
			continue
		}
		if err := setFromString(fv, s); err != nil {
			return fmt.Errorf("config: environment %s (%s): %w", name, path, err)
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func setFromString(fv reflect.Value, s string) error {
	if fv.Kind() == reflect.Slice && scalar(fv.Type().Elem()) {
		var parts []string
		if strings.TrimSpace(s) != "" {
			parts = strings.Split(s, ",")
		}
		sl := reflect.MakeSlice(fv.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setScalar(sl.Index(i), strings.TrimSpace(p)); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		fv.Set(sl)
		return nil
	}
	if !scalar(fv.Type()) {
		return errors.New("this key cannot be set from the environment; use the YAML file")
	}
	return setScalar(fv, s)
}

// scalar reports whether setScalar can parse a value of type t.
func scalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint32, reflect.Float64:
		return true
	}
	return false
}

func setScalar(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == durationType:
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
		n, err := strconv.ParseInt(s, 10, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Uint32:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return err
		}
		fv.SetUint(n)
	case fv.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	default:
		return errors.New("this key cannot be set from the environment; use the YAML file")
	}
	return nil
}

// callerNameRule is what validCallerName asks of a caller's name.
const callerNameRule = "must not contain '|' or '#': a caller's name is the scope of its Idempotency-Keys (name|key#content), so another caller's name must never read as its prefix"

// validCallerName reports whether name may name a caller (a bearer
// token's or a client certificate's).
func validCallerName(name string) bool { return !strings.ContainsAny(name, "|#") }
