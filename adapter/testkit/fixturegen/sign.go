package fixturegen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

const (
	// DevPortalToken is the bearer token every fixture carries (except
	// no-credential); dvc-sign sign writes it to -headers by default.
	DevPortalToken = "dev-portal-token"
	jwsHeader      = "X-JWS-Signature"
)

// SignerSource resolves signer names, in order, to signers; *testpki.Dir is
// one.
type SignerSource interface {
	Signers(names []string) ([]signing.Signer, error)
}

// SignRequest is the input of Sign.
type SignRequest struct {
	In      string       // template to sign: .json for a detached JWS, anything else is XML; required
	Out     string       // signed output (JSON: the body, unchanged); required
	Headers string       // headers.txt to write; "" = print the JWS header line of a JSON input to stdout
	PKI     SignerSource // resolves Signers; required
	Signers []string     // signer names, in signing order; at least one
	Alg     string       // XML short name or JOSE name; "" = per key default
	C14N    string       // XML canonicalization (signing.Canonicalization); "" = c14n10
	Token   string       // bearer token written to Headers; "" = no Authorization line
}

// Sign signs one template. An XML input gets enveloped signatures; a .json
// input is copied unchanged to Out and its detached JWS header line is printed
// to stdout, or written with the other headers when Headers is set.
func Sign(req SignRequest, stdout io.Writer) error {
	if req.In == "" || req.Out == "" {
		return errors.New("sign: -in and -out are required")
	}
	if len(req.Signers) == 0 {
		return errors.New("sign: at least one -signer is required")
	}
	body, err := os.ReadFile(req.In)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	signers, err := req.PKI.Signers(req.Signers)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	isJSON := strings.EqualFold(filepath.Ext(req.In), ".json")
	var hdr headerSet
	if isJSON {
		jws, err := signJSON(body, req.Alg, signers)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		hdr = headerSet{contentType: "application/json", token: req.Token, jws: jws}
	} else {
		body, err = signing.SignXML(body, signing.XMLOptions{
			SignatureMethod:  req.Alg,
			Canonicalization: signing.Canonicalization(req.C14N),
		}, signers...)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		hdr = headerSet{contentType: "application/xml", token: req.Token}
	}
	if err := os.WriteFile(req.Out, body, 0o644); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if req.Headers != "" {
		if err := os.WriteFile(req.Headers, hdr.bytes(), 0o644); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		return nil
	}
	if isJSON {
		_, err = fmt.Fprintf(stdout, "%s: %s\n", jwsHeader, hdr.jws)
	}
	return err
}

// signJSON returns the X-JWS-Signature value: one detached JWS per signer,
// each over the exact body, joined by ",".
func signJSON(body []byte, alg string, signers []signing.Signer) (string, error) {
	jose, err := joseAlgorithm(alg)
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, len(signers))
	for i, s := range signers {
		sig, err := signing.SignJWS(body, jose, s)
		if err != nil {
			return "", fmt.Errorf("signer %d: %w", i+1, err)
		}
		parts = append(parts, sig)
	}
	return strings.Join(parts, ","), nil
}

// joseAlgorithm maps the XML-style short names the CLI accepts to JOSE names;
// JOSE names pass through.
func joseAlgorithm(alg string) (string, error) {
	switch strings.ToLower(alg) {
	case "":
		return "", nil
	case "rsa-sha256", "rs256":
		return "RS256", nil
	case "rsa-sha384", "rs384":
		return "RS384", nil
	case "rsa-sha512", "rs512":
		return "RS512", nil
	case "ecdsa-sha256", "es256":
		return "ES256", nil
	case "ecdsa-sha384", "es384":
		return "ES384", nil
	}
	return "", fmt.Errorf("no JWS algorithm for %q", alg)
}

// headerSet is the content of a fixture's headers.txt.
type headerSet struct {
	contentType string
	token       string // "" = no Authorization line
	jws         string // "" = no X-JWS-Signature line
}

func (h headerSet) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Content-Type: %s\n", h.contentType)
	if h.token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\n", h.token)
	}
	if h.jws != "" {
		fmt.Fprintf(&b, "%s: %s\n", jwsHeader, h.jws)
	}
	return []byte(b.String())
}
