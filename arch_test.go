package main

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestImportsPointOneWay keeps the architecture of README's "How it is
// built": front ends (tui, headless) → engine → signaling, audio. Nothing
// below a front end imports one, signaling and audio import no other
// package of ours, and nothing under internal/ imports a front end. A
// package's own sub-packages are part of it (audio/voice is audio's voice
// processing). Test files are left out: they may drive anything.
func TestImportsPointOneWay(t *testing.T) {
	frontEnds := []string{"softphone/tui", "softphone/headless"}
	// May import only these packages of ours (nil: any but a front end).
	allowed := map[string][]string{
		"softphone/signaling":   {},
		"softphone/audio":       {},
		"softphone/audio/voice": {},
		"softphone/engine":      {"softphone/signaling", "softphone/audio"},
		"softphone/tui":         {"softphone/engine"},
		"softphone/headless":    {"softphone/engine"},
		// The web phone runs in the browser and speaks PROTOCOL.md; its Go
		// package only serves the embedded files.
		"softphone/web": {},
	}
	seen := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == "." {
			return err
		}
		if name := d.Name(); strings.HasPrefix(name, ".") || name == "testdata" {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		self := "softphone/" + filepath.ToSlash(path)
		seen++
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, "softphone/") {
				continue
			}
			if ok, listed := allowed[self]; listed && !within(imp, self) && !slices.ContainsFunc(ok, func(p string) bool { return within(imp, p) }) {
				t.Errorf("%s imports %s: the arrows point front ends → engine → signaling, audio", self, imp)
			}
			if slices.Contains(frontEnds, imp) && strings.HasPrefix(self, "softphone/internal/") {
				t.Errorf("%s imports the front end %s", self, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Fatalf("found only %d packages: is the test run from the module root?", seen)
	}
}

// within reports whether the package imp is pkg or one of its sub-packages.
func within(imp, pkg string) bool { return imp == pkg || strings.HasPrefix(imp, pkg+"/") }
