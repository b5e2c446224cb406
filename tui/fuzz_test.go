package tui

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"softphone/engine"
)

// FuzzClean: cleaned outside text is valid UTF-8 without control or
// invisible format characters, bounded, and stable under cleaning again.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"bob", "\x1b]0;pwned\a", "\x9b31m", "a\u202eb", "\xff\xfe", "line\nbreak\ttab",
		strings.Repeat("é", 300), "👩‍👩‍👧"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("clean(%q) = %q is not UTF-8", s, c)
		}
		for _, r := range c {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) && r != '\u200d' {
				t.Fatalf("clean(%q) = %q keeps %U", s, c, r)
			}
		}
		if n := utf8.RuneCountInString(c); n > maxShownText+1 {
			t.Fatalf("clean(%q) has %d runes", s, n)
		}
		if c2 := clean(c); c2 != c {
			t.Fatalf("clean is not stable: %q -> %q", c, c2)
		}
	})
}

// FuzzModel drives the model with any sequence of keys, engine events and
// sizes: it never panics (Run would survive it, but the user would lose the
// screen) and every frame fits the terminal exactly.
func FuzzModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("cbob\x80\x81\x82\x83\x84hq"))
	f.Add([]byte{20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41})
	f.Add([]byte{0x81, 1, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90})
	keys := []string{"c", "a", "enter", "r", "h", "esc", "m", "i", "v", "?", "q", "ctrl+c", "tab", "y", "n", "backspace", "b", "o", " ", ","}
	ids := []string{"alice", "bob", "carol", ""}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 300 {
			ops = ops[:300]
		}
		h := newHarness(t)
		for i, op := range ops {
			id := ids[i%len(ids)]
			switch {
			case op < 0x80:
				h.sendAll(keyMsg(keys[int(op)%len(keys)]))
			case op < 0xf0:
				evs := []engine.Event{
					engine.CallReceived{CallerID: id, CalleeIDList: []string{"alice", id}, UserData: "hi"},
					engine.CallBegin{CallRole: engine.CallRole(i % 3), CallMediaType: engine.MediaType(i % 2)},
					engine.CallEnd{TotalTime: float64(i)},
					engine.CallCancelled{CallerID: id},
					engine.UserJoin{UserID: id},
					engine.UserLeave{UserID: id, Reason: "disconnected"},
					engine.UserReject{UserID: id},
					engine.UserNoResponse{UserID: id, Reason: "offline"},
					engine.UserLineBusy{UserID: id},
					engine.CallMediaTypeChanged{NewCallMediaType: engine.MediaType(i % 2)},
					engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{id: i * 37 % 140}},
					engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{id: engine.NetworkQuality(i % 9)}},
					engine.UserAudioAvailable{UserID: id, IsAudioAvailable: i%2 == 0},
					engine.UserVideoAvailable{UserID: id, IsVideoAvailable: i%2 == 0},
					engine.ConnectionChanged{State: engine.ConnState(i % 5)},
					engine.AudioDeviceChanged{Mic: id, Warning: id},
					engine.ErrorEvent{Code: i, Message: id},
					engine.KickedOffline{},
					engine.UserSigExpired{},
				}
				ev := evs[int(op-0x80)%len(evs)]
				switch ev.(type) {
				case engine.KickedOffline, engine.UserSigExpired:
					if i%7 != 0 {
						continue // rare, or most runs would end on a terminal screen
					}
				}
				// Results of actions are fed back, as the program would.
				h.sendAll(ev)
			default:
				h.m.width, h.m.height = 20+int(op-0xf0)*7, 6+int(op-0xf0)*2
			}
			w, hh := h.m.size()
			checkFits(t, stripANSI(h.m.render()), w, hh)
		}
	})
}
