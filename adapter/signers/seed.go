package signers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
)

// seedFile is the format of a seed file (configs/signers.yaml): entries of
// one certificate in one role for one or more units.
type seedFile struct {
	Signers []struct {
		Units  []string `yaml:"units"`
		Role   string   `yaml:"role"`
		Serial string   `yaml:"serial"`
		Issuer string   `yaml:"issuer"`
	} `yaml:"signers"`
}

// ReadSeed reads a seed file strictly (unknown keys are mistakes) into
// normalized registrations with source operator, registered at at. name
// is how errors name the file.
func ReadSeed(name string, raw []byte, at time.Time) ([]Registration, error) {
	var f seedFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Registration
	for i, e := range f.Signers {
		if len(e.Units) == 0 {
			return nil, fmt.Errorf("%s: signers[%d].units: at least one unit", name, i)
		}
		for _, u := range e.Units {
			r, err := Normalize(Registration{Unit: u, Role: e.Role, Serial: e.Serial, Issuer: e.Issuer,
				RegisteredAt: at, Source: SourceOperator})
			if err != nil {
				return nil, fmt.Errorf("%s: signers[%d]: %w", name, i, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Seed puts the registrations of a seed file into store; those already
// there are kept. It returns how many were new.
func Seed(ctx context.Context, store Store, name string, raw []byte, at time.Time) (int, error) {
	regs, err := ReadSeed(name, raw, at)
	if err != nil {
		return 0, err
	}
	return store.Put(ctx, regs...)
}
