// Package tlscert makes https easy where no certificate authority is at
// hand: `softphone serve --tls-self-signed` gets a self-signed certificate
// for its host names and addresses, kept between runs so its fingerprint
// stays the same, and terminal clients can pin that fingerprint instead of
// trusting a CA.
package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Validity is how long a generated certificate is valid; one that expires
// within Renew is replaced.
const (
	Validity = 365 * 24 * time.Hour
	Renew    = 30 * 24 * time.Hour
)

// Info describes the certificate in use, for the operator.
type Info struct {
	// CertPath and KeyPath are the PEM files.
	CertPath, KeyPath string
	// Generated is true when the certificate was made just now.
	Generated bool
	// Fingerprint is the SHA-256 of the certificate, as browsers show it
	// (AB:CD:...); terminal clients pin it with --tls-fingerprint.
	Fingerprint string
	// SPKI is the base64 SHA-256 of the public key, the form Chromium's
	// --ignore-certificate-errors-spki-list takes.
	SPKI string
	// Hosts are the names and addresses the certificate is valid for.
	Hosts    []string
	NotAfter time.Time
}

// DefaultDir is where `softphone serve --tls-self-signed` keeps its
// certificate: softphone/tls in the user's configuration directory
// (~/.config/softphone/tls on Linux), beside the secret key.
func DefaultDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory for the TLS certificate: %w (pass --tls-cert and --tls-key instead)", err)
	}
	return filepath.Join(dir, "softphone", "tls"), nil
}

// Hosts are the names a server listening on listen (HOST:PORT) is reached
// by: localhost and the loopback addresses, the listen address itself, or,
// when it listens on every interface, each address of this machine and its
// host name.
func Hosts(listen string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	add := func(h string) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
					add(n.IP.String())
				}
			}
		}
		if name, err := os.Hostname(); err == nil {
			add(name)
		}
	default:
		add(host)
	}
	return hosts
}

// SelfSigned returns the certificate kept in dir (cert.pem, key.pem) if it
// covers every host and stays valid beyond Renew, else makes a new one
// (ECDSA P-256, valid for Validity) and writes it there, the key with mode
// 0600.
func SelfSigned(dir string, hosts []string, now time.Time) (tls.Certificate, Info, error) {
	info := Info{CertPath: filepath.Join(dir, "cert.pem"), KeyPath: filepath.Join(dir, "key.pem")}
	if cert, err := tls.LoadX509KeyPair(info.CertPath, info.KeyPath); err == nil && covers(cert.Leaf, hosts, now) {
		return cert, describe(info, cert.Leaf), nil
	}
	certPEM, keyPEM, err := generate(hosts, now)
	if err != nil {
		return tls.Certificate{}, info, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, info, fmt.Errorf("create %s for the TLS certificate: %w", dir, err)
	}
	if err := writeFile(info.KeyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, info, err
	}
	if err := writeFile(info.CertPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, info, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, info, fmt.Errorf("load the new certificate: %w", err)
	}
	info = describe(info, cert.Leaf)
	info.Generated = true
	return cert, info, nil
}

// covers reports whether leaf is valid for every host for longer than Renew.
func covers(leaf *x509.Certificate, hosts []string, now time.Time) bool {
	if leaf == nil || now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) < Renew {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func describe(info Info, leaf *x509.Certificate) Info {
	info.Fingerprint = Fingerprint(leaf.Raw)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	info.SPKI = base64.StdEncoding.EncodeToString(spki[:])
	info.Hosts = append(slices.Clone(leaf.DNSNames), ipStrings(leaf.IPAddresses)...)
	info.NotAfter = leaf.NotAfter
	return info
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func generate(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate a TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generate a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "softphone (self-signed)", Organization: []string{"softphone"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create the certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// writeFile replaces path with b atomically (a temporary file renamed).
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Fingerprint is the SHA-256 of a DER certificate as AB:CD:... (upper-case
// hex pairs), the way browsers show it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	s := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

// ParseFingerprint reads a SHA-256 fingerprint in any usual spelling: hex
// pairs with or without colons or spaces, either case.
func ParseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	clean = strings.TrimPrefix(strings.ToLower(clean), "sha256")
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("TLS fingerprint %q: want the certificate's SHA-256 as 64 hex digits (AB:CD:... as softphone serve prints it)", s)
	}
	return b, nil
}

// ErrFingerprint is returned when a server's certificate is not the pinned one.
var ErrFingerprint = errors.New("the server's TLS certificate does not have the pinned fingerprint")

// PinnedClient returns an HTTP client (for the WebSocket dial) that accepts
// exactly the server certificate whose SHA-256 fingerprint is given, instead
// of one a certificate authority vouches for: how a terminal client trusts a
// server running with --tls-self-signed.
func PinnedClient(fingerprint string) (*http.Client, error) {
	want, err := ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is not checked against CAs: the pin below replaces
		// that check, and is stricter (one certificate only).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrFingerprint
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("%w: it has %s", ErrFingerprint, Fingerprint(cs.PeerCertificates[0].Raw))
			}
			return nil
		},
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}}, nil
}
