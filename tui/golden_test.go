package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"softphone/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func stripANSI(s string) string { return ansi.Strip(s) }

// connected brings the harness to the usual idle start: connected, devices
// known.
func connected(h *harness) {
	h.event(
		engine.ConnectionChanged{State: engine.ConnConnected},
		engine.AudioDeviceChanged{Mic: "Built-in Microphone", Speaker: "Built-in Speakers",
			Voice: engine.VoiceProcessing{AEC: "on", NS: "high", AGC: "on"}},
	)
}

// inCall1to1 is alice in a 1:1 voice call with bob, 83 s in, meters live.
func inCall1to1(h *harness) {
	connected(h)
	h.press("c")
	h.typeText("bob")
	h.press("enter")
	h.clock.Advance(4 * time.Second)
	h.event(engine.CallBegin{CallMediaType: engine.MediaVoice, CallRole: engine.RoleCaller}, engine.UserJoin{UserID: "bob"})
	h.clock.Advance(83 * time.Second)
	h.event(
		engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{"alice": 42, "bob": 17}},
		engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{
			"alice": engine.QualityExcellent, "bob": engine.QualityPoor},
			Connection: map[string]engine.ConnectionPath{"bob": {Type: "stun", Protocol: "udp", Local: "host", Remote: "srflx"}}},
	)
}

// sshSound is what main passes over SSH without a forwarded sound server.
var sshSound = SoundNote{
	Where: "sound: on devbox",
	Help: "This phone runs on devbox over SSH: its microphone and speaker are devbox's, not your desk's. To talk through your own:\n" +
		"  on your desk:  pactl load-module module-native-protocol-tcp port=4713 auth-ip-acl=127.0.0.1\n" +
		"  connect:       ssh -R 24713:127.0.0.1:4713 devbox\n" +
		"  run:           PULSE_SERVER=tcp:127.0.0.1:24713 softphone ...",
}

// scenes are the screens under golden test, each reached by driving the
// model with keys and engine events.
var scenes = []struct {
	name  string
	setup func(h *harness)
}{
	{"idle", connected},
	{"idle_recent_hint", func(h *harness) {
		h.m.hint = cleanLines("Alice calls you in a few seconds: press a to answer, r to reject. To test your audio, press c, type echo, enter: you hear yourself 0.5 s later.\nOther softphones: --server ws://127.0.0.1:7000/ws --secret-key-file /tmp/softphone-demo-123/secret.key")
		connected(h)
		// A completed outgoing call, a missed incoming one, a rejected group call.
		inCall1to1(h)
		h.press("h")
		h.clock.Advance(2 * time.Minute)
		h.event(engine.CallReceived{CallerID: "carol", CallMediaType: engine.MediaVideo})
		h.event(engine.CallCancelled{CallerID: "carol"})
		h.press("c")
		h.typeText("dave, erin")
		h.press("enter")
		h.event(engine.UserReject{UserID: "dave"}, engine.UserLineBusy{UserID: "erin"}, engine.CallCancelled{CallerID: "alice"})
	}},
	{"idle_offline_noaudio", func(h *harness) {
		h.event(
			engine.ConnectionChanged{State: engine.ConnReconnecting},
			engine.AudioDeviceChanged{Mic: "null", Speaker: "null", Warning: "no audio device found: calls are silent"},
		)
	}},
	{"dial", func(h *harness) {
		connected(h)
		h.press("c")
		h.typeText("bob carol")
		h.press("tab")
	}},
	{"dial_error", func(h *harness) {
		connected(h)
		h.press("c")
		h.typeText("bob b@d")
		h.press("enter")
	}},
	{"outgoing", func(h *harness) {
		connected(h)
		h.press("c")
		h.typeText("bob")
		h.press("enter")
		h.clock.Advance(7 * time.Second)
	}},
	{"outgoing_group", func(h *harness) {
		connected(h)
		h.press("c")
		h.typeText("bob carol dave erin --video")
		h.press("enter")
		h.clock.Advance(12 * time.Second)
		h.event(
			engine.UserReject{UserID: "carol"},
			engine.UserNoResponse{UserID: "dave", Reason: "offline"},
			engine.UserLineBusy{UserID: "erin"},
		)
	}},
	{"outgoing_offline", func(h *harness) {
		connected(h)
		h.press("c")
		h.typeText("zed")
		h.press("enter")
		h.event(engine.UserNoResponse{UserID: "zed", Reason: "offline"}, engine.CallCancelled{CallerID: "alice"})
	}},
	{"incoming", func(h *harness) {
		connected(h)
		h.event(engine.CallReceived{CallerID: "bob", CalleeIDList: []string{"alice"}, CallMediaType: engine.MediaVoice})
		h.clock.Advance(5 * time.Second)
	}},
	{"incoming_group", func(h *harness) {
		connected(h)
		h.event(engine.CallReceived{
			CallerID: "bob", CalleeIDList: []string{"alice", "carol", "dave"}, GroupID: "team-standup",
			CallMediaType: engine.MediaVideo, UserData: "Standup now: the release is blocked on the audio fix, join if you can",
		})
		h.clock.Advance(2 * time.Second)
	}},
	{"incall", inCall1to1},
	{"incall_group", func(h *harness) {
		connected(h)
		h.press("c")
		h.typeText("bob carol dave --video")
		h.press("enter")
		h.event(engine.CallBegin{CallMediaType: engine.MediaVideo, CallRole: engine.RoleCaller},
			engine.UserJoin{UserID: "bob"}, engine.UserJoin{UserID: "carol"})
		h.clock.Advance(3*time.Minute + 7*time.Second)
		h.press("m")
		h.event(
			engine.UserVideoAvailable{UserID: "bob", IsVideoAvailable: true},
			engine.UserAudioAvailable{UserID: "carol", IsAudioAvailable: false},
			engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{"alice": 0, "bob": 88, "carol": 3}},
			engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{
				"alice": engine.QualityGood, "bob": engine.QualityExcellent, "carol": engine.QualityVbad},
				Connection: map[string]engine.ConnectionPath{
					"bob":   {Type: "direct", Protocol: "udp", Local: "host", Remote: "host"},
					"carol": {Type: "relay", Protocol: "tcp", Local: "relay", Remote: "srflx"}}},
		)
	}},
	{"invite", func(h *harness) {
		inCall1to1(h)
		h.press("i")
		h.typeText("carol")
	}},
	{"quit_confirm", func(h *harness) {
		inCall1to1(h)
		h.press("q")
	}},
	{"help", func(h *harness) {
		connected(h)
		h.press("?")
	}},
	{"help_ssh", func(h *harness) {
		h.m.sound = sshSound
		connected(h)
		h.press("?")
	}},
	{"incall_ssh_forwarded", func(h *harness) {
		h.m.sound = SoundNote{Where: "sound: via tcp:127.0.0.1:24713", Help: "Sound goes to the PulseAudio server tcp:127.0.0.1:24713."}
		inCall1to1(h)
	}},
	{"kicked", func(h *harness) {
		inCall1to1(h)
		h.event(engine.KickedOffline{})
	}},
	{"expired", func(h *harness) {
		connected(h)
		h.event(engine.UserSigExpired{})
	}},
	{"stopped", func(h *harness) {
		connected(h)
		h.sendAll(engineStoppedMsg{})
	}},
}

var sizes = []struct{ w, h int }{{80, 24}, {50, 20}}

// TestGolden renders every scene at 80x24 and 50x20 and compares with
// testdata (go test ./tui -update rewrites them). The goldens are the
// screens without colour, which is also what a NO_COLOR terminal shows.
func TestGolden(t *testing.T) {
	for _, sc := range scenes {
		for _, sz := range sizes {
			name := fmt.Sprintf("%s_%dx%d", sc.name, sz.w, sz.h)
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				h.m.width, h.m.height = sz.w, sz.h
				sc.setup(h)
				got := h.screen()
				checkFits(t, got, sz.w, sz.h)
				path := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./tui -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("screen differs from %s (go test ./tui -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
				}
			})
		}
	}
}

// checkFits fails unless the frame is exactly h lines of at most w cells.
func checkFits(t *testing.T, frame string, w, h int) {
	t.Helper()
	lines := strings.Split(frame, "\n")
	if len(lines) != h {
		t.Errorf("frame has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, n, w, l)
		}
	}
}
