// Package problem owns the adapter's public failure kinds: the table that
// gives each one its stable machine code, HTTP status and title, and the
// RFC 9457 problem+json body that carries it to the caller.
//
// Every error a caller can see is a *Error built from a Kind. The detail
// shown to the caller is fixed per kind or chosen deliberately by the code
// that raises it; the underlying cause travels in Cause for the logs only,
// so that a caller learns nothing it could use as an oracle.
package problem

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind is one public failure kind, named by its stable machine code (also
// the last segment of its problem type URI). Its HTTP status, title and fixed
// detail come from one table.
type Kind string

// Code is the kind's stable machine code.
func (k Kind) Code() string { return string(k) }

// Status is the HTTP status of the kind; an unknown kind is 500.
func (k Kind) Status() int {
	if i, ok := table[k]; ok {
		return i.status
	}
	return http.StatusInternalServerError
}

// Title is the kind's short summary.
func (k Kind) Title() string { return table[k].title }

// Detail is the fixed detail of kinds whose detail must never vary (every
// cryptographic failure shares one); empty means the raiser says.
func (k Kind) Detail() string { return table[k].detail }

// TypeBase prefixes every problem type URI.
const TypeBase = "https://kbnn.gov.vn/dvc/problems/"

// The kinds, one per cause. Codes are part of the contract: never rename one.
const (
	MalformedBody         Kind = "malformed-body"
	DoctypeForbidden      Kind = "xml-doctype-forbidden"
	LimitExceeded         Kind = "limit-exceeded"
	BodyTooLarge          Kind = "body-too-large"
	SignatureMissing      Kind = "signature-missing"
	AlgorithmNotAllowed   Kind = "signature-algorithm-not-allowed"
	CertificateUntrusted  Kind = "certificate-untrusted"
	CertificateExpired    Kind = "certificate-expired"
	CertificateRevoked    Kind = "certificate-revoked"
	SignerRoleMissing     Kind = "signer-role-missing"
	SignerNotRegistered   Kind = "signer-not-registered"
	SignatureInvalid      Kind = "signature-invalid"
	Unauthorized          Kind = "unauthorized"
	UnknownProcedure      Kind = "unknown-procedure"
	NotFound              Kind = "not-found"
	UnsupportedMediaType  Kind = "unsupported-media-type"
	MethodNotAllowed      Kind = "method-not-allowed"
	SchemaViolation       Kind = "schema-violation"
	BusinessRuleViolation Kind = "business-rule-violation"
	TreasuryRefused       Kind = "treasury-refused"
	TreasuryUnavailable   Kind = "treasury-unavailable"
	TreasuryTimeout       Kind = "treasury-timeout"
	InvalidIdempotencyKey Kind = "invalid-idempotency-key"
	InvalidQuery          Kind = "invalid-query"
	IdempotencyKeyReused  Kind = "idempotency-key-reused"
	RequestInProgress     Kind = "request-in-progress"
	DossierAlreadySent    Kind = "dossier-already-submitted"
	SupplementUnexpected  Kind = "supplement-not-expected"
	DossierWithdrawn      Kind = "dossier-withdrawn"
	UnitNotAllowed        Kind = "unit-not-allowed"
	StoreUnavailable      Kind = "store-unavailable"
	AttachmentMissing     Kind = "attachment-missing"
	AttachmentMismatch    Kind = "attachment-mismatch"
	AuditUnavailable      Kind = "audit-unavailable"
	AttachmentStoreFull   Kind = "attachment-store-full"
	ServerBusy            Kind = "server-busy"
	RevocationUnavailable Kind = "revocation-unavailable"
	Internal              Kind = "internal"
)

type info struct {
	status        int
	title, detail string
}

// table gives each kind its status, title and fixed detail; Kinds lists
// them in this order.
var table = map[Kind]info{
	MalformedBody:         {http.StatusBadRequest, "Malformed request body", ""},
	DoctypeForbidden:      {http.StatusBadRequest, "DOCTYPE and entity declarations are not accepted", "The document contains a DOCTYPE or entity declaration."},
	LimitExceeded:         {http.StatusBadRequest, "Document exceeds a structural limit", ""},
	BodyTooLarge:          {http.StatusRequestEntityTooLarge, "Request body too large", ""},
	SignatureMissing:      {http.StatusBadRequest, "Signature missing", ""},
	AlgorithmNotAllowed:   {http.StatusBadRequest, "Signature algorithm not allowed", ""},
	CertificateUntrusted:  {http.StatusBadRequest, "Signer certificate not trusted", "The signer certificate does not chain to a trusted certification authority."},
	CertificateExpired:    {http.StatusBadRequest, "Signer certificate not valid at receipt time", "The signer certificate, or a certificate in its chain, is expired or not yet valid."},
	CertificateRevoked:    {http.StatusBadRequest, "Signer certificate revoked", "The signer certificate has been revoked by its issuer."},
	SignerRoleMissing:     {http.StatusBadRequest, "Required signer missing", ""},
	SignerNotRegistered:   {http.StatusBadRequest, "Signer not registered for the budget unit", ""},
	SignatureInvalid:      {http.StatusBadRequest, "Signature does not verify", "The signature does not verify against the document."},
	Unauthorized:          {http.StatusUnauthorized, "Caller not authenticated", "A valid caller credential is required."},
	UnknownProcedure:      {http.StatusNotFound, "Unknown procedure", ""},
	NotFound:              {http.StatusNotFound, "Not found", ""},
	UnsupportedMediaType:  {http.StatusUnsupportedMediaType, "Unsupported content type", "Send application/xml (signed XML-DSig) or application/json (with X-JWS-Signature)."},
	MethodNotAllowed:      {http.StatusMethodNotAllowed, "Method not allowed", ""},
	SchemaViolation:       {http.StatusUnprocessableEntity, "Dossier does not match its procedure's definition", ""},
	BusinessRuleViolation: {http.StatusUnprocessableEntity, "Dossier breaks its procedure's business rules", ""},
	TreasuryRefused:       {http.StatusUnprocessableEntity, "Treasury refused the document", ""},
	TreasuryUnavailable:   {http.StatusServiceUnavailable, "Treasury unavailable", "The treasury could not be reached; retry later with the same Idempotency-Key."},
	TreasuryTimeout:       {http.StatusGatewayTimeout, "Treasury timed out", "The treasury did not answer in time; retry later with the same Idempotency-Key."},
	InvalidIdempotencyKey: {http.StatusBadRequest, "Invalid Idempotency-Key", "The Idempotency-Key header must be 1 to 255 printable ASCII characters."},
	InvalidQuery:          {http.StatusBadRequest, "Invalid query parameter", ""},
	IdempotencyKeyReused:  {http.StatusUnprocessableEntity, "Idempotency-Key already used for another request", "This Idempotency-Key was used with a different dossier content; use a new key for a new request."},
	RequestInProgress:     {http.StatusConflict, "A request with this Idempotency-Key is in progress", "The first request with this Idempotency-Key is still being processed; retry after the indicated time."},
	DossierAlreadySent:    {http.StatusConflict, "Dossier already submitted", ""},
	SupplementUnexpected:  {http.StatusConflict, "Supplement not expected", ""},
	UnitNotAllowed:        {http.StatusForbidden, "Unit not allowed", "The caller may not submit or withdraw dossiers of this budget unit (maDVQHNS)."},
	DossierWithdrawn:      {http.StatusConflict, "Dossier withdrawn", "The treasury accepted the withdrawal of this dossier; it takes no further supplement."},
	StoreUnavailable:      {http.StatusServiceUnavailable, "Adapter store unavailable", "The adapter cannot record the request safely right now; nothing was sent. Retry later with the same Idempotency-Key."},
	AttachmentMissing:     {http.StatusUnprocessableEntity, "Attachment missing", ""},
	AttachmentMismatch:    {http.StatusUnprocessableEntity, "Attachment does not match the dossier", ""},
	AuditUnavailable:      {http.StatusServiceUnavailable, "Evidence log unavailable", "The adapter cannot record the request in its evidence log right now; nothing was sent. Retry later with the same Idempotency-Key."},
	AttachmentStoreFull:   {http.StatusInsufficientStorage, "Attachment store full", "The adapter holds as many uploaded files as it may (attachments.maxStoredBytes); retry after files expire, or send the files with the dossier."},
	ServerBusy:            {http.StatusServiceUnavailable, "Server busy with large requests", "The adapter is handling as many large requests or files as it allows at once, or as many signed XML documents as it verifies on its slower path (a namespace declaration below the root element, signatures of different canonicalizations) (limits.largeBodyConcurrency, limits.uploadConcurrency); nothing was sent or kept. Retry after the indicated time."},
	RevocationUnavailable: {http.StatusServiceUnavailable, "Revocation status unavailable", "The revocation status of a signer certificate cannot be determined right now (no OCSP responder or CRL answered); nothing was sent. Retry later with the same Idempotency-Key."},
	Internal:              {http.StatusInternalServerError, "Internal error", "An internal error occurred; it has been logged with this request's id."},
}

// FieldError names one failing field of a schema violation or a business
// rule violation.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// Rule is the id of the business rule the field breaks; empty for a
	// schema violation.
	Rule string `json:"rule,omitempty"`
	// MessageVI is Message in Vietnamese (Accept-Language: vi); empty
	// means Message in both languages.
	MessageVI string `json:"-"`
}

// Error is a public failure: a kind, the detail shown to the caller and the
// cause kept for the logs.
type Error struct {
	Kind   Kind
	Detail string
	// DetailVI is Detail in Vietnamese, for callers that ask for it
	// (Accept-Language: vi); empty means the kind's general Vietnamese
	// detail.
	DetailVI string
	Fields   []FieldError
	// Extra members added to the problem body (e.g. the treasury's reason code).
	Extra map[string]any
	// ExtraVI replaces Extra in Vietnamese, for members that carry text
	// (the messages of broken business rules); nil means Extra in both.
	ExtraVI map[string]any
	// RetryAfter, in seconds, when positive, becomes a Retry-After header.
	RetryAfter int
	// Header holds further response headers (e.g. Location).
	Header map[string]string
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.detail(), e.Cause)
	}
	return string(e.Kind) + ": " + e.detail()
}

func (e *Error) Unwrap() error { return e.Cause }

func (e *Error) detail() string {
	if e.Kind.Detail() != "" {
		return e.Kind.Detail()
	}
	if e.Detail != "" {
		return e.Detail
	}
	return e.Kind.Title()
}

// New returns an error of kind k with a caller-visible detail. Kinds with a
// fixed detail ignore it.
func New(k Kind, detail string) *Error { return &Error{Kind: k, Detail: detail} }

// VI sets the Vietnamese form of the caller-visible detail and returns e.
func (e *Error) VI(detail string) *Error {
	e.DetailVI = detail
	return e
}

// Wrap returns an error of kind k whose cause is kept for the logs only.
func Wrap(k Kind, cause error, detail string) *Error {
	return &Error{Kind: k, Detail: detail, Cause: cause}
}

// From returns the *Error in err's chain, or an Internal one wrapping err.
func From(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Kind: Internal, Cause: err}
}

// Body is the problem+json document.
type Body struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail"`
	Instance string         `json:"instance,omitempty"`
	Code     string         `json:"code"`
	Errors   []FieldError   `json:"errors,omitempty"`
	Extra    map[string]any `json:"-"`
}

// Body renders e in English for the request with the given id.
func (e *Error) Body(instance string) Body { return e.BodyIn(English, instance) }

// BodyIn renders e in lang for the request with the given id. Only the text
// changes with the language (the title, the detail, the field messages that
// have a Vietnamese form, ExtraVI for Extra); the code, the field paths and
// the rule ids never do.
func (e *Error) BodyIn(lang Lang, instance string) Body {
	fields, extra := e.Fields, e.Extra
	if lang == Vietnamese {
		if e.ExtraVI != nil {
			extra = e.ExtraVI
		}
		fields = nil
		for _, f := range e.Fields {
			if f.MessageVI != "" {
				f.Message = f.MessageVI
			}
			fields = append(fields, f)
		}
	}
	return Body{
		Type:     TypeBase + e.Kind.Code(),
		Title:    e.Kind.titleIn(lang),
		Status:   e.Kind.Status(),
		Detail:   e.detailIn(lang),
		Instance: instance,
		Code:     e.Kind.Code(),
		Errors:   fields,
		Extra:    extra,
	}
}

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"
