package signers_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/configs"
)

// The embedded seed registers the test PKI's account holder and chief
// accountant, as their certificates say, for the test units.
func TestEmbeddedSeedMatchesTheTestPKI(t *testing.T) {
	m := signers.NewMemory()
	n, err := signers.Seed(context.Background(), m, "configs/signers.yaml", configs.Signers, time.Unix(0, 0))
	if err != nil || n == 0 {
		t.Fatalf("Seed = %d, %v", n, err)
	}
	for role, file := range map[string]string{"chu-tai-khoan": "chu-tai-khoan", "ke-toan-truong": "ke-toan-truong"} {
		raw, err := os.ReadFile("../../testdata/pki/" + file + ".crt")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(raw)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, unit := range []string{"1012345", "1999999"} {
			ok, err := signers.Registered(context.Background(), m, unit, role, signers.SerialOf(c.SerialNumber), signers.IssuerOf(c))
			if err != nil || !ok {
				t.Errorf("%s of %s not seeded (%v)", file, unit, err)
			}
		}
	}
	if again, err := signers.Seed(context.Background(), m, "configs/signers.yaml", configs.Signers, time.Unix(0, 0)); err != nil || again != 0 {
		t.Errorf("second Seed = %d, %v; want 0 new", again, err)
	}
}

func TestReadSeedRefusesMistakes(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key": "signers:\n  - units: [\"1\"]\n    role: r\n    serial: \"1\"\n    issuer: CN=x\n    extra: 1\n",
		"no unit":     "signers:\n  - role: r\n    serial: \"1\"\n    issuer: CN=x\n",
		"bad serial":  "signers:\n  - units: [\"1\"]\n    role: r\n    serial: zz\n    issuer: CN=x\n",
		"bad issuer":  "signers:\n  - units: [\"1\"]\n    role: r\n    serial: \"1\"\n    issuer: x\n",
	} {
		if _, err := signers.ReadSeed("f.yaml", []byte(doc), time.Unix(0, 0)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
