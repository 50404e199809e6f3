package problem

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
)

// Encode renders v as the adapter writes every JSON body: no HTML escaping,
// one trailing newline.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Render returns the status, headers and body of e's response, in English,
// to the request with id instance.
func (e *Error) Render(instance string) (int, map[string]string, []byte) {
	return e.RenderIn(English, instance)
}

// RenderIn returns the status, headers and body of e's response in lang to
// the request with id instance; Content-Language says which language.
func (e *Error) RenderIn(lang Lang, instance string) (int, map[string]string, []byte) {
	h := map[string]string{"Content-Type": ContentType, "Content-Language": string(lang)}
	if e.RetryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(e.RetryAfter)
	}
	for k, v := range e.Header {
		h[k] = v
	}
	body, err := Encode(e.BodyIn(lang, instance))
	if err != nil {
		body = []byte(`{"type":"` + TypeBase + `internal","title":"Internal error","status":500,"code":"internal"}` + "\n")
		return 500, map[string]string{"Content-Type": ContentType}, body
	}
	return e.Kind.Status(), h, body
}

// Kinds lists every public failure kind, for documentation and tests.
func Kinds() []Kind {
	return []Kind{
		MalformedBody, DoctypeForbidden, LimitExceeded, BodyTooLarge,
		SignatureMissing, AlgorithmNotAllowed, CertificateUntrusted,
		CertificateExpired, CertificateRevoked, SignerRoleMissing, SignerNotRegistered,
		SignatureInvalid, Unauthorized, UnknownProcedure, NotFound,
		UnsupportedMediaType, MethodNotAllowed, SchemaViolation, BusinessRuleViolation,
		TreasuryRefused, TreasuryUnavailable, TreasuryTimeout,
		InvalidIdempotencyKey, IdempotencyKeyReused, RequestInProgress,
		DossierAlreadySent, SupplementUnexpected, DossierWithdrawn, UnitNotAllowed, StoreUnavailable, AuditUnavailable, RevocationUnavailable, InvalidQuery,
		AttachmentMissing, AttachmentMismatch, AttachmentStoreFull, ServerBusy, Internal,
	}
}

// MarshalJSON writes the standard members first, then Extra in key order.
// Extra keys that collide with a standard member are dropped.
func (b Body) MarshalJSON() ([]byte, error) {
	type std Body
	head, err := json.Marshal(std(b))
	if err != nil {
		return nil, err
	}
	if len(b.Extra) == 0 {
		return head, nil
	}
	reserved := map[string]bool{"type": true, "title": true, "status": true,
		"detail": true, "instance": true, "code": true, "errors": true}
	keys := make([]string, 0, len(b.Extra))
	for k := range b.Extra {
		if !reserved[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(head[:len(head)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(b.Extra[k])
		if err != nil {
			return nil, err
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
