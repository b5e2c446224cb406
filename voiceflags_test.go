package main

import (
	"io"
	"strings"
	"testing"
)

// TestVoiceFlags: a bad --aec, --ns or --agc value is a usage error that
// names the flag and its values, in the phone, headless mode and the demo.
func TestVoiceFlags(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--aec", "maybe"}, `--aec "maybe": want on or off`},
		{[]string{"--ns", "loud"}, `--ns "loud": want off, low or high`},
		{[]string{"--agc", "2"}, `--agc "2": want on or off`},
	} {
		for _, cmd := range [][]string{
			{"--server", "ws://127.0.0.1:1/ws", "--user", "bob"},
			{"--headless", "--server", "ws://127.0.0.1:1/ws", "--user", "bob"},
			{"demo"},
		} {
			var stderr strings.Builder
			args := append(append([]string(nil), cmd...), tc.args...)
			if c := run(args, strings.NewReader(""), io.Discard, &stderr); c != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("%q: exit %d, stderr %q; want 2 and %q", args, c, stderr.String(), tc.want)
			}
		}
	}
}
