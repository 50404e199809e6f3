package fixturegen

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// Forms of the dossiers of a load run.
const (
	FormXML   = "xml"
	FormJSON  = "json"
	FormMixed = "mixed" // XML and JSON in turn
)

// LoadDossier is one unique, signed, valid dossier of a load run: sent to
// POST /v1/procedures/{Procedure}/dossiers with Header, it is accepted (202)
// once its files are uploaded (LoadGenerator.Files).
type LoadDossier struct {
	Procedure string
	Code      string // maHoSo
	JSON      bool
	Body      []byte
	Header    http.Header // Content-Type, Authorization and, for JSON, X-JWS-Signature
}

// LoadFile is a file the templates list (dinhKem[]), to upload to
// PUT /v1/attachments/{SHA256} before the dossiers that list it.
type LoadFile struct {
	Procedure, Name, SHA256 string
	Data                    []byte
}

// LoadOptions configure a LoadGenerator.
type LoadOptions struct {
	Templates string       // testdata/templates; required
	PKI       SignerSource // the test PKI (testpki.Dir); required
	// Procedures to draw from, in turn; empty means every procedure with a
	// cases.yaml.
	Procedures []string
	Form       string // FormXML, FormJSON or FormMixed; "" means FormXML
	// RunTag makes the codes of this run differ from every other run's:
	// codes are <agency>.<RunTag>-<date>-<sequence> (the template's agency
	// and date); letters and digits, at most 8.
	RunTag string
	// Lines, when > 0, replicates each dossier's lines to the template's
	// largeLines path, that many (a payroll dossier); only procedures whose
	// cases.yaml has largeLines can take it.
	Lines int
}

var runTagPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,8}$`)

// loadBase is one procedure's dossier in one form, its code replaced by a
// placeholder that Generate swaps for each dossier's code.
type loadBase struct {
	procedure   string
	json        bool
	body        []byte
	placeholder []byte
	// tmpl signs an XML copy in two RSA operations and a few string
	// replacements; nil: SignXML for each copy.
	tmpl    *xmlTemplate
	prefix  string // <agency>.<tag>-<date>-
	width   int    // digits of the sequence
	signers []signing.Signer
}

// LoadGenerator makes the unique dossiers of a load run from the templates.
type LoadGenerator struct {
	bases []loadBase
	files []LoadFile
}

// NewLoadGenerator reads the templates and the signers once.
func NewLoadGenerator(o LoadOptions) (*LoadGenerator, error) {
	if o.Templates == "" || o.PKI == nil {
		return nil, errors.New("load: templates and PKI are required")
	}
	if !runTagPattern.MatchString(o.RunTag) {
		return nil, fmt.Errorf("load: run tag %q: want 1 to 8 letters or digits", o.RunTag)
	}
	var forms []bool // json?
	switch o.Form {
	case "", FormXML:
		forms = []bool{false}
	case FormJSON:
		forms = []bool{true}
	case FormMixed:
		forms = []bool{false, true}
	default:
		return nil, fmt.Errorf("load: form %q: want xml, json or mixed", o.Form)
	}
	fg := fixtureGenerator{templates: o.Templates, pki: o.PKI}
	procs := o.Procedures
	if len(procs) == 0 {
		var err error
		if procs, err = fg.procedures(); err != nil {
			return nil, err
		}
	}
	g := &LoadGenerator{}
	for _, p := range procs {
		t, err := fg.load(p)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", p, err)
		}
		signers, err := o.PKI.Signers(t.spec.Signers)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", p, err)
		}
		lines := o.Lines > 0
		if lines {
			if t.spec.LargeLines == nil {
				return nil, fmt.Errorf("load: %s: its cases.yaml has no largeLines path", p)
			}
			l := *t.spec.LargeLines
			l.Count = o.Lines
			t.spec.LargeLines = &l
		}
		agency, rest, ok := strings.Cut(t.code, "-")
		if !ok {
			return nil, fmt.Errorf("load: %s: dossier code %q is not <agency>-<date>-<sequence>", p, t.code)
		}
		agency += "." + o.RunTag
		if len(agency) > 20 {
			return nil, fmt.Errorf("load: %s: agency %q with the run tag is over 20 characters", p, agency)
		}
		date, seq, ok := strings.Cut(rest, "-")
		if !ok || seq == "" {
			return nil, fmt.Errorf("load: %s: dossier code %q is not <agency>-<date>-<sequence>", p, t.code)
		}
		placeholder := agency + "-" + date + "-" + strings.Repeat("9", len(seq))
		for _, isJSON := range forms {
			var body []byte
			if isJSON {
				body, err = prepareJSON(t, placeholder, nil, lines)
			} else {
				body, err = prepareXML(t, placeholder, nil, lines)
			}
			if err != nil {
				return nil, fmt.Errorf("load: %s: %w", p, err)
			}
			if !bytes.Contains(body, []byte(placeholder)) {
				return nil, fmt.Errorf("load: %s: the prepared dossier does not hold its code", p)
			}
			var tmpl *xmlTemplate
			if !isJSON {
				tmpl, _ = newXMLTemplate(body, signers) // nil on any doubt: the slow path
			}
			g.bases = append(g.bases, loadBase{procedure: p, json: isJSON, body: body, placeholder: []byte(placeholder), tmpl: tmpl,
				prefix: agency + "-" + date + "-", width: len(seq), signers: signers})
		}
		for _, f := range t.files {
			g.files = append(g.files, LoadFile{Procedure: p, Name: f.name, SHA256: f.sum, Data: f.data})
		}
	}
	if len(g.bases) == 0 {
		return nil, errors.New("load: no procedure")
	}
	return g, nil
}

// Files are the files the dossiers list, each once per procedure.
func (g *LoadGenerator) Files() []LoadFile { return g.files }

// Capacity is how many distinct codes a run can have.
func (g *LoadGenerator) Capacity() int {
	c := 1
	for range g.bases[0].width {
		c *= 10
		if c > 1e9 {
			break
		}
	}
	return c - 2 // the all-nines sequence is the placeholder; 0 is skipped
}

// Generate returns n dossiers with sequences first .. first+n-1, drawn from
// the procedures and forms in turn, signed by workers goroutines in
// parallel (RSA signing dominates: two signatures a dossier). progress,
// when set, is called with the number done so far, from any goroutine.
func (g *LoadGenerator) Generate(first, n, workers int, progress func(done int)) ([]LoadDossier, error) {
	if first < 1 || n < 0 || first+n-1 > g.Capacity() {
		return nil, fmt.Errorf("load: sequences %d..%d do not fit in %d digits", first, first+n-1, g.bases[0].width)
	}
	out := make([]LoadDossier, n)
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
	)
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				d, err := g.dossier(i, first+i)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
				out[i] = d
				if progress != nil {
					progress(int(done.Add(1)))
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// dossier builds and signs the i-th dossier with sequence seq.
func (g *LoadGenerator) dossier(i, seq int) (LoadDossier, error) {
	b := g.bases[i%len(g.bases)]
	code := fmt.Sprintf("%s%0*d", b.prefix, b.width, seq)
	body := bytes.ReplaceAll(b.body, b.placeholder, []byte(code))
	h := http.Header{}
	h.Set("Authorization", "Bearer "+DevPortalToken)
	if b.json {
		jws, err := signJSON(body, "", b.signers)
		if err != nil {
			return LoadDossier{}, fmt.Errorf("load: %s %s: %w", b.procedure, code, err)
		}
		h.Set("Content-Type", "application/json")
		h.Set(jwsHeader, jws)
	} else {
		var err error
		if b.tmpl != nil {
			body, err = b.tmpl.sign(string(b.placeholder), code)
		} else {
			body, err = signing.SignXML(body, signing.XMLOptions{}, b.signers...)
		}
		if err != nil {
			return LoadDossier{}, fmt.Errorf("load: %s %s: %w", b.procedure, code, err)
		}
		h.Set("Content-Type", "application/xml")
	}
	return LoadDossier{Procedure: b.procedure, Code: code, JSON: b.json, Body: body, Header: h}, nil
}
