package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification and its reference libraries' tests.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var specTime = time.Unix(specTimestamp, 0)

func specKey(t testing.TB) []byte {
	t.Helper()
	key, err := ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func header(id, ts, sig string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{HeaderID: id, HeaderTimestamp: ts, HeaderSignature: sig} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return h
}

func TestSignSpecVector(t *testing.T) {
	t.Parallel()
	if got := Sign(specKey(t), specID, specTime, []byte(specBody)); got != specSignature {
		t.Errorf("Sign = %s, want %s", got, specSignature)
	}
}

// TestSignIndependentHMAC checks Sign against a plain HMAC of the concatenated string, with a
// timestamp that has sub-second parts and a zone (only the Unix seconds count).
func TestSignIndependentHMAC(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0x5a}, 32)
	ts := time.Date(2026, 6, 9, 9, 0, 0, 999_000_000, time.FixedZone("ICT", 7*3600))
	body := []byte(`{"eventId":"evt-1","status":"PAID"}`)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("evt-1." + strconv.FormatInt(ts.Unix(), 10) + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if got := Sign(key, "evt-1", ts, body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	h := Headers(key, "evt-1", ts, body)
	if h.Get(HeaderID) != "evt-1" || h.Get(HeaderTimestamp) != "1780970400" || h.Get(HeaderSignature) != want {
		t.Errorf("Headers = %v", h)
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{1}, 24)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"spec example", specSecret, true},
		{"formatted", FormatSecret(key), true},
		{"no prefix", strings.TrimPrefix(specSecret, SecretPrefix), false},
		{"wrong prefix", "whsek_" + strings.TrimPrefix(specSecret, SecretPrefix), false},
		{"not base64", "whsec_!!!!", false},
		{"missing padding", "whsec_" + strings.TrimRight(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 25)), "="), false},
		{"url alphabet", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 24)), false},
		{"too short", FormatSecret(key[:23]), false},
		{"empty", "", false},
		{"prefix only", SecretPrefix, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSecret(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSecret(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrSecretFormat) {
				t.Errorf("error %v is not ErrSecretFormat", err)
			}
			if tt.ok && FormatSecret(got) != tt.in {
				t.Errorf("FormatSecret(ParseSecret(%q)) = %q", tt.in, FormatSecret(got))
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := specKey(t)
	other := bytes.Repeat([]byte{7}, 32)
	ts := strconv.Itoa(specTimestamp)
	otherSig := Sign(other, specID, specTime, []byte(specBody))
	tests := []struct {
		name        string
		secrets     [][]byte
		id, ts, sig string
		body        string
		want        error
	}{
		{"spec example", [][]byte{key}, specID, ts, specSignature, specBody, nil},
		{"rotation: old secret first", [][]byte{other, key}, specID, ts, specSignature, specBody, nil},
		{"rotation: signed with both", [][]byte{key}, specID, ts, otherSig + " " + specSignature, specBody, nil},
		{"rotation: retired secret", [][]byte{other}, specID, ts, specSignature, specBody, ErrSignature},
		{"unknown version ignored", [][]byte{key}, specID, ts, "v2,abc " + specSignature, specBody, nil},
		{"only unknown versions", [][]byte{key}, specID, ts, "v1a," + specSignature[3:] + " v2," + specSignature[3:], specBody, ErrSignature},
		{"extra spaces", [][]byte{key}, specID, ts, "  v1,bad==  " + specSignature + " ", specBody, nil},
		{"entry without comma", [][]byte{key}, specID, ts, "v1", specBody, ErrSignature},
		{"signature not base64", [][]byte{key}, specID, ts, "v1,***", specBody, ErrSignature},
		{"truncated signature", [][]byte{key}, specID, ts, specSignature[:len(specSignature)-4], specBody, ErrSignature},
		{"tampered body", [][]byte{key}, specID, ts, specSignature, `{"test": 2432232315}`, ErrSignature},
		{"tampered id", [][]byte{key}, specID + "x", ts, specSignature, specBody, ErrSignature},
		{"tampered timestamp", [][]byte{key}, specID, strconv.Itoa(specTimestamp + 1), specSignature, specBody, ErrSignature},
		{"no secrets", nil, specID, ts, specSignature, specBody, ErrSignature},
		{"empty secret skipped", [][]byte{{}}, specID, ts, "v1,", specBody, ErrSignature},
		{"missing id", [][]byte{key}, "", ts, specSignature, specBody, ErrMissingHeaders},
		{"missing timestamp", [][]byte{key}, specID, "", specSignature, specBody, ErrMissingHeaders},
		{"missing signature", [][]byte{key}, specID, ts, "", specBody, ErrMissingHeaders},
		{"timestamp with plus", [][]byte{key}, specID, "+" + ts, specSignature, specBody, ErrTimestamp},
		{"timestamp with zero", [][]byte{key}, specID, "0" + ts, specSignature, specBody, ErrTimestamp},
		{"timestamp fraction", [][]byte{key}, specID, ts + ".5", specSignature, specBody, ErrTimestamp},
		{"timestamp in ms", [][]byte{key}, specID, ts + "000", specSignature, specBody, ErrTimestamp},
		{"timestamp text", [][]byte{key}, specID, "yesterday", specSignature, specBody, ErrTimestamp},
		{"timestamp overflow", [][]byte{key}, specID, "99999999999999999999", specSignature, specBody, ErrTimestamp},
		{"timestamp min int", [][]byte{key}, specID, "-9223372036854775808", specSignature, specBody, ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := NewVerifier(tt.secrets, 0, fixedNow(specTime))
			id, err := v.Verify(header(tt.id, tt.ts, tt.sig), []byte(tt.body))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if err == nil && id != tt.id {
				t.Errorf("id = %q, want %q", id, tt.id)
			}
			if err != nil && id != "" {
				t.Errorf("id = %q on error", id)
			}
		})
	}
}

// TestVerifyTolerance signs at now+offset and checks both edges, in the past and the future.
func TestVerifyTolerance(t *testing.T) {
	t.Parallel()
	key := specKey(t)
	now := time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		tolerance time.Duration
		offset    time.Duration
		ok        bool
	}{
		{"now", 0, 0, true},
		{"default: 5 min old", 0, -5 * time.Minute, true},
		{"default: 5 min 1 s old", 0, -5*time.Minute - time.Second, false},
		{"default: 5 min ahead", 0, 5 * time.Minute, true},
		{"default: 5 min 1 s ahead", 0, 5*time.Minute + time.Second, false},
		{"negative means default", -time.Second, -4 * time.Minute, true},
		{"30 s: 30 s old", 30 * time.Second, -30 * time.Second, true},
		{"30 s: 31 s old", 30 * time.Second, -31 * time.Second, false},
		{"30 s: 31 s ahead", 30 * time.Second, 31 * time.Second, false},
		{"a day old", 0, -24 * time.Hour, false},
		{"a year ahead", 0, 365 * 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			at := now.Add(tt.offset)
			body := []byte(`{"eventId":"evt-1"}`)
			v := NewVerifier([][]byte{key}, tt.tolerance, fixedNow(now))
			_, err := v.Verify(Headers(key, "evt-1", at, body), body)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrTimestamp) {
				t.Fatalf("Verify error = %v, want ErrTimestamp", err)
			}
		})
	}
}

// TestVerifierCopiesSecrets makes sure a caller's later change to its slice does not change
// what the Verifier accepts.
func TestVerifierCopiesSecrets(t *testing.T) {
	t.Parallel()
	key := specKey(t)
	v := NewVerifier([][]byte{key}, 0, fixedNow(specTime))
	key[0] ^= 0xff
	if _, err := v.Verify(header(specID, strconv.Itoa(specTimestamp), specSignature), []byte(specBody)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	key := specKey(f)
	ts := strconv.Itoa(specTimestamp)
	f.Add(specID, ts, specSignature, []byte(specBody))
	f.Add(specID, ts, "v2,x v1,"+specSignature[3:], []byte(specBody))
	f.Add("", ts, specSignature, []byte(specBody))
	f.Add(specID, "-1", "v1,,,, v1", []byte{})
	f.Add(specID, ts, strings.Repeat("v1,AAAA ", 64), []byte("{}"))
	secrets := [][]byte{key, bytes.Repeat([]byte{3}, 32)}
	v := NewVerifier(secrets, 0, fixedNow(specTime))
	f.Fuzz(func(t *testing.T, id, tsText, sig string, body []byte) {
		got, err := v.Verify(header(id, tsText, sig), body)
		switch {
		case err == nil:
			if got != id {
				t.Fatalf("id = %q, want %q", got, id)
			}
			// Success needs the HMAC of exactly these bytes under one of the secrets.
			if !independentlyValid(secrets, id, tsText, sig, body) {
				t.Fatalf("accepted %q %q %q without a valid signature", id, tsText, sig)
			}
		case errors.Is(err, ErrMissingHeaders), errors.Is(err, ErrTimestamp), errors.Is(err, ErrSignature):
			if got != "" {
				t.Fatalf("id %q returned with error %v", got, err)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// independentlyValid reports whether sig holds a v1 entry equal to a plain HMAC of
// "id.ts.body" under one of secrets.
func independentlyValid(secrets [][]byte, id, ts, sig string, body []byte) bool {
	for _, entry := range strings.Fields(sig) {
		if !strings.HasPrefix(entry, "v1,") {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(entry[3:])
		if err != nil {
			continue
		}
		for _, s := range secrets {
			m := hmac.New(sha256.New, s)
			m.Write([]byte(id + "." + ts + "." + string(body)))
			if bytes.Equal(got, m.Sum(nil)) {
				return true
			}
		}
	}
	return false
}
