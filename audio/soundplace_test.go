package audio

import (
	"strings"
	"testing"
)

func TestSoundPlace(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name    string
		getenv  func(string) string
		short   string
		explain []string
	}{
		{"at the machine", env(), "", []string{"this machine's own devices"}},
		{"over SSH", env("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22"), "sound: on devbox",
			[]string{"runs on devbox over SSH", DeskLoadModule, "ssh -R 24713:127.0.0.1:4713 devbox\n", "PULSE_SERVER=tcp:127.0.0.1:24713 softphone"}},
		{"over SSH, forwarded", env("SSH_CONNECTION", "x", "PULSE_SERVER", " tcp:127.0.0.1:24713 "), "sound: via tcp:127.0.0.1:24713",
			[]string{"PulseAudio server tcp:127.0.0.1:24713", "you hear the call at your desk"}},
		{"PULSE_SERVER without SSH", env("PULSE_SERVER", "unix:/run/pulse/native"), "sound: via unix:/run/pulse/native",
			[]string{"PulseAudio server unix:/run/pulse/native"}},
	} {
		p := FindSoundPlace(tc.getenv, "devbox")
		if got := p.Short(); got != tc.short {
			t.Errorf("%s: Short() = %q, want %q", tc.name, got, tc.short)
		}
		if p.Notable() != (tc.short != "") {
			t.Errorf("%s: Notable() = %v", tc.name, p.Notable())
		}
		for _, w := range tc.explain {
			if !strings.Contains(p.Explain(), w) {
				t.Errorf("%s: Explain() lacks %q: %s", tc.name, w, p.Explain())
			}
		}
	}
}
