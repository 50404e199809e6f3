package problem

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCodesAreUniqueAndStatusesSet(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if seen[k.Code()] {
			t.Errorf("duplicate code %q", k.Code())
		}
		seen[k.Code()] = true
		if k.Status() < 400 || k.Status() > 599 || k.Title() == "" {
			t.Errorf("kind %q: status %d title %q", k.Code(), k.Status(), k.Title())
		}
	}
}

func TestFixedDetailHidesCause(t *testing.T) {
	e := Wrap(SignatureInvalid, errors.New("digest mismatch on /HoSo"), "digest mismatch")
	b := e.Body("req-1")
	if b.Detail != SignatureInvalid.Detail() {
		t.Fatalf("detail = %q, want the fixed one", b.Detail)
	}
	raw, _ := json.Marshal(b)
	if strings.Contains(string(raw), "digest") {
		t.Fatalf("body leaks the cause: %s", raw)
	}
	if !strings.Contains(e.Error(), "digest mismatch on /HoSo") {
		t.Fatalf("log form lacks the cause: %s", e.Error())
	}
}

func TestBodyJSON(t *testing.T) {
	e := New(TreasuryRefused, "budget line not in allotment")
	e.Extra = map[string]any{"treasuryReasonCode": "KHONG_CO_DU_TOAN", "code": "spoof"}
	e.Fields = []FieldError{{Path: "/maDVQHNS", Message: "bad"}}
	raw, err := json.Marshal(e.Body("r1"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	want := map[string]any{
		"type": TypeBase + "treasury-refused", "status": float64(422), "code": "treasury-refused",
		"instance": "r1", "treasuryReasonCode": "KHONG_CO_DU_TOAN", "detail": "budget line not in allotment",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if errs, _ := got["errors"].([]any); len(errs) != 1 {
		t.Errorf("errors = %v", got["errors"])
	}
}

func TestFromWrapsUnknownErrors(t *testing.T) {
	if From(errors.New("boom")).Kind.Code() != "internal" {
		t.Fatal("plain error should be internal")
	}
	inner := New(Unauthorized, "")
	if From(errors.Join(errors.New("x"), inner)) != inner {
		t.Fatal("From should find the *Error in the chain")
	}
}
