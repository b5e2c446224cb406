// Package web is the browser phone: one page, a stylesheet and plain
// JavaScript (no build step, nothing loaded from elsewhere), embedded in the
// binary and served by `softphone serve` at / beside the call server's /ws.
//
// The page speaks signaling/PROTOCOL.md to the server and WebRTC to the
// other participants, and its script exposes TUICallKit, the reference
// call-event interface with the same event names and fields as the headless
// mode's JSON (see README.md, "The web phone").
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed static
var embedded embed.FS

// file is one embedded file, read once.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// contentTypes are the types of the files the page is made of; a file with
// another extension is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// securityHeaders go with every response. The page loads nothing from
// other origins and talks only to its own server (connect-src 'self'
// covers ws: and wss: to the same host); no page may frame it.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "microphone=(self), camera=(self), autoplay=(self)",
}

// shared are the files other sites' pages may load: tuicallkit.js is an API
// (README, "The web phone").
var shared = map[string]bool{"tuicallkit.js": true}

// Handler serves the web phone: / is the page, and each embedded file is
// served under its own name. Anything else is 404 (there is no directory
// listing), and methods other than GET and HEAD are 405. The file names
// carry no version, so every response says Cache-Control: no-cache with a
// strong ETag: a browser revalidates and gets 304 until the binary changes.
func Handler() http.Handler {
	files, err := loaded()
	if err != nil {
		panic("web: the embedded files cannot be read: " + err.Error()) // a build defect
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range securityHeaders {
			h.Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if shared[name] {
			h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}

// Files lists the served file names (the page is also served at /).
func Files() []string {
	files, _ := loaded()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// loaded reads the embedded files once.
var loaded = sync.OnceValues(load)

func load() (map[string]*file, error) {
	out := map[string]*file{}
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		out[name] = &file{name: name, body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return out, err
}
