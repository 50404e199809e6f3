package redisstore

import (
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/signertest"
)

func TestSignersConformance(t *testing.T) {
	signertest.Run(t, func(t *testing.T) signers.Store {
		return NewSigners(redistest.Client(t), redistest.Prefix(t))
	})
}

func TestSignersKeyIsTaggedPerUnit(t *testing.T) {
	s := NewSigners(nil, "dvc:")
	k := s.key("1012345")
	if !strings.HasPrefix(k, "dvc:signers:{") || !strings.HasSuffix(k, "}") || s.key("1012346") == k {
		t.Errorf("key = %q", k)
	}
}
