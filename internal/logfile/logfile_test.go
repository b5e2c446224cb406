package logfile

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if p, err := DefaultPath(); err != nil || p != "/state/softphone/softphone.log" {
		t.Fatalf("with XDG_STATE_HOME: %q, %v", p, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative/ignored") // the XDG spec says relative paths are invalid
	t.Setenv("HOME", "/home/alice")
	if p, err := DefaultPath(); err != nil || p != "/home/alice/.local/state/softphone/softphone.log" {
		t.Fatalf("from HOME: %q, %v", p, err)
	}
}

func TestOpenCreatesAPrivateFileAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "softphone", "softphone.log")
	for _, msg := range []string{"first", "second"} {
		logger, f, err := Open(path, slog.LevelInfo)
		if err != nil {
			t.Fatal(err)
		}
		logger.Info(msg)
		logger.Debug("not at info level")
		f.Close()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "first") || !strings.Contains(s, "second") || strings.Contains(s, "not at info") {
		t.Fatalf("log = %q", s)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(filepath.Dir(path))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("modes: file %v, dir %v; want 0600, 0700", fi.Mode().Perm(), di.Mode().Perm())
	}
	if _, _, err := Open("", slog.LevelInfo); err == nil {
		t.Fatal("Open(\"\") = nil error")
	}
}
