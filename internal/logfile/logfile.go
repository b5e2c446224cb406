// Package logfile opens the log file of a softphone that owns the terminal
// (the TUI, the demo) or is told to log to a file (headless --log-file):
// the one place slog and pion write while nothing else may touch the
// terminal.
package logfile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// DefaultPath is where the terminal phone writes its log while it owns
// the terminal: $XDG_STATE_HOME/softphone/softphone.log, or
// ~/.local/state/softphone/softphone.log when XDG_STATE_HOME is unset.
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "softphone", "softphone.log"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the log directory: %w (set XDG_STATE_HOME or HOME)", err)
	}
	return filepath.Join(home, ".local", "state", "softphone", "softphone.log"), nil
}

// Open opens the log file at path for appending, creating it and its
// directory readable only by the user, and returns a text logger writing to
// it. Close the file when done. Everything that would otherwise write to the
// terminal (slog, pion's logger) should write here while a TUI runs.
func Open(path string, level slog.Level) (*slog.Logger, *os.File, error) {
	if path == "" {
		return nil, nil, errors.New("open the log: no path given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("open the log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open the log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), f, nil
}
