package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// stores is the table every exactly-once test runs over: the embedded
// in-memory store and Redis (a real server, a key prefix per test).
var stores = []struct {
	name string
	edit func(t *testing.T, c *config.Config)
}{
	{"memory", func(t *testing.T, c *config.Config) {}},
	{"redis", func(t *testing.T, c *config.Config) {
		u, err := url.Parse(redistest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		c.Store.Kind = "redis"
		c.Store.Redis.Addrs = []string{u.Host}
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
	}},
}

func forEachStore(t *testing.T, f func(t *testing.T, e *env), edits ...func(*config.Config)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			f(t, startWith(t, func(c *config.Config) {
				st.edit(t, c)
				for _, edit := range edits {
					edit(c)
				}
			}))
		})
	}
}

// shortDeadlines makes a hanging treasury end the call soon.
func shortDeadlines(c *config.Config) {
	for id, p := range c.Procedures {
		p.Deadline = time.Second
		c.Procedures[id] = p
	}
	c.Idempotency.Lease = 3 * time.Second
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) send(t testing.TB, c fixture.Case, key string) answer {
	t.Helper()
	req, err := c.Request(e.adapter.URL)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return exchange(t, req)
}

// sendRetryingStore retries while the store answers 503 (it may, on a
// loaded machine: failing closed is right, the client retries), as a portal
// honouring Retry-After would.
func (e *env) sendRetryingStore(t testing.TB, c fixture.Case, key string) answer {
	t.Helper()
	for i := 0; ; i++ {
		a := e.send(t, c, key)
		if a.status != 503 || a.code() != "store-unavailable" || i == 20 {
			return a
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exchange sends req and reads the whole answer.
func exchange(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func (a answer) code() string {
	var p struct{ Code string }
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

func fx(t testing.TB, name string) fixture.Case {
	t.Helper()
	c, err := fixture.Load(filepath.Join(repo, "testdata/fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) docsFor(t *testing.T, code string) int {
	n := 0
	for _, d := range e.documents(t) {
		if d.DossierCode == code {
			n++
		}
	}
	return n
}

func TestConcurrentIdenticalSubmissions(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		for _, key := range []string{"", "portal-retry-7f3a"} {
			c := fx(t, "von-dau-tu/valid-xml")
			if key != "" {
				c = fx(t, "cam-ket-chi/valid-json")
			}
			code, _ := c.DossierCode()
			var mu sync.Mutex
			counts := map[string]int{}
			var bodies [][]byte
			var wg sync.WaitGroup
			for i := 0; i < 100; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := e.sendRetryingStore(t, c, key)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case a.status == 202 && a.header.Get("Idempotent-Replayed") == "true":
						counts["replayed"]++
						bodies = append(bodies, a.body)
					case a.status == 202:
						counts["first"]++
						bodies = append(bodies, a.body)
					case a.status == 409 && a.code() == "request-in-progress" && a.header.Get("Retry-After") != "":
						counts["in-progress"]++
					default:
						counts["unexpected "+a.code()]++
					}
				}()
			}
			wg.Wait()
			if counts["first"] != 1 || counts["first"]+counts["replayed"]+counts["in-progress"] != 100 {
				t.Fatalf("key %q: answers %v", key, counts)
			}
			for _, b := range bodies[1:] {
				if !bytes.Equal(b, bodies[0]) {
					t.Fatalf("replayed body differs:\n%s\n%s", b, bodies[0])
				}
			}
			if n := e.docsFor(t, code); n != 1 {
				t.Fatalf("%d treasury documents for %s", n, code)
			}
		}
	})
}

func TestReplayIsByteIdentical(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		c := fx(t, "tai-khoan/valid-json")
		first := e.send(t, c, "k-1")
		again := e.send(t, c, "k-1")
		if first.status != 202 || again.status != 202 || !bytes.Equal(first.body, again.body) {
			t.Fatalf("first %d %s\nagain %d %s", first.status, first.body, again.status, again.body)
		}
		if first.header.Get("Idempotent-Replayed") != "" || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("Idempotent-Replayed must mark the replay only")
		}
		// a final refusal is stored and replayed too
		r := fx(t, "tai-khoan/treasury-refusal")
		r1, r2 := e.send(t, r, "k-2"), e.send(t, r, "k-2")
		if r1.status != 422 || r1.code() != "treasury-refused" || !bytes.Equal(r1.body, r2.body) || r2.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("refusal replay: %d %s / %d %s", r1.status, r1.body, r2.status, r2.body)
		}
	})
}

func TestSameKeyOtherContent(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		if a := e.send(t, fx(t, "chi-thuong-xuyen/valid-xml"), "shared-key"); a.status != 202 {
			t.Fatalf("first: %d %s", a.status, a.body)
		}
		other := fx(t, "chi-thuong-xuyen/valid-json")
		a := e.send(t, other, "shared-key")
		if a.status != 422 || a.code() != "idempotency-key-reused" {
			t.Fatalf("other content under the same key: %d %s", a.status, a.body)
		}
		code, _ := other.DossierCode()
		if e.docsFor(t, code) != 0 {
			t.Fatal("the refused request reached the treasury")
		}
	})
}

func TestSameDossierUnderAnotherKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		c := fx(t, "von-dau-tu/valid-json")
		code, _ := c.DossierCode()
		if a := e.send(t, c, "key-a"); a.status != 202 {
			t.Fatalf("first: %d %s", a.status, a.body)
		}
		for _, key := range []string{"key-b", ""} {
			a := e.send(t, c, key)
			if a.status != 409 || a.code() != "dossier-already-submitted" ||
				a.header.Get("Location") != "/v1/procedures/von-dau-tu/dossiers/"+code {
				t.Fatalf("key %q: %d %v %s", key, a.status, a.header, a.body)
			}
		}
		// the XML form of the same dossier is the same dossier
		if n := e.docsFor(t, code); n != 1 {
			t.Fatalf("%d documents", n)
		}
	})
}

// A dossier the treasury refused can be corrected and sent again under the
// derived key: the refusal stored for it gives way to the corrected content.
func TestRefusedDossierCorrected(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		refused := fx(t, "chi-thuong-xuyen/treasury-refusal")
		code, _ := refused.DossierCode()
		if a := e.send(t, refused, ""); a.status != 422 || a.code() != "treasury-refused" {
			t.Fatalf("refusal: %d %s", a.status, a.body)
		}
		corrected := refused
		corrected.Body = signedTemplate(t, "chi-thuong-xuyen", code)
		if a := e.send(t, corrected, ""); a.status != 202 {
			t.Fatalf("corrected: %d %s", a.status, a.body)
		}
		if n := e.docsFor(t, code); n != 1 {
			t.Fatalf("%d documents", n)
		}
	})
}

// signedTemplate signs the procedure's XML template under dossier code.
func signedTemplate(t *testing.T, procedure, code string) []byte {
	t.Helper()
	return signedSupplement(t, procedure, code, 0)
}

// signedSupplement signs the procedure's XML template under dossier code as supplement
// soBoSung (0: the first submission).
func signedSupplement(t *testing.T, procedure, code string, soBoSung int) []byte {
	t.Helper()
	return signedTemplateEdited(t, procedure, func(root *etree.Element) {
		root.CreateAttr("Id", "HS-"+code)
		root.FindElement("maHoSo").SetText(code)
		root.FindElement("soBoSung").SetText(strconv.Itoa(soBoSung))
	})
}

// signedTemplateEdited signs the procedure's XML template, its root changed by edit, with the
// test PKI's account holder and chief accountant.
func signedTemplateEdited(t *testing.T, procedure string, edit func(root *etree.Element)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/templates", procedure, "dossier.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	edit(doc.Root())
	raw, err = doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	out, err := signing.SignXML(raw, signing.XMLOptions{}, testSigners(t)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testSigner loads the test PKI's signer name ("chu-tai-khoan", "ke-toan-truong").
func testSigner(t testing.TB, name string) signing.Signer {
	t.Helper()
	s, err := signing.LoadSigner(filepath.Join(repo, "testdata/pki", name+".crt"), filepath.Join(repo, "testdata/pki", name+".key"),
		filepath.Join(repo, "testdata/pki/intermediate-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testSigners are the test PKI's account holder and chief accountant.
func testSigners(t testing.TB) []signing.Signer {
	t.Helper()
	return []signing.Signer{testSigner(t, "chu-tai-khoan"), testSigner(t, "ke-toan-truong")}
}

// A transient failure is not stored: once the treasury is back, the same
// key goes through.
func TestTransientFailureNotStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		c := fx(t, "cam-ket-chi/valid-xml")
		e.treasuryDown.Store(true)
		a := e.send(t, c, "k-transient")
		if a.status != 503 || a.code() != "treasury-unavailable" || a.header.Get("Retry-After") == "" {
			t.Fatalf("outage: %d %v %s", a.status, a.header, a.body)
		}
		e.treasuryDown.Store(false)
		if a := e.send(t, c, "k-transient"); a.status != 202 || a.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("after recovery: %d %s", a.status, a.body)
		}
	})
}

func TestInvalidIdempotencyKey(t *testing.T) {
	e := start(t)
	a := e.send(t, fx(t, "tai-khoan/valid-xml"), strings.Repeat("k", 300))
	if a.status != 400 || a.code() != "invalid-idempotency-key" {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// A submission whose treasury answer was lost, or whose request never
// reached the treasury, and another key taking its claim over once the
// lease has ended. The treasury's document is its sender's: another key,
// with the same content or other content, is told the dossier was sent
// (the same content is recorded, so the status view knows the dossier at
// once), and the first key's retry gets its receipt; when the treasury held
// nothing, the other key's content is sent and the first key is the one
// told so. One document each time.
func TestAnotherKeyTakesOver(t *testing.T) {
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000777"
	x := signedTemplate(t, proc, code)
	y := signedTemplateEdited(t, proc, func(root *etree.Element) {
		root.CreateAttr("Id", "HS-"+code)
		root.FindElement("maHoSo").SetText(code)
		root.FindElement(".//soTaiKhoan").SetText("9999999999999")
	})
	for _, st := range stores {
		for _, tc := range []struct {
			name                string
			first, second       []byte
			requestLost         bool
			wantSecond, wantRtr int  // the second key's answer, then the first key's retry
			known               bool // the status view knows the dossier before the first key's retry
		}{
			{"same content", x, x, false, 409, 202, true},
			{"other content", x, y, false, 409, 202, false},
			{"request lost", x, y, true, 202, 409, true},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				clk := clock.New(receipt)
				e := startOpts(t, func(c *config.Config) { st.edit(t, c); shortDeadlines(c) }, Options{Clock: clk.Now})
				if tc.requestLost {
					e.sendsDown.Store(true)
				} else {
					e.sim.SetFaults(treasurysim.Faults{AfterAccept: "hang", HangMax: 5 * time.Second})
				}
				if a := e.postKeyed(t, proc, tc.first, "key-a"); a.status != 503 && a.status != 504 {
					t.Fatalf("first attempt: %d %s, want the treasury's answer lost", a.status, a.body)
				}
				e.sendsDown.Store(false)
				e.sim.SetFaults(treasurysim.Faults{})
				clk.Advance(time.Minute) // past the claim's lease
				ref := ""
				check := func(who string, a answer, want int) {
					t.Helper()
					var p struct{ TreasuryReference string }
					_ = json.Unmarshal(a.body, &p)
					if a.status != want || p.TreasuryReference == "" || (ref != "" && p.TreasuryReference != ref) {
						t.Fatalf("%s: %d %s, want %d naming the treasury's reference %q", who, a.status, a.body, want, ref)
					}
					ref = p.TreasuryReference
					if want == 409 && a.code() != "dossier-already-submitted" {
						t.Fatalf("%s: %s, want dossier-already-submitted", who, a.body)
					}
				}
				status := "/v1/procedures/" + proc + "/dossiers/" + code
				check("the second key", e.postKeyed(t, proc, tc.second, "key-b"), tc.wantSecond)
				check("the second key again", e.postKeyed(t, proc, tc.second, "key-b"), tc.wantSecond)
				if a := e.getAs(t, "dev-portal-token", status); tc.known && a.status != 200 {
					t.Fatalf("the dossier's status after the second key: %d %s", a.status, a.body)
				}
				check("the first key's retry", e.postKeyed(t, proc, tc.first, "key-a"), tc.wantRtr)
				if n := e.docsFor(t, code); n != 1 {
					t.Fatalf("%d documents", n)
				}
				if a := e.getAs(t, "dev-portal-token", status); a.status != 200 {
					t.Fatalf("the dossier's status: %d %s", a.status, a.body)
				}
			})
		}
	}
}

// A claim that the previous release left unsettled names no sender (its
// Redis hash has no "snd"), and may have been taken over before the
// upgrade: the document found for it is nobody's for sure, so every key,
// the same content and the first key included, is told it was sent, again
// on every retry, and nothing is recorded from a request.
func TestClaimLeftByTheReleaseBefore(t *testing.T) {
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000778"
	x := signedTemplate(t, proc, code)
	clk := clock.New(receipt)
	prefix := ""
	e := startOpts(t, func(c *config.Config) {
		stores[1].edit(t, c) // Redis
		shortDeadlines(c)
		prefix = c.Store.Redis.KeyPrefix
	}, Options{Clock: clk.Now})
	e.sim.SetFaults(treasurysim.Faults{AfterAccept: "hang", HangMax: 5 * time.Second})
	if a := e.postKeyed(t, proc, x, "key-a"); a.status != 504 {
		t.Fatalf("first attempt: %d %s", a.status, a.body)
	}
	e.sim.SetFaults(treasurysim.Faults{})
	sum := sha256.Sum256([]byte(proc + "|" + code + "|0"))
	claim := prefix + "dossier:{" + hex.EncodeToString(sum[:]) + "}"
	if n, err := redistest.Client(t).HDel(context.Background(), claim, "snd").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL %s snd: %d %v", claim, n, err)
	}
	clk.Advance(time.Minute) // past the claim's lease
	for _, key := range []string{"key-b", "key-b", "key-a"} {
		if a := e.postKeyed(t, proc, x, key); a.status != 409 || a.code() != "dossier-already-submitted" {
			t.Fatalf("%s: %d %s, want 409 dossier-already-submitted", key, a.status, a.body)
		}
	}
	if a := e.getAs(t, "dev-portal-token", "/v1/procedures/"+proc+"/dossiers/"+code); a.status != 404 {
		t.Fatalf("the dossier's status: %d %s, want nothing recorded from a request", a.status, a.body)
	}
	if n := e.docsFor(t, code); n != 1 {
		t.Fatalf("%d documents", n)
	}
}

// postKeyed posts an XML dossier of procedure under Idempotency-Key key.
func (e *env) postKeyed(t *testing.T, procedure string, body []byte, key string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.adapter.URL+"/v1/procedures/"+procedure+"/dossiers", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Idempotency-Key", key)
	return exchange(t, req)
}

// The treasury books the document but its answer never arrives: the
// adapter answers 504 and keeps nothing; the retry sends again under the
// same downstream key and gets the first document back, not a second one.
func TestTimeoutAfterTreasuryBookedIt(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.sim.SetFaults(treasurysim.Faults{AfterAccept: "hang", HangMax: 5 * time.Second})
		c := fx(t, "chi-thuong-xuyen/valid-json")
		code, _ := c.DossierCode()
		if a := e.send(t, c, ""); a.status != 504 || a.code() != "treasury-timeout" {
			t.Fatalf("first attempt: %d %s", a.status, a.body)
		}
		if n := e.docsFor(t, code); n != 1 {
			t.Fatalf("the treasury should hold the document it booked: %d", n)
		}
		e.sim.SetFaults(treasurysim.Faults{})
		a := e.send(t, c, "")
		if a.status != 202 {
			t.Fatalf("retry: %d %s", a.status, a.body)
		}
		if n := e.docsFor(t, code); n != 1 {
			t.Fatalf("%d documents after the retry", n)
		}
	}, shortDeadlines)
}
