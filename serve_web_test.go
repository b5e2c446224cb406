package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/internal/tlscert"
	"softphone/signaling"
)

func httpGet(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestServeWeb: softphone serve serves the page at / beside /ws, with
// content types and caching headers, and no listing; --web off serves none.
func TestServeWeb(t *testing.T) {
	e := newServeEnv(t, webOpts{})
	if !strings.HasPrefix(e.webURL, "http://127.0.0.1:") || !strings.HasSuffix(e.wsURL, "/ws") ||
		strings.TrimSuffix(e.wsURL, "ws") != "ws"+strings.TrimPrefix(e.webURL, "http") {
		t.Fatalf("banner %q: the page and /ws should share the address", e.banner)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, body := httpGet(t, c, e.webURL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, `src="tuicallkit.js"`) {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("ETag")
	req, _ := http.NewRequest("GET", e.webURL, nil)
	req.Header.Set("If-None-Match", etag)
	if r, err := c.Do(req); err != nil || r.StatusCode != http.StatusNotModified {
		t.Fatalf("GET / with its ETag: %v %v", r, err)
	}
	if r, _ := httpGet(t, c, e.webURL+"tuicallkit.js"); r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || r.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("tuicallkit.js: %v", r.Header)
	}
	if r, body := httpGet(t, c, e.webURL+"static/"); r.StatusCode != 404 || strings.Contains(body, "href") {
		t.Errorf("GET /static/: %d %q", r.StatusCode, body)
	}
	// The WebSocket endpoint is still the call server's.
	if r, _ := httpGet(t, c, strings.Replace(e.wsURL, "ws://", "http://", 1)); r.StatusCode == 200 || r.StatusCode == 404 {
		t.Errorf("GET /ws without an upgrade: %d, want the WebSocket handshake's refusal", r.StatusCode)
	}

	off := newServeEnv(t, webOpts{noWeb: true})
	if strings.Contains(off.stderr.String(), "web phone") {
		t.Errorf("--web off says: %s", off.stderr.String())
	}
	u := strings.Replace(strings.TrimSuffix(off.wsURL, "ws"), "ws://", "http://", 1)
	if r, body := httpGet(t, c, u); r.StatusCode != 404 || !strings.Contains(body, "/ws") {
		t.Errorf("--web off: GET / = %d %q, want 404 with the hint", r.StatusCode, body)
	}
}

// TestServeSelfSigned: --tls-self-signed speaks https and wss with a
// certificate it keeps (the same fingerprint after a restart), prints the
// fingerprint, and a client pinned to it connects where a plain one does not.
func TestServeSelfSigned(t *testing.T) {
	e := newServeEnv(t, webOpts{tls: true})
	if !strings.HasPrefix(e.wsURL, "wss://") || !strings.HasPrefix(e.webURL, "https://") {
		t.Fatalf("banner %q", e.banner)
	}
	pinned, err := tlscert.PinnedClient(e.fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if r, body := httpGet(t, pinned, e.webURL); r.StatusCode != 200 || !strings.Contains(body, "TUICallKit") && !strings.Contains(body, "tuicallkit.js") {
		t.Fatalf("pinned GET /: %d", r.StatusCode)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(e.webURL); err == nil {
		t.Fatal("a client without the pin accepted the self-signed certificate")
	}
	// The same certificate (and fingerprint) after a restart.
	e.stopServer()
	cert := filepath.Join(e.dir, "config", "softphone", "tls", "cert.pem")
	before, _ := os.ReadFile(cert)
	fp := e.fingerprint
	e.serve(webOpts{tls: true})
	after, _ := os.ReadFile(cert)
	if e.fingerprint != fp || string(before) != string(after) {
		t.Errorf("restart: fingerprint %s, was %s: the certificate should be kept", e.fingerprint, fp)
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(cert), "key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}
	// A terminal client pins it with --tls-fingerprint.
	p := e.headlessPlain("alice", "--tls-fingerprint", e.fingerprint)
	p.quit()
	if code := run([]string{"serve", "--tls-self-signed", "--tls-cert", "a", "--tls-key", "b"}, nil, io.Discard, io.Discard); code != 2 {
		t.Errorf("--tls-self-signed with --tls-cert: exit %d, want 2", code)
	}
}

// headlessPlain starts a headless softphone that only logs in.
func (e *webEnv) headlessPlain(user string, extra ...string) *phone {
	e.t.Helper()
	return e.phone(user, 440, append([]string{"--speaker", "none"}, extra...)...)
}

// TestLinkCommand: softphone link prints the web phone's URL with a fresh
// ticket for the user in the fragment (never a query), valid for --expire,
// and who to call; bad flags are usage errors.
func TestLinkCommand(t *testing.T) {
	key := writeKey(t)
	link := func(args ...string) (string, string, int) {
		var out, errb strings.Builder
		code := run(append([]string{"link", "--secret-key-file", key}, args...), nil, &out, &errb)
		return strings.TrimSpace(out.String()), errb.String(), code
	}
	keyText, _ := os.ReadFile(key)
	out, _, code := link("--user", "guest", "--call", "alice,bob", "--video", "--expire", "30m", "--server", "wss://phone.lan:7880/ws")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	u, err := url.Parse(out)
	if err != nil || u.Scheme != "https" || u.Host != "phone.lan:7880" || u.Path != "/" || u.RawQuery != "" || strings.Contains(out, "?") {
		t.Fatalf("link %q: want https://phone.lan:7880/#... with nothing in a query", out)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil || frag.Get("user") != "guest" || frag.Get("call") != "alice,bob" || frag.Get("media") != "video" {
		t.Fatalf("fragment %q", u.Fragment)
	}
	tk, err := signaling.VerifyTicket(strings.TrimSpace(string(keyText)), signaling.DefaultSDKAppID, "guest", frag.Get("sig"), time.Now())
	if err != nil {
		t.Fatalf("the link's ticket: %v", err)
	}
	if tk.Lifetime != 30*time.Minute || time.Since(tk.Issued) > time.Minute {
		t.Errorf("ticket issued %v for %v, want now for 30m", tk.Issued, tk.Lifetime)
	}
	for _, c := range []struct{ server, want string }{
		{"", "http://127.0.0.1:7880/#"},
		{"ws://10.0.0.2:9000/ws", "http://10.0.0.2:9000/#"},
		{"10.0.0.2:9000", "http://10.0.0.2:9000/#"},
		{"https://phone.example/", "https://phone.example/#"},
	} {
		t.Setenv("SOFTPHONE_SERVER", "")
		args := []string{"--user", "guest"}
		if c.server != "" {
			args = append(args, "--server", c.server)
		}
		if out, _, code := link(args...); code != 0 || !strings.HasPrefix(out, c.want) {
			t.Errorf("--server %q: %q (exit %d), want %s...", c.server, out, code, c.want)
		}
	}
	for _, bad := range [][]string{
		{},
		{"--user", "bad id"},
		{"--user", "guest", "--expire", "25h"},
		{"--user", "guest", "--expire", "10s"},
		{"--user", "guest", "--call", "no way"},
		{"--user", "guest", "--call", "guest"},
		{"--user", "guest", "--video"},
		{"--user", "guest", "--server", "ftp://x"},
		{"--user", "guest", "--server", "http://x/?a=1"},
	} {
		if _, _, code := link(bad...); code != 2 {
			t.Errorf("link %q: exit %d, want 2", bad, code)
		}
	}
}
