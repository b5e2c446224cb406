package signaling

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "softphone test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestServeTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	h := newHarness(t, func(c *Config) { c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	// With Config.TLS, Serve speaks TLS on the harness's listener.
	url := WebSocketURL(h.ln.Addr(), true)
	if !strings.HasPrefix(url, "wss://127.0.0.1:") {
		t.Fatalf("url %s", url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx, cancel := testCtx()
	defer cancel()
	c, err := Dial(ctx, ClientConfig{URL: url, UserID: "alice", UserSig: h.ticket("alice", time.Hour), HTTPClient: hc})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Without trusting the certificate the dial fails as unreachable.
	_, err = Dial(ctx, ClientConfig{URL: url, UserID: "bob", UserSig: h.ticket("bob", time.Hour)})
	if !isErr(err, ErrUnreachable) {
		t.Fatalf("untrusted certificate: %v", err)
	}
}
