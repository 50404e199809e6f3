package intake

import (
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"slices"
	"time"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/jsonenc"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/trust"
)

// AuditLog is what the adapter needs of its evidence log
// (*auditlog.Log is one).
type AuditLog interface {
	Append(ctx context.Context, r auditlog.Record) (auditlog.Receipt, error)
	// AppendHashed is Append that also archives body durably before the
	// record (in the same group commit), with r.BodySHA256 set to
	// body.Hex().
	AppendHashed(ctx context.Context, r auditlog.Record, body auditlog.HashedBody) (auditlog.Receipt, error)
}

// Recorder writes the adapter's leaves to the evidence log and builds the
// evidence a treasury document request carries. A nil Recorder, or one
// without Log, writes nothing; the treasury evidence is still built.
type Recorder struct {
	Log AuditLog
	// Instance names this adapter instance (leaves and treasury evidence).
	Instance string
	// ArchiveBodies stores each received body by its SHA-256 with its
	// leaf, durable before it.
	ArchiveBodies bool
	// ForwardOriginal puts the exact received bytes in the treasury
	// evidence.
	ForwardOriginal bool
	// Failed, when set, is told of every record that could not be written
	// (its body not archived, or its leaf not appended), for the metrics.
	Failed func(rec auditlog.Record, err error)
}

// Enabled reports whether r writes leaves.
func (r *Recorder) Enabled() bool { return r != nil && r.Log != nil }

// AuditRetryAfter is the Retry-After, in seconds, of an audit-unavailable
// answer.
const AuditRetryAfter = 5

// AuditDown is the answer when the evidence log cannot be written: fail
// closed, nothing is sent or taken without its leaf.
func AuditDown(err error) error {
	return &problem.Error{Kind: problem.AuditUnavailable, Cause: err, RetryAfter: AuditRetryAfter}
}

// Append archives body (when ArchiveBodies) and appends rec, with the
// instance and the body's SHA-256 filled in, once both are durable. Its
// errors are audit-unavailable problems. Without a log it does nothing.
func (r *Recorder) Append(ctx context.Context, rec auditlog.Record, body []byte) (auditlog.Receipt, error) {
	if !r.Enabled() {
		return auditlog.Receipt{}, nil
	}
	return r.AppendHashed(ctx, rec, auditlog.HashBody(body))
}

// AppendHashed is Append for a body already hashed (a request's several
// records hash it once).
func (r *Recorder) AppendHashed(ctx context.Context, rec auditlog.Record, body auditlog.HashedBody) (auditlog.Receipt, error) {
	if !r.Enabled() {
		return auditlog.Receipt{}, nil
	}
	rec.Instance = r.Instance
	var (
		rc  auditlog.Receipt
		err error
	)
	if r.ArchiveBodies {
		rc, err = r.Log.AppendHashed(ctx, rec, body)
	} else {
		rec.BodySHA256 = body.Hex()
		rc, err = r.Log.Append(ctx, rec)
	}
	if err != nil {
		r.failed(rec, err)
		return auditlog.Receipt{}, AuditDown(err)
	}
	return rc, nil
}

func (r *Recorder) failed(rec auditlog.Record, err error) {
	if r.Failed != nil {
		r.Failed(rec, err)
	}
}

// The routes leaves name, and the code of the leaf written before a
// document goes to the treasury (its status is 0: not answered yet).
const (
	SubmitRoute   = "POST /v1/procedures/{procedure}/dossiers"
	WithdrawRoute = "POST /v1/procedures/{procedure}/dossiers/{maHoSo}/withdrawal"
	CodeReceived  = "received"
)

// Trace is what the service learned of a request, for the one place that
// concludes it (the HTTP layer): the dossier's identity once verified, and
// whether the outcome's leaf is already written.
type Trace struct {
	MaHoSo   string
	SoBoSung int
	// Logged: the answer's leaf was appended here (an accepted
	// submission, whose 202 carries its receipt).
	Logged bool
}

func (t *Trace) identify(maHoSo string, soBoSung int) {
	if t != nil {
		t.MaHoSo, t.SoBoSung = maHoSo, soBoSung
	}
}

// answeredOtherwise records that the request, whose 202 leaf was appended,
// is answered otherwise after all (its stored answer fell short of the
// replicas): the HTTP layer appends the leaf of the answer given too.
func (t *Trace) answeredOtherwise() {
	if t != nil {
		t.Logged = false
	}
}

// leaf is the record of a request on route, before its outcome is known.
func leaf(sub Submission, route, procedure, maHoSo string, soBoSung int) auditlog.Record {
	return auditlog.Record{Time: sub.ReceivedAt, Caller: sub.Caller, Route: route,
		Procedure: procedure, MaHoSo: maHoSo, SoBoSung: soBoSung}
}

// received appends the leaf that says a verified document is about to go
// to the treasury: if the log cannot take it, nothing is sent.
func (s *Service) received(ctx context.Context, sub Submission, route, procedure, maHoSo string, soBoSung int) error {
	rec := leaf(sub, route, procedure, maHoSo, soBoSung)
	rec.Code = CodeReceived
	_, err := s.evidence.AppendHashed(ctx, rec, sub.hashedBody())
	return err
}

// Evidence is the proof of what was received that a treasury document
// request carries (schemas/treasury/send-document-request.schema.json,
// "evidence").
type Evidence struct {
	Form         string           `json:"form"` // xml-dsig or jws
	ContentType  string           `json:"contentType"`
	SHA256       string           `json:"sha256"`
	Original     []byte           `json:"original,omitempty"`     // the exact bytes received (base64 on the wire)
	JWSSignature string           `json:"jwsSignature,omitempty"` // the X-JWS-Signature header, JSON only
	Signers      []EvidenceSigner `json:"signers"`
	VerifiedAt   time.Time        `json:"verifiedAt"`
	Instance     string           `json:"instance"`
}

// EvidenceSigner is one verified signer.
type EvidenceSigner struct {
	Role               string    `json:"role"`
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	SerialNumber       string    `json:"serialNumber"`      // lower-case hex
	CertificateSHA256  string    `json:"certificateSha256"` // of the DER certificate, lower-case hex
	NotBefore          time.Time `json:"notBefore"`
	NotAfter           time.Time `json:"notAfter"`
	SignatureAlgorithm string    `json:"signatureAlgorithm"`
}

// AppendJSON appends e as json.Marshal writes it (jsonenc.Appender), with
// the original base64-encoded straight into dst: no copy of it as a string
// and no second scan of it for characters to escape.
func (e Evidence) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	if len(e.Original) > 0 {
		// One growth for the original and what follows it: AppendEncode
		// alone grows dst to the original's exact end, and the next
		// append (the signers, the rest of the document) copies it all
		// again. What follows is taken to be about what came before, and
		// evidenceRoom for each signer and for the other fields.
		dst = slices.Grow(dst, base64.StdEncoding.EncodedLen(len(e.Original))+len(dst)+evidenceRoom*(1+len(e.Signers)))
	}
	dst = appendField(dst, `{"form":`, e.Form)
	dst = appendField(dst, `,"contentType":`, e.ContentType)
	dst = appendField(dst, `,"sha256":`, e.SHA256)
	if len(e.Original) > 0 {
		dst = append(dst, `,"original":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, e.Original)
		dst = append(dst, '"')
	}
	if e.JWSSignature != "" {
		dst = appendField(dst, `,"jwsSignature":`, e.JWSSignature)
	}
	dst = append(dst, `,"signers":`...)
	if e.Signers == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, sg := range e.Signers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendField(dst, `{"role":`, sg.Role)
			dst = appendField(dst, `,"subject":`, sg.Subject)
			dst = appendField(dst, `,"issuer":`, sg.Issuer)
			dst = appendField(dst, `,"serialNumber":`, sg.SerialNumber)
			dst = appendField(dst, `,"certificateSha256":`, sg.CertificateSHA256)
			if dst, err = appendTime(dst, `,"notBefore":`, sg.NotBefore); err != nil {
				return dst, err
			}
			if dst, err = appendTime(dst, `,"notAfter":`, sg.NotAfter); err != nil {
				return dst, err
			}
			dst = appendField(dst, `,"signatureAlgorithm":`, sg.SignatureAlgorithm)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if dst, err = appendTime(dst, `,"verifiedAt":`, e.VerifiedAt); err != nil {
		return dst, err
	}
	dst = appendField(dst, `,"instance":`, e.Instance)
	return append(dst, '}'), nil
}

// evidenceRoom is the room AppendJSON leaves for a signer, and for the
// evidence's other fields (a signer's fields are about 700 bytes).
const evidenceRoom = 1024

func appendField(dst []byte, name, s string) []byte {
	return jsonenc.AppendString(append(dst, name...), s)
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, refused outside years 0-9999), which is AppendText quoted.
func appendTime(dst []byte, name string, t time.Time) ([]byte, error) {
	dst = append(append(dst, name...), '"')
	dst, err := t.AppendText(dst)
	if err != nil {
		return dst, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	return append(dst, '"'), nil
}

// treasuryEvidence builds the evidence of a verified submission.
func (s *Service) treasuryEvidence(sub Submission, signers []trust.Signer) Evidence {
	mt, _, _ := mime.ParseMediaType(sub.ContentType)
	form := "xml-dsig"
	if mt == "application/json" {
		form = "jws"
	}
	ev := Evidence{Form: form, ContentType: sub.ContentType, SHA256: sub.hashedBody().Hex(),
		VerifiedAt: sub.ReceivedAt.UTC(), Signers: make([]EvidenceSigner, 0, len(signers))}
	if s.evidence != nil {
		ev.Instance = s.evidence.Instance
		if s.evidence.ForwardOriginal {
			ev.Original = sub.Body
			if form == "jws" {
				ev.JWSSignature = sub.JWSSignature
			}
		}
	}
	for _, sg := range signers {
		c, id := sg.Cert, sg.Identity()
		ev.Signers = append(ev.Signers, EvidenceSigner{Role: sg.Role, Subject: id.Subject, Issuer: id.Issuer,
			SerialNumber: id.Serial, CertificateSHA256: id.SHA256,
			NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), SignatureAlgorithm: sg.Algorithm})
	}
	return ev
}
