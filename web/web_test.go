package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestServing: each file with its content type, no-cache and a strong ETag
// (304 when it matches), the security headers, / as the page, nothing else.
func TestServing(t *testing.T) {
	h := Handler()
	want := map[string]string{
		"/":              "text/html; charset=utf-8",
		"/index.html":    "text/html; charset=utf-8",
		"/tuicallkit.js": "text/javascript; charset=utf-8",
		"/phone.js":      "text/javascript; charset=utf-8",
		"/phone.css":     "text/css; charset=utf-8",
		"/icon.svg":      "image/svg+xml",
	}
	if got := Files(); !slices.Equal(got, []string{"icon.svg", "index.html", "phone.css", "phone.js", "tuicallkit.js"}) {
		t.Errorf("Files() = %v: a new file needs a test here", got)
	}
	for path, ct := range want {
		resp := get(t, h, "GET", path, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache (the names carry no version)", path, cc)
		}
		etag := resp.Header.Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
			t.Errorf("GET %s: ETag %q", path, etag)
		}
		if again := get(t, h, "GET", path, map[string]string{"If-None-Match": etag}); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.StatusCode)
		}
		if other := get(t, h, "GET", path, map[string]string{"If-None-Match": `"0000"`}); other.StatusCode != 200 {
			t.Errorf("GET %s with another ETag: %d, want 200", path, other.StatusCode)
		}
		for k, v := range securityHeaders {
			if k == "Cross-Origin-Resource-Policy" && path == "/tuicallkit.js" {
				v = "cross-origin" // an API other pages may load
			}
			if resp.Header.Get(k) != v {
				t.Errorf("GET %s: %s %q, want %q", path, k, resp.Header.Get(k), v)
			}
		}
		if head := get(t, h, "HEAD", path, nil); head.StatusCode != 200 || head.Header.Get("Content-Type") != ct {
			t.Errorf("HEAD %s: %d", path, head.StatusCode)
		}
	}
	// No directory listing, no other files, nothing outside.
	for _, path := range []string{"/static/", "/static", "/static/index.html", "/x/", "/../web.go", "/web.go",
		"/%2e%2e/web.go", "/index.html/", "/favicon.ico", "//", "/ws/"} {
		resp := get(t, h, "GET", path, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "<a href") {
			t.Errorf("GET %s: %d %q, want 404 without a listing", path, resp.StatusCode, body)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if resp := get(t, h, m, "/", nil); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// TestPageIsSelfContained: the page loads nothing from elsewhere (no CDN,
// no web fonts) and puts no script inline (the CSP forbids it).
func TestPageIsSelfContained(t *testing.T) {
	files, err := loaded()
	if err != nil {
		t.Fatal(err)
	}
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|fonts\.googleapis|cdn`)
	for name, f := range files {
		if m := external.Find(f.body); m != nil {
			t.Errorf("%s refers to another site: %q", name, m)
		}
	}
	page := string(files["index.html"].body)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || strings.Contains(page, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Error("index.html has inline script or event handler attributes, which the CSP blocks")
	}
	for _, src := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if _, ok := files[src[1]]; !ok {
			t.Errorf("index.html loads %q, which is not embedded", src[1])
		}
	}
}
