package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kbnn/dvc/adapter/signing"
)

const (
	devPortalToken = "dev-portal-token"
	jwsHeader      = "X-JWS-Signature"
)

// signRequest is the sign subcommand's input.
type signRequest struct {
	in, out, headers string
	pki              string
	signers          []string
	alg              string // XML short name or JOSE name; "" = per key default
	c14n             string
	token            string // bearer token written to the headers file
}

// signFile signs one template. An XML input gets enveloped signatures; a
// .json input is copied unchanged to out and its detached JWS header line is
// printed to stdout, or written with the other headers when headers is set.
func signFile(req signRequest, stdout io.Writer) error {
	if req.in == "" || req.out == "" {
		return errors.New("sign: -in and -out are required")
	}
	if len(req.signers) == 0 {
		return errors.New("sign: at least one -signer is required")
	}
	body, err := os.ReadFile(req.in)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	signers, err := newPKIDir(req.pki).signerList(req.signers)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	isJSON := strings.EqualFold(filepath.Ext(req.in), ".json")
	var hdr headerSet
	if isJSON {
		jws, err := signJSON(body, req.alg, signers)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		hdr = headerSet{contentType: "application/json", token: req.token, jws: jws}
	} else {
		body, err = signing.SignXML(body, signing.XMLOptions{
			SignatureMethod:  req.alg,
			Canonicalization: signing.Canonicalization(req.c14n),
		}, signers...)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		hdr = headerSet{contentType: "application/xml", token: req.token}
	}
	if err := os.WriteFile(req.out, body, 0o644); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if req.headers != "" {
		if err := os.WriteFile(req.headers, hdr.bytes(), 0o644); err != nil {
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
