package portal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

// Which failed writes may still have taken effect at the portal (and so wait
// before their retry) and which never reached it.
func TestMayHaveApplied(t *testing.T) {
	now := time.Now()
	answered := func(status int) error {
		return serverFailure("DongBoHoSoMC", exchange{status: status, header: http.Header{}}, now)
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"timeout", transportError("DongBoHoSoMC", context.DeadlineExceeded), true},
		{"504 from a gateway", answered(http.StatusGatewayTimeout), true},
		{"502 from a gateway", answered(http.StatusBadGateway), true},
		{"429", answered(http.StatusTooManyRequests), true},
		{"connection reset after the request went", transportError("DongBoHoSoMC", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{"connection refused", transportError("DongBoHoSoMC", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), false},
		{"connection timed out", transportError("DongBoHoSoMC", &url.Error{Op: "Post", URL: "https://portal.example",
			Err: &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}}), false},
		{"timed out after the connection was made", transportError("DongBoHoSoMC", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), true},
		{"unexpected answer", &callError{op: "DongBoHoSoMC", kind: ErrProtocol, status: http.StatusOK}, false},
		{"name not found", transportError("DongBoHoSoMC", &net.DNSError{Err: "no such host", Name: "portal.example", IsNotFound: true}), false},
		{"TLS certificate refused", transportError("DongBoHoSoMC", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"login failed", transportError(ServiceLogin, &net.OpError{Op: "read", Err: syscall.ECONNRESET}), false},
		{"token request timed out", transportError(opToken, context.DeadlineExceeded), false},
		{"refused credentials", &callError{op: "DongBoHoSoMC", kind: ErrUnauthorized, status: http.StatusForbidden}, false},
		{"another error", errors.New("boom"), false},
	} {
		if got := MayHaveApplied(c.err); got != c.want {
			t.Errorf("%s (%v): MayHaveApplied %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
