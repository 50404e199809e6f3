package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Answer is a decoded portal answer.
type Answer struct {
	// Code is error_code as text: a JSON string as sent (trimmed), a JSON integer in decimal
	// ("0" for 0), any other number as written.
	Code string
	// Message is the answer's "message" (or "error_message"), if it is a string.
	Message string
	// Data is the answer's "data" member (or "result", which some portal versions use), nil
	// when absent or null.
	Data json.RawMessage
	// Raw is the whole answer object.
	Raw json.RawMessage
}

// Success reports whether Code is a success code: 0, "0" or "00".
func (a Answer) Success() bool { return a.Code == "0" || a.Code == "00" }

// DecodeAnswer reads an answer body: a JSON object with an error_code that is a number or a
// non-empty string. Anything else is an error wrapping ErrProtocol. It never panics.
func DecodeAnswer(body []byte) (Answer, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return Answer{}, fmt.Errorf("%w: not a JSON object", ErrProtocol)
	}
	raw, ok := m["error_code"]
	if !ok {
		return Answer{}, fmt.Errorf("%w: no error_code", ErrProtocol)
	}
	code, err := codeText(raw)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Code: code, Raw: json.RawMessage(bytes.TrimSpace(body))}
	for _, k := range []string{"message", "error_message"} {
		var s string
		if json.Unmarshal(m[k], &s) == nil && s != "" {
			a.Message = s
			break
		}
	}
	data, ok := m["data"]
	if !ok {
		data = m["result"]
	}
	if len(data) > 0 && string(data) != "null" {
		a.Data = data
	}
	return a, nil
}

// codeText turns an error_code value into text.
func codeText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", fmt.Errorf("%w: empty error_code", ErrProtocol)
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: error_code: %w", ErrProtocol, err)
		}
		if s = strings.TrimSpace(s); s == "" {
			return "", fmt.Errorf("%w: empty error_code", ErrProtocol)
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		return string(raw), nil
	}
	return "", fmt.Errorf("%w: error_code is neither a number nor a string", ErrProtocol)
}

// exchange is an HTTP answer: status, headers and bounded body.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// httpDoer sends requests with a bound on answer bodies; both transports embed one.
type httpDoer struct {
	hc      *http.Client
	maxBody int64
	clock   func() time.Time
	codes   codeTable
	dstCode string // the dstcode header of every request, when not empty
}

func newHTTPDoer(hc *http.Client, maxBody int64, clock func() time.Time, codes codeTable, dstCode string) httpDoer {
	c := &http.Client{}
	if hc != nil {
		cp := *hc
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	if clock == nil {
		clock = time.Now
	}
	return httpDoer{hc: c, maxBody: maxBody, clock: clock, codes: codes, dstCode: dstCode}
}

// HeaderDstCode names the header that carries the destination code on the data-sharing
// platform, on every request when one is configured (OpenCPS's DVCQGIntegrationActionImpl
// sends it on its login and on every service call).
const HeaderDstCode = "dstcode"

// do sends req and reads its answer. Transport failures are errors; every HTTP answer is
// returned for the caller to interpret.
func (d httpDoer) do(op string, req *http.Request) (exchange, error) {
	req.Header.Set("Accept", "application/json")
	if d.dstCode != "" {
		req.Header.Set(HeaderDstCode, d.dstCode)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return exchange{}, transportError(op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, d.maxBody+1))
	if err != nil {
		return exchange{}, transportError(op, err)
	}
	if int64(len(data)) > d.maxBody {
		return exchange{}, &callError{op: op, kind: ErrProtocol, status: resp.StatusCode,
			detail: fmt.Sprintf("answer larger than %d bytes", d.maxBody)}
	}
	return exchange{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// interpret classifies a service answer: 429/5xx, 401/403 (a gateway refusing the caller),
// then the error_code, whose class comes from the transport's ErrorCodes. A non-2xx answer with a non-success error_code is a *PortalError too;
// without one it is ErrProtocol.
func (d httpDoer) interpret(op string, ex exchange) (Answer, error) {
	if err := serverFailure(op, ex, d.clock()); err != nil {
		return Answer{}, err
	}
	if ex.status == http.StatusUnauthorized || ex.status == http.StatusForbidden {
		return Answer{}, &callError{op: op, kind: ErrUnauthorized, status: ex.status}
	}
	a, err := DecodeAnswer(ex.body)
	ok2xx := ex.status >= 200 && ex.status < 300
	switch {
	case err != nil:
		return Answer{}, &callError{op: op, kind: ErrProtocol, status: ex.status,
			detail: strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": ")}
	case a.Success() && ok2xx:
		return a, nil
	case a.Success():
		return Answer{}, &callError{op: op, kind: ErrProtocol, status: ex.status, detail: "success code with an error status"}
	}
	return Answer{}, &PortalError{Service: op, Code: a.Code, Message: a.Message,
		Class: d.codes.of(a.Code), HTTPStatus: ex.status}
}

// marshalPayload encodes payload with the given fields set over it, never changing payload.
func marshalPayload(op string, payload map[string]any, set map[string]any) ([]byte, error) {
	m := make(map[string]any, len(payload)+len(set))
	for k, v := range payload {
		m[k] = v
	}
	for k, v := range set {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("portal: %s: %w: %w", op, ErrInvalidRequest, err)
	}
	return b, nil
}
