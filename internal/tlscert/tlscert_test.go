package tlscert

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedKeptAndRenewed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	hosts := []string{"localhost", "127.0.0.1", "::1", "phone.lan"}
	c1, i1, err := SelfSigned(dir, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	if !i1.Generated || c1.Leaf == nil {
		t.Fatalf("first call: %+v", i1)
	}
	for _, h := range hosts {
		if err := c1.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("not valid for %s: %v", h, err)
		}
	}
	if st, err := os.Stat(i1.KeyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file %v mode %v", err, st.Mode())
	}
	if len(i1.Fingerprint) != 95 || strings.ToUpper(i1.Fingerprint) != i1.Fingerprint {
		t.Errorf("fingerprint %q", i1.Fingerprint)
	}
	// The same hosts again: the same certificate, so browsers that accepted
	// it once keep accepting it.
	_, i2, err := SelfSigned(dir, hosts[:2], now.Add(time.Hour))
	if err != nil || i2.Generated || i2.Fingerprint != i1.Fingerprint {
		t.Fatalf("second call: %+v %v, want the kept certificate %s", i2, err, i1.Fingerprint)
	}
	// A host it does not cover, or an expiry within Renew: a new one.
	if _, i3, err := SelfSigned(dir, append(hosts, "10.9.8.7"), now); err != nil || !i3.Generated || i3.Fingerprint == i1.Fingerprint {
		t.Fatalf("new host: %+v %v", i3, err)
	}
	_, i4, err := SelfSigned(dir, hosts, now.Add(Validity-Renew+time.Hour))
	if err != nil || !i4.Generated {
		t.Fatalf("near expiry: %+v %v", i4, err)
	}
}

func TestHosts(t *testing.T) {
	h := Hosts("192.168.1.20:7880")
	if strings.Join(h, ",") != "localhost,127.0.0.1,::1,192.168.1.20" {
		t.Errorf("Hosts(192.168.1.20:7880) = %v", h)
	}
	all := Hosts("0.0.0.0:7880")
	if len(all) < 3 || all[0] != "localhost" {
		t.Errorf("Hosts(0.0.0.0:7880) = %v", all)
	}
}

func TestParseFingerprint(t *testing.T) {
	fp := strings.Repeat("AB:", 31) + "AB"
	for _, s := range []string{fp, strings.ToLower(fp), strings.ReplaceAll(fp, ":", ""), strings.ReplaceAll(fp, ":", " "), "sha256:" + fp} {
		if b, err := ParseFingerprint(s); err != nil || len(b) != 32 {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "AB:CD", strings.Repeat("zz", 32), fp + ":AB"} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// TestPinnedClient: a client pinned to the server's fingerprint connects;
// pinned to another, it refuses, and says which certificate it saw.
func TestPinnedClient(t *testing.T) {
	cert, info, err := SelfSigned(t.TempDir(), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	good, err := PinnedClient(info.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := good.Get(srv.URL)
	if err != nil {
		t.Fatalf("pinned to the right certificate: %v", err)
	}
	resp.Body.Close()

	other, err := PinnedClient(strings.Repeat("00", 32))
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Get(srv.URL)
	if !errors.Is(err, ErrFingerprint) || !strings.Contains(err.Error(), info.Fingerprint) {
		t.Fatalf("pinned to another certificate: %v", err)
	}
	// An ordinary client does not trust the self-signed certificate.
	if _, err := http.Get(srv.URL); err == nil {
		t.Fatal("a client without the pin trusted the self-signed certificate")
	}
}
