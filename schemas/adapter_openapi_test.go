package schemas

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/rules"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/webhook"
)

// The adapter's own OpenAPI document is read from disk (it is not part of
// FS), relative to this package's directory, where `go test` runs.
const (
	adapterOpenAPIFile = "adapter/openapi.yaml"
	schemaBaseURL      = "https://kbnn.gov.vn/dvc/schemas/"
	adapterOpenAPIURL  = schemaBaseURL + adapterOpenAPIFile
	problemMedia       = "application/problem+json"
)

// oaDoc is the OpenAPI document as JSON values (objects are map[string]any,
// numbers json.Number), so that it can also serve as a JSON Schema resource.
type oaDoc = map[string]any

func readAdapterOpenAPI(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(adapterOpenAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// parseOpenAPI decodes YAML and converts it to JSON values. Non-string
// mapping keys (e.g. an unquoted response status) fail here, as they are not
// valid in OpenAPI either.
func parseOpenAPI(raw []byte) (oaDoc, error) {
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	j, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("not JSON-compatible (every mapping key must be a string): %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	doc, ok := v.(oaDoc)
	if !ok {
		return nil, fmt.Errorf("top level is %T, want a mapping", v)
	}
	return doc, nil
}

func loadOpenAPI(t *testing.T) oaDoc {
	t.Helper()
	doc, err := parseOpenAPI(readAdapterOpenAPI(t))
	if err != nil {
		t.Fatalf("%s: %v", adapterOpenAPIFile, err)
	}
	return doc
}

// --- navigation ---

func escapePtr(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// pointerGet resolves a JSON Pointer ("/a/b", without '#') in v.
func pointerGet(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// deref follows local $refs from node (at pointer loc) and returns the
// target and its pointer.
func deref(doc oaDoc, node any, loc string) (map[string]any, string, error) {
	for range 16 {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, loc, fmt.Errorf("%s: not an object", loc)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, loc, nil
		}
		if !strings.HasPrefix(ref, "#") {
			return m, loc, nil // external: left to the $ref check
		}
		if node, ok = pointerGet(doc, ref[1:]); !ok {
			return nil, loc, fmt.Errorf("%s: $ref %s does not resolve", loc, ref)
		}
		loc = ref[1:]
	}
	return nil, loc, fmt.Errorf("%s: $ref loop", loc)
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type operation struct {
	path, method, ptr string
	op                map[string]any
}

func operations(doc oaDoc) []operation {
	var out []operation
	paths := obj(doc["paths"])
	for _, p := range sortedKeys(paths) {
		item := obj(paths[p])
		for _, m := range httpMethods {
			if op := obj(item[m]); op != nil {
				out = append(out, operation{p, m, "/paths/" + escapePtr(p) + "/" + m, op})
			}
		}
	}
	return out
}

// problemResponse is one response of an operation that carries a problem body.
type problemResponse struct {
	op        operation
	status    int
	response  map[string]any
	schemaPtr string   // JSON Pointer of its problem+json schema
	codes     []string // the codes its schema allows; nil means unrestricted
}

// problemResponses lists every problem+json response of every operation.
func problemResponses(doc oaDoc) ([]problemResponse, []string) {
	var out []problemResponse
	var errs []string
	for _, op := range operations(doc) {
		responses := obj(op.op["responses"])
		for _, key := range sortedKeys(responses) {
			loc := op.ptr + "/responses/" + key
			r, rloc, err := deref(doc, responses[key], loc)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			media := obj(obj(r["content"])[problemMedia])
			if media == nil {
				continue
			}
			status, err := strconv.Atoi(key)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s %s: response %q carries a problem but is not a status code", op.method, op.path, key))
				continue
			}
			pr := problemResponse{op: op, status: status, response: r,
				schemaPtr: rloc + "/content/" + escapePtr(problemMedia) + "/schema"}
			codes, statuses, err := problemCodes(doc, media["schema"], pr.schemaPtr)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			for _, s := range statuses {
				if s != status {
					errs = append(errs, fmt.Sprintf("%s %s %d: problem schema says status %d", op.method, op.path, status, s))
				}
			}
			pr.codes = codes
			out = append(out, pr)
		}
	}
	return out, errs
}

// problemCodes collects the enum/const of "code" and the const of "status"
// in a problem schema, following local $refs and allOf/oneOf/anyOf.
func problemCodes(doc oaDoc, schema any, loc string) (codes []string, statuses []int, err error) {
	s, loc, err := deref(doc, schema, loc)
	if err != nil {
		return nil, nil, err
	}
	props := obj(s["properties"])
	if c := obj(props["code"]); c != nil {
		if v, ok := c["const"].(string); ok {
			codes = append(codes, v)
		}
		for _, v := range asSlice(c["enum"]) {
			if str, ok := v.(string); ok {
				codes = append(codes, str)
			}
		}
	}
	if st := obj(props["status"]); st != nil {
		if n, ok := st["const"].(json.Number); ok {
			i, _ := strconv.Atoi(n.String())
			statuses = append(statuses, i)
		}
	}
	for _, kw := range []string{"allOf", "oneOf", "anyOf"} {
		for i, sub := range asSlice(s[kw]) {
			c, st, err := problemCodes(doc, sub, fmt.Sprintf("%s/%s/%d", loc, kw, i))
			if err != nil {
				return nil, nil, err
			}
			codes = append(codes, c...)
			statuses = append(statuses, st...)
		}
	}
	return codes, statuses, nil
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// --- checks; each returns what is wrong, so that the tests below can also
// prove that they fail on a broken document ---

// checkProblemCodes requires every kind's code listed under a response of
// its status, and every listed code to be a kind of that status.
func checkProblemCodes(doc oaDoc, kinds []problem.Kind) []string {
	responses, errs := problemResponses(doc)
	listed := map[int]map[string]bool{}
	for _, r := range responses {
		if listed[r.status] == nil {
			listed[r.status] = map[string]bool{}
		}
		for _, c := range r.codes {
			listed[r.status][c] = true
		}
	}
	byCode := map[string]problem.Kind{}
	for _, k := range kinds {
		byCode[k.Code()] = k
		if !listed[k.Status()][k.Code()] {
			errs = append(errs, fmt.Sprintf("problem code %q (status %d) is not listed under any %d response", k.Code(), k.Status(), k.Status()))
		}
	}
	for _, r := range responses {
		for _, c := range r.codes {
			k, ok := byCode[c]
			switch {
			case !ok:
				errs = append(errs, fmt.Sprintf("%s %s %d lists code %q, which adapter/problem does not define", r.op.method, r.op.path, r.status, c))
			case k.Status() != r.status:
				errs = append(errs, fmt.Sprintf("%s %s %d lists code %q, which comes with status %d", r.op.method, r.op.path, r.status, c, k.Status()))
			}
		}
	}
	return errs
}

var xsdMention = regexp.MustCompile(`\.\./[A-Za-z0-9._-]+/(?:dossier|withdrawal)\.xsd`)

// checkRefs requires every $ref (and discriminator mapping) to resolve: local
// ones in the document, relative ones to an existing file under dir (and
// their fragment inside it), and every XSD a description mentions to exist.
func checkRefs(doc oaDoc, dir string) []string {
	var errs []string
	checkRef := func(where, ref string) {
		if strings.HasPrefix(ref, "#") {
			if _, ok := pointerGet(doc, ref[1:]); !ok {
				errs = append(errs, fmt.Sprintf("%s: $ref %q does not resolve", where, ref))
			}
			return
		}
		if strings.Contains(ref, "://") || strings.HasPrefix(ref, "/") {
			errs = append(errs, fmt.Sprintf("%s: $ref %q is not relative", where, ref))
			return
		}
		file, frag, _ := strings.Cut(ref, "#")
		name := path.Join(dir, file)
		raw, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: $ref %q: %v", where, ref, err))
			return
		}
		if frag == "" {
			return
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: $ref %q: %v", where, ref, err))
			return
		}
		if _, ok := pointerGet(v, frag); !ok {
			errs = append(errs, fmt.Sprintf("%s: $ref %q: fragment does not resolve in %s", where, ref, name))
		}
	}
	var walk func(v any, loc string)
	walk = func(v any, loc string) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				here := loc + "/" + escapePtr(k)
				switch val := x[k].(type) {
				case string:
					if k == "$ref" {
						checkRef(loc, val)
					}
				case map[string]any:
					if k == "discriminator" {
						for _, mk := range sortedKeys(obj(val["mapping"])) {
							if ref, ok := obj(val["mapping"])[mk].(string); ok {
								checkRef(here+"/mapping/"+mk, ref)
							}
						}
					}
				}
				walk(x[k], here)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", loc, i))
			}
		case string:
			for _, m := range xsdMention.FindAllString(x, -1) {
				if _, err := os.Stat(path.Join(dir, m)); err != nil {
					errs = append(errs, fmt.Sprintf("%s mentions %s: %v", loc, m, err))
				}
			}
		}
	}
	walk(doc, "")
	return errs
}

// procedureFolders lists the folders of root that hold a dossier.schema.json.
func procedureFolders(root fs.FS) ([]string, error) {
	matches, err := fs.Glob(root, "*/dossier.schema.json")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, path.Dir(m))
	}
	sort.Strings(out)
	return out, nil
}

// checkProcedures requires the enum of every {procedure} path parameter, the
// JSON request body's definitions and the XSDs named for the XML body to
// cover exactly the procedure folders.
func checkProcedures(doc oaDoc, folders []string) []string {
	var errs []string
	want := strings.Join(folders, " ")
	seen := false
	for _, op := range operations(doc) {
		params := append(asSlice(obj(obj(doc["paths"])[op.path])["parameters"]), asSlice(op.op["parameters"])...)
		for i, p := range params {
			pm, _, err := deref(doc, p, fmt.Sprintf("%s/parameters/%d", op.ptr, i))
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			if pm["in"] != "path" || pm["name"] != "procedure" {
				continue
			}
			seen = true
			sch, _, err := deref(doc, pm["schema"], op.ptr+"/parameters/procedure/schema")
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			var enum []string
			for _, v := range asSlice(sch["enum"]) {
				s, _ := v.(string)
				enum = append(enum, s)
			}
			sort.Strings(enum)
			if got := strings.Join(enum, " "); got != want {
				errs = append(errs, fmt.Sprintf("%s %s: procedure enum [%s], want the folders holding dossier.schema.json [%s]", op.method, op.path, got, want))
			}
		}
		if !strings.Contains(op.path, "{procedure}") {
			continue
		}
		body, _, err := deref(doc, op.op["requestBody"], op.ptr+"/requestBody")
		if err != nil || body == nil {
			continue
		}
		content := obj(body["content"])
		if strings.HasSuffix(op.path, withdrawalSuffix) {
			errs = append(errs, checkWithdrawalBody(op, body)...)
			continue
		}
		if js := obj(content["application/json"]); js != nil {
			var refs []string
			for _, alt := range asSlice(obj(js["schema"])["oneOf"]) {
				if r, ok := obj(alt)["$ref"].(string); ok {
					refs = append(refs, r)
				}
			}
			sort.Strings(refs)
			var wantRefs []string
			for _, f := range folders {
				wantRefs = append(wantRefs, "../"+f+"/dossier.schema.json")
			}
			if !slices.Equal(refs, wantRefs) {
				errs = append(errs, fmt.Sprintf("%s %s: JSON body oneOf %v, want %v", op.method, op.path, refs, wantRefs))
			}
			mapping := obj(obj(obj(js["schema"])["discriminator"])["mapping"])
			if mapping != nil && strings.Join(sortedKeys(mapping), " ") != want {
				errs = append(errs, fmt.Sprintf("%s %s: discriminator mapping %v, want [%s]", op.method, op.path, sortedKeys(mapping), want))
			}
		}
		if x := obj(content["application/xml"]); x != nil {
			text := fmt.Sprint(x["description"], " ", obj(x["schema"])["description"], " ", body["description"])
			for _, f := range folders {
				if !strings.Contains(text, "../"+f+"/dossier.xsd") {
					errs = append(errs, fmt.Sprintf("%s %s: the XML body does not name ../%s/dossier.xsd", op.method, op.path, f))
				}
			}
		}
	}
	if !seen {
		errs = append(errs, "no operation has a {procedure} path parameter")
	}
	return errs
}

// withdrawalSuffix ends the path of the withdrawal route, whose body is the withdrawal
// request: one definition for every procedure.
const withdrawalSuffix = "/{maHoSo}/withdrawal"

// checkWithdrawalBody requires the withdrawal route's JSON body to be the withdrawal
// definition and its XML body to name the withdrawal XSD.
func checkWithdrawalBody(op operation, body map[string]any) []string {
	const schemaRef, xsd = "../withdrawal/withdrawal.schema.json", "../withdrawal/withdrawal.xsd"
	var errs []string
	content := obj(body["content"])
	if ref, _ := obj(obj(content["application/json"])["schema"])["$ref"].(string); ref != schemaRef {
		errs = append(errs, fmt.Sprintf("%s %s: JSON body %q, want %s", op.method, op.path, ref, schemaRef))
	}
	x := obj(content["application/xml"])
	if text := fmt.Sprint(x["description"], " ", obj(x["schema"])["description"], " ", body["description"]); !strings.Contains(text, xsd) {
		errs = append(errs, fmt.Sprintf("%s %s: the XML body does not name %s", op.method, op.path, xsd))
	}
	return errs
}

var echoParam = regexp.MustCompile(`(^|[^\\]):([A-Za-z0-9_]+)`)

// routeKey is a registered route as the document names its operation:
// "get /v1/x/{id}"; an escaped colon ("dossiers\\:validate") is a colon of the path.
func routeKey(r *echo.Route) string {
	p := echoParam.ReplaceAllString(r.Path, "$1{$2}")
	return strings.ToLower(r.Method) + " " + strings.ReplaceAll(p, `\:`, ":")
}

// realRoutes leaves out echo's catch-alls.
func realRoutes(routes []*echo.Route) []*echo.Route {
	return slices.DeleteFunc(slices.Clone(routes), func(r *echo.Route) bool {
		return r.Method == echo.RouteNotFound // catch-alls that let group middleware run on unknown paths
	})
}

// undocumentedRoutes requires every registered route to be documented.
func undocumentedRoutes(doc oaDoc, routes []*echo.Route) []string {
	var errs []string
	for _, r := range realRoutes(routes) {
		m, p, _ := strings.Cut(routeKey(r), " ")
		if obj(obj(obj(doc["paths"])[p])[m]) == nil {
			errs = append(errs, fmt.Sprintf("route %s %s is not documented (as %s)", r.Method, r.Path, p))
		}
	}
	return errs
}

// unregisteredOperations requires every documented operation to be registered.
func unregisteredOperations(doc oaDoc, routes []*echo.Route) []string {
	var errs []string
	registered := map[string]bool{}
	for _, r := range realRoutes(routes) {
		registered[routeKey(r)] = true
	}
	for _, op := range operations(doc) {
		if !registered[op.method+" "+op.path] {
			errs = append(errs, fmt.Sprintf("%s %s is documented but not registered by httpapi.New", strings.ToUpper(op.method), op.path))
		}
	}
	return errs
}

// checkRoutes requires every registered route to be documented and every
// documented operation to be registered.
func checkRoutes(doc oaDoc, routes []*echo.Route) []string {
	return append(undocumentedRoutes(doc, routes), unregisteredOperations(doc, routes)...)
}

// contractStatuses are the statuses of the contract's table for the submit
// route, plus 500.
var contractStatuses = []string{"202", "400", "401", "404", "409", "413", "415", "422", "500", "503", "504"}

// checkSubmitResponses requires the contract's statuses on the submit
// and the withdrawal operations and Retry-After on 503 and 504.
func checkSubmitResponses(doc oaDoc) []string {
	var errs []string
	for _, p := range []string{"/v1/procedures/{procedure}/dossiers", "/v1/procedures/{procedure}/dossiers/{maHoSo}/withdrawal"} {
		errs = append(errs, checkContractResponses(doc, p)...)
	}
	return errs
}

// checkContractResponses is checkSubmitResponses for one POST operation.
func checkContractResponses(doc oaDoc, p string) []string {
	var errs []string
	op := obj(obj(obj(doc["paths"])[p])["post"])
	if op == nil {
		return []string{"POST " + p + " is not documented"}
	}
	responses := obj(op["responses"])
	for _, s := range contractStatuses {
		if responses[s] == nil {
			errs = append(errs, fmt.Sprintf("POST %s: no %s response", p, s))
		}
	}
	for _, s := range []string{"503", "504"} {
		r, _, err := deref(doc, responses[s], "")
		if err != nil {
			continue
		}
		if obj(r["headers"])["Retry-After"] == nil {
			errs = append(errs, fmt.Sprintf("POST %s %s: no Retry-After header", p, s))
		}
	}
	return errs
}

// securitySchemes are the schemes the adapter's routes use, by the name the
// document gives them, with the shape each must have.
var securitySchemes = map[string]string{
	"bearer":          "http bearer",                     // the portal (auth.bearerTokens)
	"admin":           "http bearer",                     // operators (auth.adminTokens)
	"treasuryWebhook": "apiKey header webhook-signature", // Standard Webhooks (callbacks.secrets)
}

// documentedSecurity is an operation's effective security: the names of its
// requirements' schemes ("" for none), alternatives joined by " | ".
func documentedSecurity(doc oaDoc, op operation) string {
	reqs, ok := op.op["security"]
	if !ok {
		reqs = doc["security"]
	}
	var alts []string
	for _, r := range asSlice(reqs) {
		alts = append(alts, strings.Join(sortedKeys(obj(r)), " + "))
	}
	sort.Strings(alts)
	return strings.Join(alts, " | ")
}

// checkSecurity requires every documented operation to name the scheme the
// server asks for on its route (observed: "method path" to scheme name, ""
// for none), and every scheme the document uses to have the shape of
// securitySchemes.
func checkSecurity(doc oaDoc, observed map[string]string) []string {
	var errs []string
	for _, op := range operations(doc) {
		want, ok := observed[op.method+" "+op.path]
		if !ok {
			continue // left to checkRoutes
		}
		if got := documentedSecurity(doc, op); got != want {
			errs = append(errs, fmt.Sprintf("%s %s: documented security %q, the server asks for %q", strings.ToUpper(op.method), op.path, got, want))
		}
	}
	schemes := obj(obj(doc["components"])["securitySchemes"])
	for _, name := range sortedKeys(securitySchemes) {
		sc := obj(schemes[name])
		shape := fmt.Sprint(sc["type"], " ", sc["scheme"])
		if sc["type"] == "apiKey" {
			shape = fmt.Sprint(sc["type"], " ", sc["in"], " ", sc["name"])
		}
		if shape != securitySchemes[name] {
			errs = append(errs, fmt.Sprintf("security scheme %q is %q, want %q", name, shape, securitySchemes[name]))
		}
	}
	return errs
}

// --- a server with every optional route wired ---

// The credentials of the server that fullServer builds.
const (
	portalToken = "openapi-test-portal-token"
	adminToken  = "openapi-test-admin-token"
)

var webhookSecret = []byte("openapi-test-webhook-secret-0001")

// fakeCallbacks stands in for adapter/statusflow: it checks the Standard
// Webhooks headers with the real verifier, then answers err if set, else
// accepts each event id once.
type fakeCallbacks struct {
	verifier *webhook.Verifier
	seen     map[string]bool
	err      error
}

func (f *fakeCallbacks) Receive(_ context.Context, h http.Header, body []byte) (bool, error) {
	id, err := f.verifier.Verify(h, body)
	if err != nil {
		return false, problem.Wrap(problem.Unauthorized, err, "")
	}
	if f.err != nil {
		return false, f.err
	}
	dup := f.seen[id]
	f.seen[id] = true
	return dup, nil
}

// fakeDeadLetters stands in for the outbox store: its letters, err for
// every call if set, and the store's errors for bad arguments.
type fakeDeadLetters struct {
	letters []outbox.DeadLetter
	err     error
}

func (f *fakeDeadLetters) find(dossier, eventID string) (outbox.DeadLetter, error) {
	if f.err != nil {
		return outbox.DeadLetter{}, f.err
	}
	if err := outbox.Check(dossier, eventID); err != nil {
		return outbox.DeadLetter{}, err
	}
	for _, l := range f.letters {
		if l.Dossier == dossier && l.ID == eventID {
			return l, nil
		}
	}
	return outbox.DeadLetter{}, outbox.ErrNotFound
}

func (f *fakeDeadLetters) DeadLetters(_ context.Context, cursor string, n int) ([]outbox.DeadLetter, string, error) {
	if f.err != nil {
		return nil, "", f.err
	}
	if _, err := outbox.DecodeCursor(cursor); err != nil {
		return nil, "", err
	}
	if len(f.letters) <= n {
		return f.letters, "", nil
	}
	last := f.letters[n-1]
	return f.letters[:n], outbox.EncodeCursor(outbox.DeadKey(last.DeadAt, last.Dossier, last.ID)), nil
}

func (f *fakeDeadLetters) Inspect(_ context.Context, dossier, eventID string) (outbox.DeadLetter, error) {
	return f.find(dossier, eventID)
}

func (f *fakeDeadLetters) Replay(_ context.Context, dossier, eventID string) error {
	_, err := f.find(dossier, eventID)
	return err
}

func (f *fakeDeadLetters) Discard(_ context.Context, dossier, eventID string) error {
	_, err := f.find(dossier, eventID)
	return err
}

func (f *fakeDeadLetters) ReplayAll(context.Context) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	return len(f.letters), nil
}

// sampleStatusEvent is a callback body, as stored in a dead letter's Payload.
const sampleStatusEvent = `{"eventId":"evt-3f6c2a9e8b1d4c7f","dossierCode":"G09.20-20260612-0000101","procedure":"tai-khoan",` +
	`"supplementNo":0,"documentId":"KB-2026-000003","reference":"KBNN-0011-2026-000003","status":"ACCOUNT_OPENED",` +
	`"sequence":3,"occurredAt":"2026-06-12T15:00:00+07:00"}`

const sampleStatusEvent2 = `{"eventId":"evt-9a01","dossierCode":"G09.20-20260609-0000101","procedure":"chi-thuong-xuyen",` +
	`"supplementNo":0,"documentId":"KB-2026-000001","reference":"KBNN-0011-2026-000001","status":"PAID",` +
	`"sequence":4,"occurredAt":"2026-06-10T10:15:30Z"}`

// sampleDeadLetters are two dead letters as the stores build them; the
// second has no recorded attempt, which encoding/json writes as null.
func sampleDeadLetters() []outbox.DeadLetter {
	at := time.Date(2026, 6, 12, 15, 0, 1, 204e6, time.FixedZone("ICT", 7*3600))
	dead := at.Add(5*time.Second + 714*time.Millisecond)
	return []outbox.DeadLetter{
		{
			Event: outbox.Event{ID: "evt-3f6c2a9e8b1d4c7f", Dossier: "tai-khoan|G09.20-20260612-0000101", Seq: 3,
				Payload: []byte(sampleStatusEvent), AppendedAt: at},
			Reason: "permanent: portal: error_code 05", DeadAt: dead, Attempts: 2,
			History: []outbox.Attempt{
				{At: at.Add(326 * time.Millisecond), Worker: "adapter-1", Outcome: outbox.OutcomeRetry, Reason: "portal: HTTP 503"},
				{At: dead, Worker: "adapter-2", Outcome: outbox.OutcomeDeadLetter, Reason: "permanent: portal: error_code 05"},
			},
			Held: 1, Deferred: []string{"evt-7c41"},
		},
		{
			Event: outbox.Event{ID: "evt-9a01", Dossier: "chi-thuong-xuyen|G09.20-20260609-0000101", Seq: 1,
				Payload: []byte(sampleStatusEvent2), AppendedAt: at.UTC()},
			Reason: "retries exhausted: portal: HTTP 502", DeadAt: dead.Add(72 * time.Hour).UTC(), Attempts: 1,
		},
	}
}

// listeners are httpapi's two handlers served as one, as the document
// describes them: a path of the admin listener (/metrics, /debug/pprof/,
// /v1/admin/...) goes to admin, any other to public.
type listeners struct{ public, admin *echo.Echo }

// bothListeners builds both handlers from o.
func bothListeners(o httpapi.Options) listeners {
	if o.Metrics == nil {
		o.Metrics = httpapi.NewMetrics()
	}
	return listeners{public: httpapi.New(o), admin: httpapi.NewAdmin(o)}
}

// adminPath reports whether p is served by the admin listener.
func adminPath(p string) bool {
	return p == "/metrics" || strings.HasPrefix(p, "/debug/pprof/") || p == "/v1/admin" || strings.HasPrefix(p, "/v1/admin/")
}

// Routes lists both listeners' routes (/healthz and /readyz twice).
func (l listeners) Routes() []*echo.Route { return append(l.public.Routes(), l.admin.Routes()...) }

func (l listeners) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if adminPath(r.URL.Path) {
		l.admin.ServeHTTP(w, r)
		return
	}
	l.public.ServeHTTP(w, r)
}

// fullServer builds the adapter's handlers with every optional route wired
// to fakes; cb and dl may be nil for fresh ones.
func fullServer(cb *fakeCallbacks, dl *fakeDeadLetters) listeners {
	if cb == nil {
		cb = &fakeCallbacks{}
	}
	if cb.verifier == nil {
		cb.verifier = webhook.NewVerifier([][]byte{webhookSecret}, 0, nil)
	}
	if cb.seen == nil {
		cb.seen = map[string]bool{}
	}
	if dl == nil {
		dl = &fakeDeadLetters{letters: sampleDeadLetters()}
	}
	return bothListeners(httpapi.Options{
		Callers:      []httpapi.Caller{{Name: "portal", Token: portalToken}},
		Callbacks:    cb,
		DeadLetters:  dl,
		AdminCallers: []httpapi.Caller{{Name: "operator", Token: adminToken}},
		Dossiers:     &fakeDossiers{},
		Signers:      signers.NewMemory(),
		Audit:        fakeAudit{},
		Log:          slog.New(slog.DiscardHandler),
	})
}

// sampleReceipt is a receipt as a 202 carries it.
var sampleReceipt = &auditlog.Receipt{LogOrigin: "kbnn-dvc-adapter/test", LogIndex: 41,
	LeafHash:   "5f0b4f6e0f9f3c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192",
	BodySHA256: "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"}

// fakeAudit is an evidence log of one entry that no checkpoint covers yet.
type fakeAudit struct{}

func (fakeAudit) Checkpoint() []byte { return nil }

func (fakeAudit) Entry(i uint64) ([]byte, error) {
	if i > 0 {
		return nil, auditlog.ErrNotFound
	}
	return []byte(`{"time":"2026-06-09T01:30:02Z"}`), nil
}

func (fakeAudit) Proof(uint64) ([]byte, error) { return nil, auditlog.ErrNotFound }

// samplePathValues fill the path parameters of a route.
var samplePathValues = strings.NewReplacer(":procedure", "tai-khoan", ":maHoSo", "G09.20-20260612-0000101", ":eventId", "evt-3f6c2a9e8b1d4c7f", ":index", "0")

// serve sends one request to e and records the response.
func serve(e http.Handler, method, target string, body []byte, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// probeSecurity sends every route of e a request without credentials and
// tells, from the answer, which scheme the route asks for: a 401 with the
// portal's or the operators' WWW-Authenticate, a 401 without one (the
// webhook signature), or none. A route with a Bearer challenge that also
// admits the other bearer credential asks for either ("admin | bearer").
func probeSecurity(e listeners) map[string]string {
	out := map[string]string{}
	for _, r := range realRoutes(e.Routes()) {
		target := strings.ReplaceAll(samplePathValues.Replace(r.Path), `\:`, ":") // an escaped colon is the path's
		rec := serve(e, r.Method, target, []byte("{}"), nil)
		admits := func(token string) bool {
			return serve(e, r.Method, target, []byte("{}"), http.Header{"Authorization": {"Bearer " + token}}).Code != http.StatusUnauthorized
		}
		scheme := ""
		if rec.Code == http.StatusUnauthorized {
			switch wa := rec.Header().Get("WWW-Authenticate"); wa {
			case `Bearer realm="dvc-adapter"`:
				scheme = "bearer"
				if admits(adminToken) {
					scheme = "admin | bearer"
				}
			case `Bearer realm="dvc-adapter-admin"`:
				scheme = "admin"
				if admits(portalToken) {
					scheme = "admin | bearer"
				}
			case "":
				scheme = "treasuryWebhook"
			default:
				scheme = "unknown challenge " + wa
			}
		}
		out[routeKey(r)] = scheme
	}
	return out
}

// checkResponse checks a recorded response of operation method p against
// the document: its status is documented, its body matches the schema of
// its media type (or there is no body where none is documented), the
// headers it sets that callers act on are documented, and the documented
// X-Request-Id and WWW-Authenticate are set (the latter as described).
func checkResponse(doc oaDoc, s *openAPISchemas, method, p string, rec *httptest.ResponseRecorder) []string {
	what := fmt.Sprintf("%s %s %d", strings.ToUpper(method), p, rec.Code)
	op := obj(obj(obj(doc["paths"])[p])[method])
	if op == nil {
		return []string{what + ": operation not documented"}
	}
	loc := "/paths/" + escapePtr(p) + "/" + method + "/responses/" + strconv.Itoa(rec.Code)
	raw := obj(op["responses"])[strconv.Itoa(rec.Code)]
	if raw == nil {
		return []string{what + ": status not documented"}
	}
	r, rloc, err := deref(doc, raw, loc)
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	content := obj(r["content"])
	body := rec.Body.Bytes()
	media, _, _ := strings.Cut(rec.Header().Get("Content-Type"), ";")
	switch {
	case len(body) == 0:
		if len(content) != 0 {
			errs = append(errs, what+": no body, but the document describes one")
		}
	case obj(content[media]) == nil:
		errs = append(errs, fmt.Sprintf("%s: %s body not documented", what, media))
	default:
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: body is not JSON: %v", what, err))
			break
		}
		ptr := rloc + "/content/" + escapePtr(media) + "/schema"
		if err := s.at(ptr).Validate(v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: body does not match %s: %v", what, ptr, err))
		}
	}
	headers := obj(r["headers"])
	for _, h := range []string{"Retry-After", "WWW-Authenticate", "Allow", "Location"} {
		if rec.Header().Get(h) != "" && headers[h] == nil {
			errs = append(errs, fmt.Sprintf("%s: header %s is set but not documented", what, h))
		}
	}
	for _, h := range []string{"X-Request-Id", "WWW-Authenticate"} {
		if headers[h] == nil {
			continue
		}
		got := rec.Header().Get(h)
		if got == "" {
			errs = append(errs, fmt.Sprintf("%s: documented header %s is not set", what, h))
			continue
		}
		hd, _, err := deref(doc, headers[h], rloc+"/headers/"+h)
		if desc, _ := obj(hd)["description"].(string); err == nil && h == "WWW-Authenticate" && !strings.Contains(desc, got) {
			errs = append(errs, fmt.Sprintf("%s: %s is %s, which its description does not say", what, h, got))
		}
	}
	return errs
}

// --- JSON Schema validation of the document's schemas and examples ---

// dirLoader loads schemas under schemaBaseURL from the files of this directory.
type dirLoader struct{}

func (dirLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, schemaBaseURL)
	if !ok {
		return nil, fmt.Errorf("schema %q is outside %s", url, schemaBaseURL)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

type openAPISchemas struct {
	t        *testing.T
	compiler *jsonschema.Compiler
}

func newOpenAPISchemas(t *testing.T, doc oaDoc) *openAPISchemas {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(dirLoader{})
	if err := c.AddResource(adapterOpenAPIURL, doc); err != nil {
		t.Fatal(err)
	}
	return &openAPISchemas{t: t, compiler: c}
}

// at compiles the schema at JSON Pointer ptr of the document.
func (s *openAPISchemas) at(ptr string) *jsonschema.Schema {
	s.t.Helper()
	sch, err := s.compiler.Compile(adapterOpenAPIURL + "#" + ptr)
	if err != nil {
		s.t.Fatalf("compile %s: %v", ptr, err)
	}
	return sch
}

// asJSON marshals v the way the adapter writes it and reads it back as a JSON value.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameMembers compares the members of a value with a schema's properties.
func sameMembers(t *testing.T, what string, value any, schema map[string]any) {
	t.Helper()
	got := sortedKeys(obj(value))
	want := sortedKeys(obj(schema["properties"]))
	if !slices.Equal(got, want) {
		t.Errorf("%s: the code writes members %v, the document describes %v", what, got, want)
	}
}

// --- tests ---

func TestAdapterOpenAPIHeader(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	if obj(obj(obj(doc["components"])["securitySchemes"])["bearer"])["scheme"] != "bearer" {
		t.Error("no bearer security scheme")
	}
	desc, _ := obj(doc["info"])["description"].(string)
	for _, must := range []string{"enveloped", "C14N", "RSA-SHA256", "ECDSA-SHA384", "SHA-1", "2.5.4.12", "direct child"} {
		if !strings.Contains(desc, must) {
			t.Errorf("info.description does not describe the signature profile (%q)", must)
		}
	}
}

func TestAdapterOpenAPIProblemCodes(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, e := range checkProblemCodes(doc, problem.Kinds()) {
		t.Error(e)
	}
	// Every code appears in the document at all.
	raw := string(readAdapterOpenAPI(t))
	for _, k := range problem.Kinds() {
		if !strings.Contains(raw, k.Code()) {
			t.Errorf("problem code %q does not appear in %s", k.Code(), adapterOpenAPIFile)
		}
	}
}

func TestAdapterOpenAPIRefs(t *testing.T) {
	for _, e := range checkRefs(loadOpenAPI(t), path.Dir(adapterOpenAPIFile)) {
		t.Error(e)
	}
}

func TestAdapterOpenAPIProcedures(t *testing.T) {
	folders, err := procedureFolders(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	if len(folders) == 0 {
		t.Fatal("no folder holds a dossier.schema.json")
	}
	for _, e := range checkProcedures(loadOpenAPI(t), folders) {
		t.Error(e)
	}
}

// checkListeners requires each operation of the admin listener, and only
// those, to name the admin listener in its path's servers; /healthz and
// /readyz are on both and name none.
func checkListeners(doc oaDoc, l listeners) []string {
	var errs []string
	onAdmin := func(p string) bool {
		servers, _ := obj(obj(doc["paths"])[p])["servers"].([]any)
		return len(servers) == 1 && strings.HasSuffix(fmt.Sprint(obj(servers[0])["url"]), ":8090")
	}
	for _, side := range []struct {
		name   string
		routes []*echo.Route
		admin  bool
	}{{"public", l.public.Routes(), false}, {"admin", l.admin.Routes(), true}} {
		for _, r := range realRoutes(side.routes) {
			_, p, _ := strings.Cut(routeKey(r), " ")
			if p == "/healthz" || p == "/readyz" {
				if onAdmin(p) {
					errs = append(errs, p+" is on both listeners but documented on the admin one only")
				}
				continue
			}
			if onAdmin(p) != side.admin || adminPath(r.Path) != side.admin {
				errs = append(errs, fmt.Sprintf("%s %s is on the %s listener; its documented servers (or adminPath) say otherwise", r.Method, p, side.name))
			}
		}
	}
	return errs
}

// Each route is documented on the listener that serves it.
func TestAdapterOpenAPIListeners(t *testing.T) {
	for _, e := range checkListeners(loadOpenAPI(t), fullServer(nil, nil)) {
		t.Error(e)
	}
}

func TestAdapterOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	// Every optional route wired (callbacks, dead letters): the routes and
	// the document match both ways.
	full := fullServer(nil, nil).Routes()
	for _, msg := range checkRoutes(doc, full) {
		t.Error(msg)
	}
	// Nothing wired: what is registered is documented too, and is part of
	// the full set, which is larger (else the fakes wired nothing).
	bare := bothListeners(httpapi.Options{}).Routes()
	for _, msg := range undocumentedRoutes(doc, bare) {
		t.Error(msg)
	}
	fullKeys := map[string]bool{}
	for _, r := range realRoutes(full) {
		fullKeys[routeKey(r)] = true
	}
	for _, r := range realRoutes(bare) {
		if !fullKeys[routeKey(r)] {
			t.Errorf("%s is registered without options but not with every option set", routeKey(r))
		}
	}
	if len(realRoutes(full)) <= len(realRoutes(bare)) {
		t.Errorf("the fakes register no optional route: %d routes with them, %d without", len(realRoutes(full)), len(realRoutes(bare)))
	}
}

// TestAdapterOpenAPISecurity compares each operation's security with what
// the server asks of a request without credentials.
func TestAdapterOpenAPISecurity(t *testing.T) {
	observed := probeSecurity(fullServer(nil, nil))
	seen := map[string]bool{}
	for _, scheme := range observed {
		seen[scheme] = true
	}
	for _, want := range append(sortedKeys(securitySchemes), "") {
		if !seen[want] {
			t.Errorf("no route asks for %q; the probe or the fakes are broken", want)
		}
	}
	for _, e := range checkSecurity(loadOpenAPI(t), observed) {
		t.Error(e)
	}
}

// TestAdapterOpenAPIStatusDescriptions requires the callback authentication
// and the retry and dead-letter behaviour to be explained.
func TestAdapterOpenAPIStatusDescriptions(t *testing.T) {
	doc := loadOpenAPI(t)
	text := func(ptr string) string {
		v, _ := pointerGet(doc, ptr)
		s, _ := v.(string)
		return s
	}
	for ptr, musts := range map[string][]string{
		"/components/securitySchemes/treasuryWebhook/description": {"webhook-id", "webhook-timestamp", "webhook-signature",
			"HMAC-SHA256", "callbacks.secrets", "callbacks.tolerance", "5 minutes", "rotation", "401"},
		"/components/securitySchemes/admin/description":             {"auth.adminTokens", "dvc-adapter-admin"},
		"/paths/~1v1~1callbacks~1treasury~1status/post/description": {"stored durably", "72 hours", "dead letter", "in order"},
		"/info/description": {"72 hours", "delivery.minSpan", "dead letter", "Retry-After", "Held"},
		"/paths/~1v1~1admin~1dead-letters~1{procedure}~1{maHoSo}~1{eventId}~1replay/post/description": {"held events"},
	} {
		got := text(ptr)
		for _, must := range musts {
			if !strings.Contains(got, must) {
				t.Errorf("%s does not mention %q", ptr, must)
			}
		}
	}
}

// TestAdapterOpenAPIDeadLetterBody validates dead letters as encoding/json
// writes them (Go field names, base64 payload, null for a nil slice)
// against #/components/schemas/DeadLetter.
func TestAdapterOpenAPIDeadLetterBody(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPISchemas(t, doc)
	schemas := obj(obj(doc["components"])["schemas"])
	dlSchema := s.at("/components/schemas/DeadLetter")
	event, err := s.compiler.Compile(schemaBaseURL + "treasury/status-event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	letters := sampleDeadLetters()
	noPayload := letters[1]
	noPayload.Payload = nil
	for i, l := range append(letters, noPayload) {
		v := asJSON(t, l)
		if err := dlSchema.Validate(v); err != nil {
			t.Errorf("letter %d: outbox.DeadLetter does not match #/components/schemas/DeadLetter: %v", i, err)
		}
		sameMembers(t, "outbox.DeadLetter", v, obj(schemas["DeadLetter"]))
		if h := asSlice(obj(v)["History"]); len(h) > 0 {
			sameMembers(t, "outbox.Attempt", h[0], obj(schemas["DeadLetterAttempt"]))
		}
		// Payload is the callback body in standard base64, as the document says.
		if p, ok := obj(v)["Payload"].(string); ok {
			raw, err := base64.StdEncoding.DecodeString(p)
			if err != nil || !bytes.Equal(raw, l.Payload) {
				t.Errorf("letter %d: Payload %q is not the standard base64 of the event (%v)", i, p, err)
				continue
			}
			ev, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err == nil {
				err = event.Validate(ev)
			}
			if err != nil {
				t.Errorf("letter %d: the sample payload is not a status event: %v", i, err)
			}
		}
	}
	page := asJSON(t, map[string]any{"deadLetters": letters, "next": outbox.EncodeCursor(outbox.DeadKey(letters[1].DeadAt, letters[1].Dossier, letters[1].ID))})
	if err := s.at("/components/schemas/DeadLetterPage").Validate(page); err != nil {
		t.Errorf("the list body does not match #/components/schemas/DeadLetterPage: %v", err)
	}
}

// statusRoundTrips are requests to the callback and dead-letter routes,
// each against a fresh full server, with the document's operation for them.
func statusRoundTrips(t *testing.T) []statusRoundTrip {
	t.Helper()
	const (
		callback = "/v1/callbacks/treasury/status"
		list     = "/v1/admin/dead-letters"
		all      = "/v1/admin/dead-letters/replay"
		one      = "/v1/admin/dead-letters/{procedure}/{maHoSo}/{eventId}"
		replay   = one + "/replay"
	)
	body := []byte(sampleStatusEvent)
	const id = "evt-3f6c2a9e8b1d4c7f"
	signed := func(b []byte, at time.Time) http.Header { return webhook.Headers(webhookSecret, id, at, b) }
	admin := http.Header{"Authorization": {"Bearer " + adminToken}}
	letter := "/v1/admin/dead-letters/tai-khoan/G09.20-20260612-0000101/" + id
	schemaViolation := problem.New(problem.SchemaViolation, "eventId must equal the webhook-id header.")
	schemaViolation.Fields = []problem.FieldError{{Path: "/eventId", Message: "must equal the webhook-id header"}}
	storeDown := &problem.Error{Kind: problem.StoreUnavailable, Cause: errors.New("redis: connection refused"), RetryAfter: 5}
	return []statusRoundTrip{
		{name: "callback accepted", method: "post", docPath: callback, target: callback, body: body, header: signed(body, time.Now()), want: 202},
		{name: "callback duplicate", method: "post", docPath: callback, target: callback, body: body, header: signed(body, time.Now()), want: 200,
			cb: &fakeCallbacks{seen: map[string]bool{id: true}}},
		{name: "callback unsigned", method: "post", docPath: callback, target: callback, body: body, want: 401},
		{name: "callback stale timestamp", method: "post", docPath: callback, target: callback, body: body, header: signed(body, time.Now().Add(-time.Hour)), want: 401},
		{name: "callback signed for another body", method: "post", docPath: callback, target: callback, body: body, header: signed([]byte("{}"), time.Now()), want: 401},
		{name: "callback malformed", method: "post", docPath: callback, target: callback, body: body, header: signed(body, time.Now()), want: 400,
			cb: &fakeCallbacks{err: problem.New(problem.MalformedBody, "The body is not a single well-formed JSON value.")}},
		{name: "callback schema violation", method: "post", docPath: callback, target: callback, body: body, header: signed(body, time.Now()), want: 422,
			cb: &fakeCallbacks{err: schemaViolation}},
		{name: "callback too large", method: "post", docPath: callback, target: callback, body: bytes.Repeat([]byte(" "), 256<<10+1), want: 413},
		{name: "callback store unavailable", method: "post", docPath: callback, target: callback, body: body, header: signed(body, time.Now()), want: 503,
			cb: &fakeCallbacks{err: storeDown}},
		{name: "callback wrong method", method: "post", docPath: callback, target: callback, verb: "GET", want: 405},
		{name: "list", method: "get", docPath: list, target: list, header: admin, want: 200},
		{name: "list first page", method: "get", docPath: list, target: list + "?limit=1", header: admin, want: 200},
		{name: "list empty", method: "get", docPath: list, target: list, header: admin, want: 200, dl: &fakeDeadLetters{}},
		{name: "list bad cursor", method: "get", docPath: list, target: list + "?cursor=bm90LWEta2V5", header: admin, want: 400},
		{name: "list without credential", method: "get", docPath: list, target: list, want: 401},
		{name: "list with the portal's token", method: "get", docPath: list, target: list, header: http.Header{"Authorization": {"Bearer " + portalToken}}, want: 401},
		{name: "list store unavailable", method: "get", docPath: list, target: list, header: admin, want: 503, dl: &fakeDeadLetters{err: errors.New("redis: connection refused")}},
		{name: "list wrong method", method: "get", docPath: list, target: list, verb: "PUT", want: 405},
		{name: "inspect", method: "get", docPath: one, target: letter, header: admin, want: 200},
		{name: "inspect unknown", method: "get", docPath: one, target: letter + "x", header: admin, want: 404},
		{name: "inspect store unavailable", method: "get", docPath: one, target: letter, header: admin, want: 503, dl: &fakeDeadLetters{err: errors.New("redis: connection refused")}},
		{name: "discard", method: "delete", docPath: one, target: letter, header: admin, want: 204},
		{name: "discard unknown", method: "delete", docPath: one, target: letter + "x", header: admin, want: 404},
		{name: "replay", method: "post", docPath: replay, target: letter + "/replay", header: admin, want: 202},
		{name: "replay unknown", method: "post", docPath: replay, target: letter + "x/replay", header: admin, want: 404},
		{name: "replay without credential", method: "post", docPath: replay, target: letter + "/replay", want: 401},
		{name: "replay all", method: "post", docPath: all, target: all, header: admin, want: 202},
		{name: "replay all store unavailable", method: "post", docPath: all, target: all, header: admin, want: 503, dl: &fakeDeadLetters{err: errors.New("redis: connection refused")}},
	}
}

type statusRoundTrip struct {
	name            string
	method, docPath string // the document's operation
	verb            string // the request's method when not method
	target          string
	body            []byte
	header          http.Header
	cb              *fakeCallbacks
	dl              *fakeDeadLetters
	want            int
}

func (rt statusRoundTrip) do() *httptest.ResponseRecorder {
	verb := rt.verb
	if verb == "" {
		verb = strings.ToUpper(rt.method)
	}
	return serve(fullServer(rt.cb, rt.dl), verb, rt.target, rt.body, rt.header)
}

// TestAdapterOpenAPIStatusResponses sends the callback and dead-letter
// routes requests through the real handlers (with fake stores) and checks
// every answer against the document.
func TestAdapterOpenAPIStatusResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPISchemas(t, doc)
	for _, rt := range statusRoundTrips(t) {
		t.Run(rt.name, func(t *testing.T) {
			rec := rt.do()
			if rec.Code != rt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, rt.want, rec.Body)
			}
			for _, e := range checkResponse(doc, s, rt.method, rt.docPath, rec) {
				t.Error(e)
			}
		})
	}
}

func TestAdapterOpenAPISubmitResponses(t *testing.T) {
	for _, e := range checkSubmitResponses(loadOpenAPI(t)) {
		t.Error(e)
	}
}

// TestAdapterOpenAPIBodies validates what the code writes against the
// document: the 202 body, the dossier status and every problem kind.
func TestAdapterOpenAPIBodies(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPISchemas(t, doc)
	at := time.Date(2026, 6, 9, 8, 30, 2, 0, time.FixedZone("ICT", 7*3600))

	acc := asJSON(t, intake.Accepted{
		MaHoSo: "G09.20-20260609-0092637", SoBoSung: 1, Procedure: "chi-thuong-xuyen", MaTTHC: "2.002208",
		TrangThai: intake.StatusRegistered, TreasuryReference: "KBNN-0011-2026-000001",
		TreasuryDocumentID: "KB-2026-000001", ReceivedAt: at, Receipt: sampleReceipt,
	})
	if err := s.at("/components/schemas/Accepted").Validate(acc); err != nil {
		t.Errorf("intake.Accepted does not match #/components/schemas/Accepted: %v", err)
	}
	sameMembers(t, "intake.Accepted", acc, obj(obj(obj(doc["components"])["schemas"])["Accepted"]))

	wacc := asJSON(t, intake.WithdrawalAccepted{
		MaHoSo: "G09.20-20260609-0092637", SoBoSung: 0, Procedure: "chi-thuong-xuyen",
		TrangThai: intake.StatusWithdrawn, TreasuryReference: "KBNN-0011-2026-000001", ReceivedAt: at, Receipt: sampleReceipt,
	})
	if err := s.at("/components/schemas/WithdrawalAccepted").Validate(wacc); err != nil {
		t.Errorf("intake.WithdrawalAccepted does not match #/components/schemas/WithdrawalAccepted: %v", err)
	}
	sameMembers(t, "intake.WithdrawalAccepted", wacc, obj(obj(obj(doc["components"])["schemas"])["WithdrawalAccepted"]))

	rec := asJSON(t, dossier.Record{
		Procedure: "von-dau-tu", MaHoSo: "G09.20-20260609-0092637", SoBoSung: 0, TrangThai: 4,
		TreasuryReference: "KBNN-0011-2026-000001", TreasuryDocumentID: "KB-2026-000001", UpdatedAt: at,
		Unit: "1012345", ReceivedAt: at,
		History: []dossier.Event{
			{TrangThai: 1, At: at, Source: "adapter", Note: "sent"},
			{TrangThai: 4, At: at.Add(time.Hour), Source: "treasury", Note: "processing", EventID: "evt-1", TreasuryStatus: "PROCESSING",
				Delivery: dossier.DeliveryNotAllowed, DeliveredAt: at.Add(time.Hour + time.Second),
				DeliveryNote: "PROCESSING moves a dossier only from 1, 2, 5, not from 9"},
		},
		Rounds: []dossier.Round{{SoBoSung: 1, RequestedAt: at, RequestedBy: "Nguyễn Văn B", Reason: "thiếu hợp đồng",
			EventID: "evt-c1", DueAt: at.Add(48 * time.Hour), ResubmittedAt: at.Add(time.Hour), TreasuryReference: "KBNN-0011-2026-000002"}},
		Deferred: []dossier.Deferred{{EventID: "evt-9", Supplement: 0, Sequence: 9, Status: "RESULT_RETURNED",
			Payload: []byte(`{"eventId":"evt-9","status":"RESULT_RETURNED"}`), ReleaseID: "evt-9~released~0"}},
		Attachments: []dossier.Attachment{{TenTep: "hop-dong.pdf", LoaiTep: "application/pdf", KichThuoc: 1342,
			SHA256: "8f807b5bcdcde937836a99fb2ed21fe27b7b11d26c91fd9295e6e10a10dc29ba"}},
		WithdrawalPending:    "0d6e4079e36703ebd37c00722f5891d28b0e2811dc114b129215123adcce3605",
		SupplementInFlight:   &dossier.InFlight{SoBoSung: 1, Until: at.Add(time.Minute)},
		Specimen:             []dossier.SpecimenSigner{{Role: "chu-tai-khoan", Serial: "4a25d592db9e5da6ab8ae3c2d57c4243", Issuer: "CN=kbnn test signing ca,O=kho bac nha nuoc - test only,C=vn"}},
		SpecimenRegisteredAt: time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC),
	})
	if err := s.at("/components/schemas/DossierStatus").Validate(rec); err != nil {
		t.Errorf("dossier.Record does not match #/components/schemas/DossierStatus: %v", err)
	}
	schemas := obj(obj(doc["components"])["schemas"])
	sameMembers(t, "dossier.Record", rec, obj(schemas["DossierStatus"]))
	if h := asSlice(obj(rec)["history"]); len(h) > 1 {
		sameMembers(t, "dossier.Event", h[1], obj(schemas["StatusEvent"])) // the one with every member set
	}
	if r := asSlice(obj(rec)["rounds"]); len(r) == 1 {
		sameMembers(t, "dossier.Round", r[0], obj(schemas["CorrectionRound"]))
	} else {
		t.Errorf("rounds %v", obj(rec)["rounds"])
	}

	responses, errs := problemResponses(doc)
	for _, e := range errs {
		t.Error(e)
	}
	problemSchema := s.at("/components/schemas/Problem")
	members := map[string]any{}
	for _, k := range problem.Kinds() {
		e := problem.New(k, "A detail.")
		// The members that raisers add, as adapter/app and adapter/intake set them.
		switch k {
		case problem.SchemaViolation:
			e.Fields = []problem.FieldError{{Path: "/maKBNN", Message: "required field is missing"}}
		case problem.BusinessRuleViolation:
			e = rules.Problem([]rules.Violation{{ID: "tong-so-tien-bang-tong-dong", Kind: "sum",
				Paths: []string{"/taiLieu/1/tongSoTien"}, Message: "total", MessageVi: "tổng"}})
		case problem.TreasuryRefused:
			e.Extra = map[string]any{"treasuryReasonCode": "VUOT_DU_TOAN", "treasuryMessage": "over the allotment"}
		case problem.DossierAlreadySent:
			e.Extra = map[string]any{"first": "/v1/procedures/chi-thuong-xuyen/dossiers/G09.20-20260609-0092637",
				"treasuryReference": "KBNN-0011-2026-000001"}
		}
		body := asJSON(t, e.Body("5d0c2a7e9b1f4c3a8e6d7f10"))
		for m, v := range obj(body) {
			members[m] = v
		}
		if err := problemSchema.Validate(body); err != nil {
			t.Errorf("%s: body does not match #/components/schemas/Problem: %v", k.Code(), err)
		}
		for _, r := range responses {
			if r.status == k.Status() && slices.Contains(r.codes, k.Code()) {
				if err := s.at(r.schemaPtr).Validate(body); err != nil {
					t.Errorf("%s: body does not match %s %s %d: %v", k.Code(), r.op.method, r.op.path, r.status, err)
				}
			}
		}
	}
	sameMembers(t, "problem bodies", members, obj(schemas["Problem"]))

	soBoSung := 0
	rep := asJSON(t, intake.Report{Valid: false, Procedure: "chi-thuong-xuyen", MaHoSo: "G09.20-20260609-0092637", SoBoSung: &soBoSung,
		Problems: []problem.Body{rules.Problem([]rules.Violation{{ID: "so-tien-bang-chu", Kind: "words",
			Paths: []string{"/taiLieu/0/soTienBangChu"}, Message: "words", MessageVi: "chữ"}}).BodyIn(problem.Vietnamese, "5d0c2a7e9b1f4c3a8e6d7f10")}})
	if err := s.at("/components/schemas/ValidationReport").Validate(rep); err != nil {
		t.Errorf("intake.Report does not match #/components/schemas/ValidationReport: %v", err)
	}
	sameMembers(t, "intake.Report", rep, obj(schemas["ValidationReport"]))
	broken := asSlice(obj(asSlice(obj(rep)["problems"])[0])["rules"])
	sameMembers(t, "rules.Broken", broken[0], obj(schemas["BrokenRule"]))
}

// TestAdapterOpenAPIExamples validates every JSON example against the schema
// of its media type.
func TestAdapterOpenAPIExamples(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPISchemas(t, doc)
	n := 0
	var walk func(v any, loc string)
	walk = func(v any, loc string) {
		switch x := v.(type) {
		case map[string]any:
			if content := obj(x["content"]); content != nil {
				for _, mt := range sortedKeys(content) {
					if mt != "application/json" && mt != problemMedia {
						continue
					}
					media := obj(content[mt])
					mloc := loc + "/content/" + escapePtr(mt)
					if media["schema"] == nil {
						t.Errorf("%s: no schema", mloc)
						continue
					}
					sch := s.at(mloc + "/schema")
					examples := obj(media["examples"])
					for _, name := range sortedKeys(examples) {
						ex, _, err := deref(doc, examples[name], mloc+"/examples/"+name)
						if err != nil {
							t.Error(err)
							continue
						}
						n++
						if err := sch.Validate(ex["value"]); err != nil {
							t.Errorf("%s/examples/%s: %v", mloc, name, err)
						}
					}
				}
			}
			for _, k := range sortedKeys(x) {
				walk(x[k], loc+"/"+escapePtr(k))
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", loc, i))
			}
		}
	}
	walk(doc, "")
	if n == 0 {
		t.Error("no JSON example found")
	}
}

// TestAdapterOpenAPIChecksFail proves that each check fails on a broken
// document: the checks above are only worth something if they can.
func TestAdapterOpenAPIChecksFail(t *testing.T) {
	raw := readAdapterOpenAPI(t)
	fresh := func(t *testing.T) oaDoc {
		doc, err := parseOpenAPI(raw)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	get := func(t *testing.T, doc oaDoc, ptr string) map[string]any {
		v, ok := pointerGet(doc, ptr)
		if !ok || obj(v) == nil {
			t.Fatalf("%s: not an object in the document", ptr)
		}
		return obj(v)
	}
	folders, err := procedureFolders(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	routes := fullServer(nil, nil).Routes()
	bareRoutes := bothListeners(httpapi.Options{}).Routes()
	observed := probeSecurity(fullServer(nil, nil))
	var inspect, listDown statusRoundTrip
	for _, rt := range statusRoundTrips(t) {
		switch rt.name {
		case "inspect":
			inspect = rt
		case "list store unavailable":
			listDown = rt
		}
	}
	inspected, down := inspect.do(), listDown.do()
	const badRequestCode = "/components/responses/BadRequest/content/application~1problem+json/schema/allOf/1/properties/code"
	const submit = "/paths/~1v1~1procedures~1{procedure}~1dossiers/post"
	const withdraw = "/paths/~1v1~1procedures~1{procedure}~1dossiers~1{maHoSo}~1withdrawal/post"

	codes := func(doc oaDoc) []string { return checkProblemCodes(doc, problem.Kinds()) }
	refs := func(doc oaDoc) []string { return checkRefs(doc, path.Dir(adapterOpenAPIFile)) }
	procedures := func(doc oaDoc) []string { return checkProcedures(doc, folders) }
	documented := func(doc oaDoc) []string { return checkRoutes(doc, routes) }
	listenersCheck := func(doc oaDoc) []string { return checkListeners(doc, fullServer(nil, nil)) }
	security := func(doc oaDoc) []string { return checkSecurity(doc, observed) }
	const list = "/paths/~1v1~1admin~1dead-letters"
	const callback = "/paths/~1v1~1callbacks~1treasury~1status/post"
	inspectResponse := func(doc oaDoc) []string {
		return checkResponse(doc, newOpenAPISchemas(t, doc), inspect.method, inspect.docPath, inspected)
	}
	storeDownResponse := func(doc oaDoc) []string {
		return checkResponse(doc, newOpenAPISchemas(t, doc), listDown.method, listDown.docPath, down)
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, doc oaDoc) // breaks the document; nil leaves it
		check  func(doc oaDoc) []string      // the check run on the broken document
		intact func(doc oaDoc) []string      // the check with the real inputs; nil means check
		want   string                        // part of the error that check must report
	}{
		{name: "code missing", check: codes, want: `"signature-invalid"`, mutate: func(t *testing.T, doc oaDoc) {
			c := get(t, doc, badRequestCode)
			c["enum"] = slices.DeleteFunc(slices.Clone(asSlice(c["enum"])), func(v any) bool { return v == "signature-invalid" })
		}},
		{name: "unknown code", check: codes, want: `"no-such-code"`, mutate: func(t *testing.T, doc oaDoc) {
			c := get(t, doc, badRequestCode)
			c["enum"] = append(asSlice(c["enum"]), "no-such-code")
		}},
		{name: "code under the wrong status", check: codes, want: "comes with status 504", mutate: func(t *testing.T, doc oaDoc) {
			c := get(t, doc, badRequestCode)
			c["enum"] = append(asSlice(c["enum"]), problem.TreasuryTimeout.Code())
		}},
		{name: "kind not documented", intact: codes, want: `"idempotency-conflict"`, check: func(doc oaDoc) []string {
			return checkProblemCodes(doc, append(problem.Kinds(), problem.Kind("idempotency-conflict")))
		}},
		{name: "missing $ref file", check: refs, want: "nope.schema.json", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/components/schemas/Accepted/properties/treasuryReference")["$ref"] = "../treasury/nope.schema.json"
		}},
		{name: "$ref fragment", check: refs, want: "fragment", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/components/schemas/Accepted/properties/treasuryReference")["$ref"] = "../treasury/send-document-response.schema.json#/properties/nope"
		}},
		{name: "local $ref", check: refs, want: "Nope", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/components/schemas/Accepted/properties/maHoSo")["$ref"] = "#/components/schemas/Nope"
		}},
		{name: "XSD mentioned but absent", check: refs, want: "../zz-moi/dossier.xsd", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/info")["description"] = "See ../zz-moi/dossier.xsd."
		}},
		{name: "procedure missing from the enum", check: procedures, want: "procedure enum", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/components/schemas/ProcedureId")["enum"] = []any{"chi-thuong-xuyen"}
		}},
		{name: "new procedure folder", intact: procedures, want: "zz-moi", check: func(doc oaDoc) []string {
			return checkProcedures(doc, append(slices.Clone(folders), "zz-moi"))
		}},
		{name: "route not documented", check: documented, want: "/readyz is not documented", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, "/paths"), "/readyz")
		}},
		{name: "operation not registered", check: documented, want: "POST /healthz is documented but not registered", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/paths/~1healthz")["post"] = map[string]any{"responses": map[string]any{}}
		}},
		{name: "admin route not documented", check: documented, want: "route DELETE /v1/admin/dead-letters/:procedure/:maHoSo/:eventId is not documented",
			mutate: func(t *testing.T, doc oaDoc) {
				delete(get(t, doc, "/paths/~1v1~1admin~1dead-letters~1{procedure}~1{maHoSo}~1{eventId}"), "delete")
			}},
		{name: "admin route documented on the public listener", check: listenersCheck,
			want: "GET /v1/admin/signers is on the admin listener", mutate: func(t *testing.T, doc oaDoc) {
				delete(get(t, doc, "/paths/~1v1~1admin~1signers"), "servers")
			}},
		{name: "public route documented on the admin listener", check: listenersCheck,
			want: "GET /v1/dossiers is on the public listener", mutate: func(t *testing.T, doc oaDoc) {
				get(t, doc, "/paths/~1v1~1dossiers")["servers"] = []any{map[string]any{"url": "http://127.0.0.1:8090"}}
			}},
		{name: "optional routes not wired", intact: documented, want: "POST /v1/callbacks/treasury/status is documented but not registered", check: func(doc oaDoc) []string {
			return checkRoutes(doc, bareRoutes)
		}},
		{name: "listing without the operators' credential", check: security,
			want: `GET /v1/dossiers: documented security "bearer", the server asks for "admin | bearer"`, mutate: func(t *testing.T, doc oaDoc) {
				get(t, doc, "/paths/~1v1~1dossiers/get")["security"] = []any{map[string]any{"bearer": []any{}}}
			}},
		{name: "admin route under the portal's scheme", check: security, want: `GET /v1/admin/dead-letters: documented security "bearer"`, mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, list+"/get")["security"] = []any{map[string]any{"bearer": []any{}}}
		}},
		{name: "callback without its scheme", check: security, want: `POST /v1/callbacks/treasury/status: documented security "bearer"`, mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, callback), "security")
		}},
		{name: "admin scheme not bearer", check: security, want: `security scheme "admin"`, mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, "/components/securitySchemes/admin")["scheme"] = "basic"
		}},
		{name: "dead letter schema wrong", check: inspectResponse, want: "body does not match", mutate: func(t *testing.T, doc oaDoc) {
			// As if encoding/json wrote a []byte as the JSON it holds.
			get(t, doc, "/components/schemas/DeadLetter/properties/Payload")["type"] = "object"
		}},
		{name: "status not documented", check: inspectResponse, want: "GET /v1/admin/dead-letters/{procedure}/{maHoSo}/{eventId} 200: status not documented", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, "/paths/~1v1~1admin~1dead-letters~1{procedure}~1{maHoSo}~1{eventId}/get/responses"), "200")
		}},
		{name: "store Retry-After not documented", check: storeDownResponse, want: "header Retry-After is set but not documented", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, "/components/responses/StoreUnavailable/headers"), "Retry-After")
		}},
		{name: "admin challenge misdescribed", check: func(doc oaDoc) []string {
			return checkResponse(doc, newOpenAPISchemas(t, doc), "get", "/v1/admin/dead-letters", serve(fullServer(nil, nil), "GET", "/v1/admin/dead-letters", nil, nil))
		}, want: "which its description does not say", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, list+"/get/responses")["401"] = map[string]any{"$ref": "#/components/responses/Unauthorized"}
		}},
		{name: "no Retry-After", check: checkSubmitResponses, want: "504: no Retry-After", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, "/components/responses/TreasuryTimeout/headers"), "Retry-After")
		}},
		{name: "contract status missing", check: checkSubmitResponses, want: "no 409 response", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, submit+"/responses"), "409")
		}},
		{name: "withdrawal status missing", check: checkSubmitResponses, want: "withdrawal: no 404 response", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, withdraw+"/responses"), "404")
		}},
		{name: "withdrawal body a dossier", check: procedures, want: "JSON body \"../tai-khoan/dossier.schema.json\"", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, withdraw+"/requestBody/content/application~1json/schema")["$ref"] = "../tai-khoan/dossier.schema.json"
		}},
		{name: "withdrawal XSD not named", check: procedures, want: "does not name ../withdrawal/withdrawal.xsd", mutate: func(t *testing.T, doc oaDoc) {
			get(t, doc, withdraw+"/requestBody/content/application~1xml/schema")["description"] = "A document."
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := fresh(t)
			intact := tt.intact
			if intact == nil {
				intact = tt.check
			}
			if errs := intact(doc); len(errs) != 0 {
				t.Fatalf("the intact document already fails: %v", errs)
			}
			if tt.mutate != nil {
				tt.mutate(t, doc)
			}
			errs := tt.check(doc)
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tt.want) }) {
				t.Errorf("check did not report %q; got %v", tt.want, errs)
			}
		})
	}
	t.Run("unquoted status key", func(t *testing.T) {
		if _, err := parseOpenAPI([]byte("paths:\n  /x:\n    get:\n      responses:\n        200: {description: ok}\n")); err == nil {
			t.Error("a non-string mapping key was accepted")
		}
	})
}
