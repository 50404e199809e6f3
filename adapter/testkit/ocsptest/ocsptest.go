// Package ocsptest runs a real OCSP responder for tests: `openssl ocsp`
// (Debian package openssl) on a free loopback port, answering from an
// index in `openssl ca` format that the test writes, signing with the CA
// itself or a delegated responder certificate. It can be stopped and
// started again on the same port (responder down, then back). TEST ONLY.
package ocsptest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// probe asks the responder whether it listens (GET / is answered with an
// error response).
var probe = &http.Client{Timeout: 2 * time.Second}

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Entry is one certificate the responder knows; a certificate it does not
// list is answered "unknown".
type Entry struct {
	Cert    *x509.Certificate
	Revoked time.Time // zero: valid
}

// Options configure a Responder.
type Options struct {
	CA *x509.Certificate // the issuer of the certificates asked about
	// Signer and Key sign the responses: the CA itself, or a responder
	// certificate it issued with id-kp-OCSPSigning.
	Signer  *x509.Certificate
	Key     crypto.Signer
	Entries []Entry
	// NextUpdate, in whole minutes, sets nextUpdate in every response
	// (openssl ocsp -nmin); zero: responses carry no nextUpdate.
	NextUpdate time.Duration
	// Port to listen on; zero: a free one.
	Port int
}

// Responder is a running `openssl ocsp`.
type Responder struct {
	URL  string // http://127.0.0.1:<port>/
	Port int

	o    Options
	dir  string
	bin  string
	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd    *exec.Cmd
	out    *output
	exited chan struct{}
}

// output is the responder's output, read while it runs.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Start writes the files and starts the responder; it is stopped when the
// test ends.
func Start(tb testing.TB, o Options) *Responder {
	tb.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		tb.Fatalf("ocsptest: openssl not found (Debian package openssl): %v", err)
	}
	if o.Port == 0 {
		if o.Port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
	}
	r := &Responder{o: o, dir: tb.TempDir(), bin: bin, Port: o.Port,
		URL: "http://127.0.0.1:" + strconv.Itoa(o.Port) + "/"}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(r.dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", o.CA.Raw)
	write("signer.pem", "CERTIFICATE", o.Signer.Raw)
	key, err := x509.MarshalPKCS8PrivateKey(o.Key)
	if err != nil {
		tb.Fatal(err)
	}
	write("signer.key", "PRIVATE KEY", key)
	r.writeIndex(tb, o.Entries)
	tb.Cleanup(r.Stop)
	r.Up(tb)
	return r
}

// FreePort returns a loopback port nothing listens on now, for a
// responder URL that must be known before the responder starts (in a
// certificate's AIA extension).
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// SetEntries rewrites the index; the responder answers from it once
// started again (Down, Up).
func (r *Responder) SetEntries(tb testing.TB, entries []Entry) {
	tb.Helper()
	r.writeIndex(tb, entries)
}

// writeIndex writes index.txt in `openssl ca` format: status, expiry,
// revocation time, serial in hex, file name, subject.
func (r *Responder) writeIndex(tb testing.TB, entries []Entry) {
	var b strings.Builder
	for _, e := range entries {
		status, rev := "V", ""
		if !e.Revoked.IsZero() {
			status, rev = "R", asn1Time(e.Revoked)
		}
		serial := fmt.Sprintf("%X", e.Cert.SerialNumber)
		if len(serial)%2 == 1 {
			serial = "0" + serial
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\tunknown\t%s\n", status, asn1Time(e.Cert.NotAfter), rev, serial, "/CN="+e.Cert.Subject.CommonName)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "index.txt"), []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// asn1Time is the index's time format, GeneralizedTime after 2049.
func asn1Time(t time.Time) string {
	t = t.UTC()
	if t.Year() >= 2050 {
		return t.Format("20060102150405Z")
	}
	return t.Format("060102150405Z")
}

// Up starts the responder (again) on its port and waits until it accepts
// connections.
func (r *Responder) Up(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return
	}
	args := []string{"ocsp", "-index", filepath.Join(r.dir, "index.txt"), "-port", strconv.Itoa(r.Port),
		"-CA", filepath.Join(r.dir, "ca.pem"), "-rsigner", filepath.Join(r.dir, "signer.pem"),
		"-rkey", filepath.Join(r.dir, "signer.key"), "-ignore_err"}
	if r.o.NextUpdate > 0 {
		args = append(args, "-nmin", strconv.Itoa(int(r.o.NextUpdate/time.Minute)))
	}
	p := &process{cmd: exec.Command(r.bin, args...), out: new(output), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	dieWithParent(p.cmd)
	started := make(chan error, 1)
	go func() {
		// Start and Wait on one locked thread that ends only with the
		// responder (see dieWithParent); the lock is never undone.
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		tb.Fatalf("ocsptest: starting openssl ocsp: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			tb.Fatalf("ocsptest: openssl ocsp on port %d exited: %s", r.Port, strings.TrimSpace(p.out.String()))
		default:
		}
		// An HTTP request, not a bare connection: openssl ocsp 3.0 stops
		// answering after a connection closed without a request.
		if resp, err := probe.Get(r.URL); err == nil {
			_ = resp.Body.Close()
			r.proc = p
			return
		}
		if time.Now().After(deadline) {
			p.stop()
			tb.Fatalf("ocsptest: openssl ocsp on port %d did not listen within %v", r.Port, startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we started: there is no event to wait on
	}
}

// Down stops the responder; its port then refuses connections.
func (r *Responder) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.stop()
		r.proc = nil
	}
}

// Stop is Down, for Cleanup.
func (r *Responder) Stop() { r.Down() }

// Output is what the running responder printed so far.
func (r *Responder) Output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return ""
	}
	return r.proc.out.String()
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
