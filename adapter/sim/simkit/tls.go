package simkit

import (
	"crypto/tls"
	"errors"
	"flag"
	"net/http"

	"github.com/kbnn/dvc/adapter/tlsconf"
)

// TLSFlags are a simulator's TLS flags: -tls-cert and -tls-key make it
// serve HTTPS, -client-ca makes it require a client certificate from
// those CAs (mutual TLS), as the real treasury gateway and portal may.
type TLSFlags struct {
	Cert, Key, ClientCA string
}

// AddTLSFlags adds the TLS flags to fs.
func AddTLSFlags(fs *flag.FlagSet) *TLSFlags {
	var f TLSFlags
	fs.StringVar(&f.Cert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with -tls-key)")
	fs.StringVar(&f.Key, "tls-key", "", "the private key of -tls-cert (PEM)")
	fs.StringVar(&f.ClientCA, "client-ca", "", "require a client certificate from these CAs (PEM bundle; needs -tls-cert)")
	return &f
}

// Apply sets srv's TLS from the flags; without -tls-cert it leaves srv
// plain HTTP.
func (f *TLSFlags) Apply(srv *http.Server) error {
	if f.Cert == "" && f.Key == "" && f.ClientCA == "" {
		return nil
	}
	if f.Cert == "" || f.Key == "" {
		return errors.New("-tls-cert and -tls-key go together (and -client-ca needs them)")
	}
	cert, err := tlsconf.NewCert(f.Cert, f.Key, nil)
	if err != nil {
		return err
	}
	cfg, err := tlsconf.Server(tlsconf.Options{Cert: cert, ClientCAFile: f.ClientCA})
	if err != nil {
		return err
	}
	if f.ClientCA != "" {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.TLSConfig = cfg
	return nil
}
