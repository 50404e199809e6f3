package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
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

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
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
		byCode[k.Code] = k
		if !listed[k.Status][k.Code] {
			errs = append(errs, fmt.Sprintf("problem code %q (status %d) is not listed under any %d response", k.Code, k.Status, k.Status))
		}
	}
	for _, r := range responses {
		for _, c := range r.codes {
			k, ok := byCode[c]
			switch {
			case !ok:
				errs = append(errs, fmt.Sprintf("%s %s %d lists code %q, which adapter/problem does not define", r.op.method, r.op.path, r.status, c))
			case k.Status != r.status:
				errs = append(errs, fmt.Sprintf("%s %s %d lists code %q, which comes with status %d", r.op.method, r.op.path, r.status, c, k.Status))
			}
		}
	}
	return errs
}

var xsdMention = regexp.MustCompile(`\.\./[A-Za-z0-9._-]+/dossier\.xsd`)

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

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// checkRoutes requires every registered route to be documented and every
// documented operation to be registered.
func checkRoutes(doc oaDoc, routes []*echo.Route) []string {
	var errs []string
	registered := map[string]bool{}
	for _, r := range routes {
		if r.Method == echo.RouteNotFound {
			continue // catch-alls that let group middleware run on unknown paths
		}
		p := echoParam.ReplaceAllString(r.Path, "{$1}")
		m := strings.ToLower(r.Method)
		registered[m+" "+p] = true
		if obj(obj(obj(doc["paths"])[p])[m]) == nil {
			errs = append(errs, fmt.Sprintf("route %s %s is not documented (as %s)", r.Method, r.Path, p))
		}
	}
	for _, op := range operations(doc) {
		if !registered[op.method+" "+op.path] {
			errs = append(errs, fmt.Sprintf("%s %s is documented but not registered by httpapi.New", strings.ToUpper(op.method), op.path))
		}
	}
	return errs
}

// contractStatuses are the statuses of the contract's table for the submit
// route, plus 500.
var contractStatuses = []string{"202", "400", "401", "404", "409", "413", "415", "422", "500", "503", "504"}

// checkSubmitResponses requires the contract's statuses on the submit
// operation and Retry-After on 503 and 504.
func checkSubmitResponses(doc oaDoc) []string {
	var errs []string
	const p = "/v1/procedures/{procedure}/dossiers"
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
		if !strings.Contains(raw, k.Code) {
			t.Errorf("problem code %q does not appear in %s", k.Code, adapterOpenAPIFile)
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

func TestAdapterOpenAPIRoutes(t *testing.T) {
	e := httpapi.New(httpapi.Options{})
	for _, msg := range checkRoutes(loadOpenAPI(t), e.Routes()) {
		t.Error(msg)
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
		TreasuryDocumentID: "KB-2026-000001", ReceivedAt: at,
	})
	if err := s.at("/components/schemas/Accepted").Validate(acc); err != nil {
		t.Errorf("intake.Accepted does not match #/components/schemas/Accepted: %v", err)
	}
	sameMembers(t, "intake.Accepted", acc, obj(obj(obj(doc["components"])["schemas"])["Accepted"]))

	rec := asJSON(t, dossier.Record{
		Procedure: "von-dau-tu", MaHoSo: "G09.20-20260609-0092637", SoBoSung: 0, TrangThai: 4,
		TreasuryReference: "KBNN-0011-2026-000001", TreasuryDocumentID: "KB-2026-000001", UpdatedAt: at,
		History: []dossier.Event{
			{TrangThai: 1, At: at, Source: "adapter", Note: "sent"},
			{TrangThai: 4, At: at.Add(time.Hour), Source: "treasury", Note: "processing", EventID: "evt-1", TreasuryStatus: "PROCESSING",
				Delivery: dossier.DeliveryDelivered, DeliveredAt: at.Add(time.Hour + time.Second)},
		},
	})
	if err := s.at("/components/schemas/DossierStatus").Validate(rec); err != nil {
		t.Errorf("dossier.Record does not match #/components/schemas/DossierStatus: %v", err)
	}
	schemas := obj(obj(doc["components"])["schemas"])
	sameMembers(t, "dossier.Record", rec, obj(schemas["DossierStatus"]))
	if h := asSlice(obj(rec)["history"]); len(h) > 1 {
		sameMembers(t, "dossier.Event", h[1], obj(schemas["StatusEvent"])) // the one with every member set
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
			t.Errorf("%s: body does not match #/components/schemas/Problem: %v", k.Code, err)
		}
		for _, r := range responses {
			if r.status == k.Status && slices.Contains(r.codes, k.Code) {
				if err := s.at(r.schemaPtr).Validate(body); err != nil {
					t.Errorf("%s: body does not match %s %s %d: %v", k.Code, r.op.method, r.op.path, r.status, err)
				}
			}
		}
	}
	sameMembers(t, "problem bodies", members, obj(schemas["Problem"]))
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
	routes := httpapi.New(httpapi.Options{}).Routes()
	const badRequestCode = "/components/responses/BadRequest/content/application~1problem+json/schema/allOf/1/properties/code"
	const submit = "/paths/~1v1~1procedures~1{procedure}~1dossiers/post"

	codes := func(doc oaDoc) []string { return checkProblemCodes(doc, problem.Kinds()) }
	refs := func(doc oaDoc) []string { return checkRefs(doc, path.Dir(adapterOpenAPIFile)) }
	procedures := func(doc oaDoc) []string { return checkProcedures(doc, folders) }
	documented := func(doc oaDoc) []string { return checkRoutes(doc, routes) }
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
			c["enum"] = append(asSlice(c["enum"]), problem.TreasuryTimeout.Code)
		}},
		{name: "kind not documented", intact: codes, want: `"idempotency-conflict"`, check: func(doc oaDoc) []string {
			return checkProblemCodes(doc, append(problem.Kinds(), problem.Kind{Code: "idempotency-conflict", Status: http.StatusConflict}))
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
		{name: "no Retry-After", check: checkSubmitResponses, want: "504: no Retry-After", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, "/components/responses/TreasuryTimeout/headers"), "Retry-After")
		}},
		{name: "contract status missing", check: checkSubmitResponses, want: "no 409 response", mutate: func(t *testing.T, doc oaDoc) {
			delete(get(t, doc, submit+"/responses"), "409")
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
