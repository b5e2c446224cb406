package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/internal/testenv"
)

// TestFreshCloneMakeDemo is a new user's first minute: clone the repository,
// type `make demo`. The clone gets an empty module cache of its own (every
// module must download through the proxy, as on a fresh machine) and no
// pkg-config (a build that needs a system -dev package fails here), and the
// demo must come up in a real terminal and quit cleanly. It tests the
// committed tree (HEAD), which is what a clone gets.
func TestFreshCloneMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fresh clone downloads every module and builds from scratch")
	}
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed: the fresh-clone test needs it", tool)
		}
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		testenv.Missing(t, "not in a git checkout, nothing to clone: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "softphone")
	if out, err := exec.Command("git", "clone", "--quiet", strings.TrimSpace(string(top)), src).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	modcache := filepath.Join(dir, "modcache")
	log := filepath.Join(dir, "demo.log")
	x := newTmux(t)
	d := x.start("fresh", log, []string{
		"GOMODCACHE=" + modcache,
		"GOFLAGS=-modcacherw", // so that the test can remove the cache
		// The compiled-package cache is kept: it is keyed by content, so it
		// cannot hide a missing module or library, and it saves minutes.
		"GOCACHE=" + strings.TrimSpace(string(gocache)),
		"PKG_CONFIG=/bin/false",
		"XDG_STATE_HOME=" + dir,
	}, "sh", "-c", "cd "+src+" && exec make demo ARGS='--mic tone:440 --speaker none --alice-after 1h --log-file "+log+"'")

	// Downloading every module and compiling from cold takes a minute or
	// two here; allow for a slow proxy.
	deadline := time.Now().Add(10 * time.Minute)
	for !strings.Contains(d.screen(), "● connected") {
		if time.Now().After(deadline) {
			t.Fatalf("make demo in a fresh clone never showed the phone; the terminal shows:\n%s", d.screen())
		}
		if code, done := d.exited(); done {
			t.Fatalf("make demo in a fresh clone exited with %d before the phone showed:\n%s", code, d.screen())
		}
		time.Sleep(time.Second)
	}
	d.waitFor("me @ ws://127.0.0.1:", "press c, type echo")
	d.press("q")
	if code := d.waitExit(); code != 0 {
		t.Fatalf("make demo exited with %d:\n%s", code, d.screen())
	}
	if _, err := os.Stat(filepath.Join(src, "softphone")); err != nil {
		t.Errorf("make demo left no binary in the clone: %v", err)
	}
}
