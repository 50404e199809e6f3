package treasurysim

import (
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/kbnn/dvc/adapter/jsondec"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/schemas"
)

// schemaBase is the $id prefix of the embedded schemas; the rest of an $id is the file's path
// in schemas.FS.
const schemaBase = "https://kbnn.gov.vn/dvc/schemas/"

// embeddedLoader resolves schema URLs to files of schemas.FS, never to the network.
type embeddedLoader struct{}

func (embeddedLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, schemaBase)
	if !ok {
		return nil, fmt.Errorf("schema %q is not embedded", url)
	}
	f, err := schemas.FS.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return jsonschema.UnmarshalJSON(f)
}

// validator checks request bodies against the contract's schemas.
type validator struct {
	login, sendDocument, withdrawal *schema.Validator
}

func newValidator() (*validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(embeddedLoader{})
	login, err := c.Compile(schemaBase + "treasury/login-request.schema.json")
	if err != nil {
		return nil, fmt.Errorf("compile login schema: %w", err)
	}
	send, err := c.Compile(schemaBase + "treasury/send-document-request.schema.json")
	if err != nil {
		return nil, fmt.Errorf("compile send-document schema: %w", err)
	}
	withdrawal, err := c.Compile(schemaBase + "treasury/withdrawal-request.schema.json")
	if err != nil {
		return nil, fmt.Errorf("compile withdrawal schema: %w", err)
	}
	return &validator{login: schema.NewValidator(login), sendDocument: schema.NewValidator(send),
		withdrawal: schema.NewValidator(withdrawal)}, nil
}

var printer = message.NewPrinter(language.English)

// maxDepth bounds the nesting of a request body (the contract's nest five
// levels at most).
const maxDepth = 32

// validate parses body as JSON and validates it against sch. The error message is short and
// names the failing locations, e.g. "at '/totalAmount': got number, want integer".
func validate(sch *schema.Validator, body []byte) error {
	_, err := validated(sch, body)
	return err
}

// validated is validate that also returns the parsed body (numbers as json.Number).
func validated(sch *schema.Validator, body []byte) (any, error) {
	v, err := jsondec.Decode(body, maxDepth)
	if err != nil {
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	if err = sch.Validate(v); err != nil {
		return nil, describe(err)
	}
	return v, nil
}

// describe shortens a validation error to its failing locations.
func describe(err error) error {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var msgs []string
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			msgs = append(msgs, fmt.Sprintf("at '/%s': %s",
				strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(printer)))
			return
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(verr)
	if len(msgs) > 5 {
		msgs = append(msgs[:5], fmt.Sprintf("and %d more", len(msgs)-5))
	}
	return errors.New(strings.Join(msgs, "; "))
}
