package headless

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"softphone/engine"
)

var testLimits = Limits{Self: "alice", MaxCallSize: 4}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		line string
		want Command
	}{
		{"accept", Command{Name: "accept"}},
		{"  hangup  ", Command{Name: "hangup"}},
		{"call bob", Command{Name: "call", Users: []string{"bob"}}},
		{"call bob carol --video --group g1 --timeout 45 --user-data 'hello there'",
			Command{Name: "call", Users: []string{"bob", "carol"}, Params: engine.CallParams{
				MediaType: engine.MediaVideo, GroupID: "g1", Timeout: 45 * time.Second, UserData: "hello there"}}},
		{`call bob --user-data="a \"quoted\" word"`, Command{Name: "call", Users: []string{"bob"}, Params: engine.CallParams{UserData: `a "quoted" word`}}},
		{"invite dave erin", Command{Name: "invite", Users: []string{"dave", "erin"}}},
		{"call bob,carol --voice bob", Command{Name: "call", Users: []string{"bob", "carol"}}},
		{"join c-17", Command{Name: "join", CallID: "c-17"}},
		{"switch video", Command{Name: "switch", Media: engine.MediaVideo}},
		{"switch voice", Command{Name: "switch", Media: engine.MediaVoice}},
		{"mute", Command{Name: "mute"}},
		{"unmute", Command{Name: "unmute"}},
		{"quit", Command{Name: "quit"}},
	}
	for _, c := range cases {
		got, err := ParseCommand(c.line, testLimits)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.line, got, c.want)
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, line := range []string{
		"dance", "call", "call --video", "call bob --timeout", "call bob --timeout 0",
		"call bob --timeout 601", "call bob --timeout x", "call bob --bogus", "invite",
		"join", "join a b", "switch", "switch radio", "accept now", "call 'bob",
		"call bob\\", strings.Repeat("x", maxCommandLine+1),
		"call alice", "call b@d", "call bob carol dave erin", "invite bob --video", "invite alice",
	} {
		if _, err := ParseCommand(line, testLimits); err == nil {
			t.Errorf("%q: no error", line)
		}
	}
	if _, err := ParseCommand("   ", testLimits); err != ErrEmptyCommand {
		t.Errorf("blank line: %v", err)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"call bob --video", "join x", `call "a b" --user-data 'x y'`, "switch video", "\\", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line, testLimits)
		if err != nil {
			return
		}
		switch c.Name {
		case "call", "invite":
			if len(c.Users) == 0 {
				t.Fatalf("%q parsed with no users", line)
			}
		case "join":
			if c.CallID == "" && !strings.Contains(line, `""`) && !strings.Contains(line, "''") {
				t.Fatalf("%q: join with empty id", line)
			}
		}
	})
}
