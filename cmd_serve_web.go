package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"softphone/internal/tlscert"
	"softphone/signaling"
	"softphone/web"
)

// serveWebFlags are serve's flags for the web phone and for https without a
// certificate authority.
type serveWebFlags struct {
	web        onOff
	selfSigned bool

	fingerprint string // of the self-signed certificate in use
}

// onOff is a flag that takes on/off (or true/false, yes/no, 1/0).
type onOff bool

func (o *onOff) String() string {
	if *o {
		return "on"
	}
	return "off"
}

func (o *onOff) Set(s string) error {
	switch strings.ToLower(s) {
	case "on", "true", "yes", "1":
		*o = true
	case "off", "false", "no", "0":
		*o = false
	default:
		return fmt.Errorf("want on or off")
	}
	return nil
}

func addServeWebFlags(fs *flag.FlagSet, w *serveWebFlags) {
	w.web = true
	fs.Var(&w.web, "web", "serve the web phone at / (on or off)")
	fs.BoolVar(&w.selfSigned, "tls-self-signed", false, "speak https/wss with a self-signed certificate, made on first use and kept in ~/.config/softphone/tls; prints its fingerprint (browsers on a LAN need https for the microphone)")
}

// check reports a usage error: tlsFiles says whether --tls-cert/--tls-key
// were given.
func (w *serveWebFlags) check(tlsFiles bool, stderr io.Writer) error {
	if w.selfSigned && tlsFiles {
		fmt.Fprintln(stderr, "--tls-self-signed replaces --tls-cert/--tls-key: give one or the other")
		return errUsage
	}
	return nil
}

// apply sets the web phone and the self-signed certificate in cfg.
func (w *serveWebFlags) apply(cfg *signaling.Config, listen string, stderr io.Writer) error {
	if w.web {
		cfg.Pages = web.Handler()
	}
	if !w.selfSigned {
		return nil
	}
	dir, err := tlscert.DefaultDir()
	if err != nil {
		return err
	}
	cert, info, err := tlscert.SelfSigned(dir, tlscert.Hosts(listen), time.Now())
	if err != nil {
		return err
	}
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	made := "using the self-signed certificate"
	if info.Generated {
		made = "made a self-signed certificate"
	}
	fmt.Fprintf(stderr, "softphone: %s %s for %s (valid until %s)\n", made, info.CertPath,
		strings.Join(info.Hosts, ", "), info.NotAfter.Format("2006-01-02"))
	w.fingerprint = info.Fingerprint
	fmt.Fprintln(stderr, "softphone: browsers warn about it once: check that the fingerprint they show is the one above, then accept;")
	fmt.Fprintln(stderr, "softphone:   terminal clients pass it with --tls-fingerprint")
	return nil
}

// announce tells where the web phone is and, with --tls-self-signed, the
// certificate's fingerprint, on stderr: stdout keeps its one banner line
// for scripts.
func (w *serveWebFlags) announce(stderr io.Writer, addr net.Addr, withTLS bool) {
	if w.web {
		// demoURLs picks a LAN address when the server listens on all.
		_, public := demoURLs(addr)
		if u, err := webBaseURL(public); err == nil {
			if withTLS {
				u.Scheme = "https"
			}
			fmt.Fprintf(stderr, "softphone: web phone at %s (a link that logs someone in: softphone link --user ID)\n", u)
		}
	}
	if w.fingerprint != "" {
		fmt.Fprintf(stderr, "softphone: TLS certificate SHA-256 fingerprint: %s\n", w.fingerprint)
	}
}
