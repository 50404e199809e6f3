// Package intake owns the path of one submitted dossier, from the raw
// request to the treasury's receipt: content type, signature verification,
// signer roles, validation against the procedure's definition and its
// business rules, mapping, and the downstream call; and the same checks
// without storing or sending anything (Validate, validate.go). It knows
// nothing of HTTP routing; it takes a Submission and returns an Accepted or
// a *problem.Error. A withdrawal of a
// dossier (withdrawal.go) takes the same verification path, with the
// withdrawal request's definition, and the same exactly-once records.
//
// Only what signature verification returns is read: for XML the verified
// root, for JSON the exact signed bytes.
package intake

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/jws"
	"github.com/kbnn/dvc/adapter/mapping"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/rules"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/trust"
	"github.com/kbnn/dvc/adapter/xmlsig"
)

// Mapper turns a verified, valid dossier into the treasury request.
type Mapper interface {
	Apply(doc any, ctx mapping.Context) (map[string]any, error)
}

// Sender delivers a treasury request under its downstream idempotency key
// (Verified.DownstreamKey). It returns a *problem.Error for refusals,
// unavailability and timeouts.
type Sender interface {
	Send(ctx context.Context, downstreamKey string, request map[string]any) (Receipt, error)
	// Find asks the treasury for the document sent under downstreamKey;
	// false when there is none.
	Find(ctx context.Context, downstreamKey string) (Receipt, bool, error)
}

// Receipt is the treasury's answer to an accepted document.
type Receipt struct {
	DocumentID string
	Reference  string
	// Status is the document's treasury status (WITHDRAWN, PAID, …) when
	// the receipt comes from a look-up (Find); empty from a send.
	Status string
	// EvidenceSHA256 is the SHA-256 of the signed bytes the treasury holds
	// as the document's original (the evidence of the request that
	// created it), when the treasury says it; empty when it does not.
	EvidenceSHA256 string
	// Replayed: the treasury answered a send with a document an earlier
	// request created under the key (HTTP 200).
	Replayed bool
}

// Procedure is one procedure as intake needs it.
type Procedure struct {
	ID            string
	Code          string // maTTHC
	Name          string
	RequiredRoles []string
	// Deadline bounds the treasury call; zero means Policy.Deadline.
	Deadline   time.Duration
	Definition *schema.Definition
	// Rules are the procedure's business rules (schemas/<id>/rules.yaml),
	// run on a dossier that matches its definition, before anything is
	// stored or sent; nil means none.
	Rules  *rules.Set
	Mapper Mapper
	// UnitPath is where the dossier names its budget unit (maDVQHNS), as
	// for schema.StringAt; empty means "maDVQHNS".
	UnitPath string
	// RegisteredSigners: each signer must be registered for the dossier's
	// unit in its role (when Options.RequireRegistered).
	RegisteredSigners bool
	// Signers, when set, registers the unit's signers listed by an
	// accepted dossier.
	Signers *SignerPaths
}

// Submission is one inbound request, as the HTTP layer read it.
type Submission struct {
	RequestID string
	Procedure string
	// IdempotencyKey is the Idempotency-Key header; empty means derived
	// from the dossier's identity.
	IdempotencyKey string
	ContentType    string
	Body           []byte
	JWSSignature   string // X-JWS-Signature header, JSON only
	// Files are the parts of a multipart/related request after the signed
	// dossier (Body): the files its dinhKem[] lists.
	Files  []attachment.Part
	Caller string
	// Units are the budget units (maDVQHNS) the caller may submit and
	// withdraw dossiers of; empty means every unit.
	Units      []string
	ReceivedAt time.Time
	// Lang is the language of a refusal (problem title and detail). A
	// stored refusal is replayed in the language it was first written in.
	Lang problem.Lang
	// Trace, when set, is filled in as the service learns the dossier's
	// identity and writes the answer's leaf.
	Trace *Trace
	// hashed is Body with its SHA-256, set by hashBody when the request
	// is about to be recorded, so that the copies of the submission made
	// after it share one hashing for the leaves and the treasury evidence.
	hashed *auditlog.HashedBody
	// FileSlot, when set, is called before files uploaded earlier
	// (PUT /v1/attachments) are read from the store to be sent on to the
	// treasury, with the size of the largest (they are read one at a
	// time): it returns once the request may hold a file that large, with
	// the func that gives the slot back, or the error to answer (503
	// server-busy). Nil: no cap.
	FileSlot func(ctx context.Context, largest int64) (release func(), err error)
}

// hashBody hashes the body once for the leaves and the treasury evidence
// of this submission and of the copies made of it from now on.
func (sub *Submission) hashBody() {
	h := auditlog.HashBody(sub.Body)
	sub.hashed = &h
}

// hashedBody is the body with its SHA-256: hashBody's, else (never called,
// or the body replaced since) hashed now.
func (sub *Submission) hashedBody() auditlog.HashedBody {
	if sub.hashed != nil && sub.hashed.Of(sub.Body) {
		return *sub.hashed
	}
	return auditlog.HashBody(sub.Body)
}

// Accepted is the answer to a dossier the treasury took.
type Accepted struct {
	MaHoSo             string    `json:"maHoSo"`
	SoBoSung           int       `json:"soBoSung"`
	Procedure          string    `json:"procedure"`
	MaTTHC             string    `json:"maTTHC"`
	TrangThai          int       `json:"trangThai"`
	TreasuryReference  string    `json:"treasuryReference"`
	TreasuryDocumentID string    `json:"treasuryDocumentId"`
	ReceivedAt         time.Time `json:"receivedAt"`
	// Receipt locates the submission's leaf in the evidence log (absent
	// when the log is off).
	Receipt *auditlog.Receipt `json:"receipt,omitempty"`
}

// StatusRegistered is the national status of a dossier the adapter has
// registered with the treasury (1, Mới đăng ký); later statuses come from
// the treasury's callbacks.
const StatusRegistered = 1

// Service runs submissions.
type Service struct {
	procedures map[string]*Procedure
	now        func() time.Time
	xml        *xmlsig.Verifier
	jws        *jws.Verifier
	limits     xmlsig.Limits
	sender     Sender
	dossiers   dossier.Store
	log        *slog.Logger
	records    idempotency.Store
	policy     Policy
	hook       func(string)
	withdrawal *withdrawalParts
	signers    signers.Store
	roles      map[string]bool
	// requireRegistered turns the registered-signer check on.
	requireRegistered bool
	dossierCodes      []*regexp.Regexp
	attachments       attachment.Store
	uploader          Uploader
	inlineBytes       int64
	fileLimits        FileLimits
	evidence          *Recorder
}

// Options wire a Service.
type Options struct {
	Procedures []*Procedure
	// DossierCodes are the formats a dossier code must take (one must
	// match); none means any code the definition accepts.
	DossierCodes []*regexp.Regexp
	XML          *xmlsig.Verifier
	JWS          *jws.Verifier
	Limits       xmlsig.Limits
	Sender       Sender
	Dossiers     dossier.Store // nil means an in-memory store
	Log          *slog.Logger
	// Records is the idempotency store; nil means an in-memory one.
	Records idempotency.Store
	Policy  Policy
	// Clock is the time source of the in-memory stores, and of the marks
	// intake leaves in dossier records; nil means time.Now.
	Clock func() time.Time
	// Hook, when set, is called at each step of a submission's path
	// (crash tests kill the process there).
	Hook func(step string)
	// Withdrawal, WithdrawalRoles and Withdrawer serve withdrawals: the
	// withdrawal request's definition, the roles that must sign one, and
	// the treasury's side. Without all three, Withdraw answers 500.
	Withdrawal      *schema.Definition
	WithdrawalRoles []string
	Withdrawer      Withdrawer
	// WithdrawalMaxAgeDays refuses a withdrawal whose signed request date
	// is more than this many days before its receipt day; negative means
	// no limit, zero the default of 30.
	WithdrawalMaxAgeDays int
	// Signers holds the units' registered signers; nil means an in-memory
	// store. RequireRegistered refuses a procedure's dossier with
	// RegisteredSigners whose signer is not registered; Roles are the
	// signature roles a registration may name.
	Signers           signers.Store
	RequireRegistered bool
	Roles             []string
	// Attachments holds files uploaded before their dossier (PUT
	// /v1/attachments/{sha256}); nil means an in-memory store without
	// limits, kept 24 hours. Uploader stores a dossier's files at the
	// treasury before its document; without one, a dossier that lists
	// files is an internal error.
	Attachments attachment.Store
	Uploader    Uploader
	// InlineFileBytes: a dossier whose files' listed sizes together fit in
	// it sends them in its document's attachments[] (content, base64)
	// instead of one upload each; zero: every file uploaded.
	InlineFileBytes int64
	// FileLimits bound the files a dossier lists, by their listed sizes.
	FileLimits FileLimits
	// Evidence writes the evidence log's leaves and the treasury
	// evidence; nil means no log and no instance name.
	Evidence *Recorder
}

// New builds a Service.
func New(o Options) *Service {
	s := &Service{procedures: map[string]*Procedure{}, xml: o.XML, jws: o.JWS,
		limits: o.Limits, sender: o.Sender, dossiers: o.Dossiers, log: o.Log,
		records: o.Records, policy: o.Policy.withDefaults(), hook: o.Hook, dossierCodes: o.DossierCodes,
		evidence: o.Evidence}
	s.now = o.Clock
	if s.now == nil {
		s.now = time.Now
	}
	if s.records == nil {
		s.records = idempotency.NewMemory(o.Clock)
	}
	if s.hook == nil {
		s.hook = func(string) {}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.dossiers == nil {
		s.dossiers = dossier.NewMemory()
	}
	s.attachments, s.uploader, s.fileLimits, s.inlineBytes = o.Attachments, o.Uploader, o.FileLimits, o.InlineFileBytes
	if s.attachments == nil {
		s.attachments = attachment.NewMemory(attachment.Limits{Retention: 24 * time.Hour}, o.Clock)
	}
	for _, p := range o.Procedures {
		s.procedures[p.ID] = p
	}
	s.signers, s.requireRegistered, s.roles = o.Signers, o.RequireRegistered, map[string]bool{}
	if s.signers == nil {
		s.signers = signers.NewMemory()
	}
	for _, r := range o.Roles {
		s.roles[r] = true
	}
	if o.Withdrawal != nil && o.Withdrawer != nil && len(o.WithdrawalRoles) > 0 {
		s.withdrawal = &withdrawalParts{def: o.Withdrawal, roles: o.WithdrawalRoles, treasury: o.Withdrawer,
			maxAgeDays: o.WithdrawalMaxAgeDays}
		if s.withdrawal.maxAgeDays == 0 {
			s.withdrawal.maxAgeDays = DefaultWithdrawalMaxAgeDays
		}
	}
	return s
}

// Attachments is the store of uploaded files (PUT /v1/attachments/{sha256}).
func (s *Service) Attachments() attachment.Store { return s.attachments }

// Procedure returns the procedure with this id, or nil.
func (s *Service) Procedure(id string) *Procedure { return s.procedures[id] }

// Verified is a dossier that passed verification and validation.
type Verified struct {
	Procedure *Procedure
	Value     map[string]any
	MaHoSo    string
	SoBoSung  int
	Signers   []trust.Signer
}

// Verify runs every check that needs no outside service: content type,
// signatures, roles, definition, dossier code, procedure code, business
// rules. It stops at the first refusal.
func (s *Service) Verify(sub Submission) (*Verified, error) {
	p := s.procedures[sub.Procedure]
	if p == nil {
		return nil, unknownProcedure(sub.Procedure)
	}
	obj, signers, err := s.verifySigned(sub, p.Definition, p.RequiredRoles)
	if err != nil {
		return nil, err
	}
	v := newVerified(p, obj, signers)
	if errs := s.checkContent(v); len(errs) > 0 {
		return nil, errs[0]
	}
	return v, nil
}

func unknownProcedure(id string) *problem.Error {
	return problem.New(problem.UnknownProcedure, fmt.Sprintf("No procedure %q.", id)).VI(fmt.Sprintf("Không có thủ tục %q.", id))
}

func newVerified(p *Procedure, obj map[string]any, signers []trust.Signer) *Verified {
	v := &Verified{Procedure: p, Value: obj, Signers: signers}
	v.MaHoSo, _ = obj["maHoSo"].(string)
	v.SoBoSung = intOf(obj["soBoSung"])
	return v
}

// checkContent runs the checks of a dossier that matches its definition:
// the dossier code's format, the procedure code, the business rules. It
// returns every refusal, in that order.
func (s *Service) checkContent(v *Verified) []*problem.Error {
	var out []*problem.Error
	p := v.Procedure
	if !s.knownCode(v.MaHoSo) {
		e := problem.New(problem.SchemaViolation, "maHoSo is not in a dossier code format the portal uses.").
			VI("maHoSo không theo định dạng mã hồ sơ của Cổng Dịch vụ công.")
		e.Fields = []problem.FieldError{{Path: "/maHoSo", Message: "must match one of the configured dossier code formats (dossierCodes)"}}
		out = append(out, e)
	}
	if fe, ok := plainSupplement(v.Value); !ok {
		e := problem.New(problem.SchemaViolation, "soBoSung is not a plain whole number.")
		e.Fields = []problem.FieldError{fe}
		out = append(out, e)
	}
	if code, _ := v.Value["maTTHC"].(string); code != p.Code {
		e := problem.New(problem.SchemaViolation, "maTTHC does not match the procedure.")
		e.Fields = []problem.FieldError{{Path: "/maTTHC", Message: fmt.Sprintf("must be %q for %s", p.Code, p.ID)}}
		out = append(out, e)
	}
	if vs := p.Rules.Check(v.Value); len(vs) > 0 {
		out = append(out, rules.Problem(vs))
	}
	return out
}

// knownCode reports whether code takes one of the configured formats.
func (s *Service) knownCode(code string) bool {
	if len(s.dossierCodes) == 0 {
		return true
	}
	for _, re := range s.dossierCodes {
		if re.MatchString(code) {
			return true
		}
	}
	return false
}

// verifySigned runs the checks every signed document shares, a dossier or a
// withdrawal alike: the form by content type, the signatures (XML-DSig or
// detached JWS) against the trust store at the receipt time, the required
// signer roles, then the definition. It returns the verified value and the
// signers.
func (s *Service) verifySigned(sub Submission, def *schema.Definition, roles []string) (map[string]any, []trust.Signer, error) {
	signers, read, err := s.verifySignatures(sub)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRoles(roles, signers); err != nil {
		return nil, nil, err
	}
	obj, err := read(def)
	if err != nil {
		return nil, nil, err
	}
	return obj, signers, nil
}

// reader reads the verified content of a signed document against a
// definition.
type reader func(def *schema.Definition) (map[string]any, error)

// verifySignatures picks the form by content type and verifies the
// signatures (XML-DSig or detached JWS) against the trust store at the
// receipt time. It returns the signers and the reader of what they signed:
// for XML the verified root, for JSON the exact signed bytes.
func (s *Service) verifySignatures(sub Submission) ([]trust.Signer, reader, error) {
	mt, _, err := mime.ParseMediaType(sub.ContentType)
	if err != nil {
		mt = ""
	}
	var decode func(def *schema.Definition) (any, error)
	var signers []trust.Signer
	switch mt {
	case "application/xml", "text/xml":
		doc, err := xmlsig.Parse(sub.Body, s.limits)
		if err != nil {
			return nil, nil, err
		}
		res, err := s.xml.Verify(doc, sub.ReceivedAt)
		if err != nil {
			return nil, nil, err
		}
		signers = res.Signers
		decode = func(def *schema.Definition) (any, error) { return def.FromXML(res.Root) }
	case "application/json":
		if signers, err = s.jws.Verify(sub.Body, sub.JWSSignature, sub.ReceivedAt); err != nil {
			return nil, nil, err
		}
		decode = func(def *schema.Definition) (any, error) { return def.FromJSON(sub.Body) }
	default:
		return nil, nil, problem.New(problem.UnsupportedMediaType, "")
	}
	read := func(def *schema.Definition) (map[string]any, error) {
		value, err := decode(def)
		if err != nil {
			return nil, err
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return nil, problem.New(problem.SchemaViolation, "The document must be an object.")
		}
		return obj, nil
	}
	return signers, read, nil
}

// plainSupplement checks that a document's soBoSung, when present, is
// written as a plain whole number: JSON Schema counts 1.0 and 1e0 as
// integers, but the supplement number names the treasury document and the
// records of the dossier, so it must read as exactly one number.
func plainSupplement(obj map[string]any) (problem.FieldError, bool) {
	raw, ok := obj["soBoSung"]
	if !ok {
		return problem.FieldError{}, true
	}
	if _, ok := wholeNumber(raw); ok {
		return problem.FieldError{}, true
	}
	return problem.FieldError{Path: "/soBoSung", Message: "must be a whole number written without a fraction or an exponent"}, false
}

// wholeNumber reads a verified value (a json.Number) written as a plain
// whole number.
func wholeNumber(v any) (int64, bool) {
	n, ok := v.(interface{ Int64() (int64, error) })
	if !ok {
		return 0, false
	}
	x, err := n.Int64()
	return x, err == nil
}

// intOf reads an integer of a verified value (a json.Number); zero when
// absent or not a plain whole number.
func intOf(v any) int {
	x, _ := wholeNumber(v)
	return int(x)
}

// checkRoles requires each role to be held by a distinct signer certificate.
func checkRoles(required []string, signers []trust.Signer) error {
	have := map[string]bool{}
	certs := map[string]bool{}
	for _, s := range signers {
		key := string(s.Cert.Raw)
		if certs[key] {
			return problem.New(problem.SignerRoleMissing, "The same certificate signed more than once.")
		}
		certs[key] = true
		if s.Role != "" {
			have[s.Role] = true
		}
	}
	var missing []string
	for _, r := range required {
		if !have[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return problem.New(problem.SignerRoleMissing, "Signature(s) required from: "+strings.Join(missing, ", ")+".")
	}
	return nil
}

// Dossier returns what the adapter knows of a dossier.
func (s *Service) Dossier(ctx context.Context, procedure, maHoSo string) (dossier.Record, bool, error) {
	return s.dossiers.Get(ctx, procedure, maHoSo)
}
