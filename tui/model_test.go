package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"softphone/engine"
)

func TestKeyNamesMatchBindings(t *testing.T) {
	// The harness builds key messages by hand; they must print as the
	// terminal's would, or every key test below proves nothing.
	for _, k := range []string{"c", "a", "enter", "r", "h", "esc", "m", "i", "v", "?", "q", "ctrl+c", "tab", "y", "n"} {
		if got := keyMsg(k).String(); got != k {
			t.Errorf("keyMsg(%q).String() = %q", k, got)
		}
	}
}

func (h *harness) wantState(s callState) {
	h.t.Helper()
	if h.m.state != s {
		h.t.Fatalf("state = %v, want %v", h.m.state, s)
	}
}

func (h *harness) wantActions(want ...string) {
	h.t.Helper()
	if got := h.phone.recorded(); !slices.Equal(got, want) {
		h.t.Fatalf("engine actions = %q, want %q", got, want)
	}
}

func (h *harness) wantScreen(parts ...string) {
	h.t.Helper()
	s := h.screen()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			h.t.Fatalf("screen lacks %q:\n%s", p, s)
		}
	}
}

func (h *harness) wantLog(parts ...string) {
	h.t.Helper()
	var all []string
	for _, e := range h.m.log.entries {
		all = append(all, e.text)
	}
	joined := strings.Join(all, "\n")
	for _, p := range parts {
		if !strings.Contains(joined, p) {
			h.t.Fatalf("event log lacks %q:\n%s", p, joined)
		}
	}
}

func (h *harness) lastRecent() recentCall {
	h.t.Helper()
	if len(h.m.recent) == 0 {
		h.t.Fatal("recent list is empty")
	}
	return h.m.recent[len(h.m.recent)-1]
}

func (h *harness) dial(text string) {
	h.t.Helper()
	h.press("c")
	h.typeText(text)
	h.press("enter")
}

// ---- dial prompt -----------------------------------------------------------

func TestDialPlacesOneToOneCall(t *testing.T) {
	h := newHarness(t)
	connected(h)
	h.press("c")
	if h.m.prompt == nil || h.m.prompt.kind != promptDial {
		t.Fatal("c did not open the dial prompt")
	}
	h.typeText("bob")
	h.wantActions() // typing does nothing yet
	h.press("enter")
	h.wantActions("Call bob voice")
	h.wantState(stateOutgoing)
	if h.m.prompt != nil {
		t.Error("prompt still open after the call was placed")
	}
	if p := h.m.call.peer("bob"); p == nil || p.status != peerRinging {
		t.Fatalf("bob = %+v, want ringing once the engine took the call", p)
	}
	h.wantScreen("Calling bob", "ringing")
}

func TestDialGroupCallAndMediaChoice(t *testing.T) {
	cases := []struct {
		name, text string
		tab        bool
		want       string
	}{
		{"voice by default", "bob carol", false, "Call bob,carol voice"},
		{"tab picks video", "bob, carol", true, "Call bob,carol video"},
		{"--video like the command line", "bob --video carol", false, "Call bob,carol video"},
		{"--voice wins over tab", "bob --voice", true, "Call bob voice"},
		{"duplicates collapse", "bob bob;carol,,bob", false, "Call bob,carol voice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.press("c")
			h.typeText(tc.text)
			if tc.tab {
				h.press("tab")
			}
			h.press("enter")
			h.wantActions(tc.want)
		})
	}
}

func TestDialMistakesKeepThePromptAndText(t *testing.T) {
	cases := []struct{ text, wantErr string }{
		{"", "type the user id"},
		{"b@d", "not a valid user id"},
		{strings.Repeat("x", 33), "too long"},
		{"alice", "alice is you"},
		{"a b c d e f g h i", "at most 9 people"},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			h := newHarness(t)
			h.press("c")
			h.typeText(tc.text)
			h.press("enter")
			h.wantActions()
			h.wantState(stateIdle)
			if h.m.prompt == nil {
				t.Fatal("prompt closed on a mistake")
			}
			if !strings.Contains(h.m.prompt.err, tc.wantErr) {
				t.Fatalf("error = %q, want it to mention %q", h.m.prompt.err, tc.wantErr)
			}
			if h.m.prompt.input.Value() != tc.text {
				t.Fatalf("text = %q, want %q kept", h.m.prompt.input.Value(), tc.text)
			}
			h.typeText("x") // editing clears the message
			if h.m.prompt.err != "" {
				t.Error("error stays after editing")
			}
		})
	}
}

func TestDialPromptKeys(t *testing.T) {
	h := newHarness(t)
	h.press("c")
	h.typeText("qhmvia?r") // letters that are keys elsewhere are text here
	if got := h.m.prompt.input.Value(); got != "qhmvia?r" {
		t.Fatalf("prompt text = %q", got)
	}
	h.press("backspace")
	h.press("esc")
	if h.m.prompt != nil {
		t.Fatal("esc did not close the prompt")
	}
	h.wantActions()
	h.wantState(stateIdle)
	h.press("c")
	if v := h.m.prompt.input.Value(); v != "" {
		t.Errorf("prompt reopened with %q after esc; want empty", v)
	}
	out := h.press("ctrl+c")
	if !has[tea.QuitMsg](out) {
		t.Error("ctrl+c in the prompt did not quit")
	}
}

func TestPasteGoesIntoThePrompt(t *testing.T) {
	h := newHarness(t)
	h.press("c")
	h.sendAll(tea.PasteMsg{Content: "bob, carol"})
	h.press("enter")
	h.wantActions("Call bob,carol voice")
}

func TestIncomingCallClosesDialPromptButKeepsText(t *testing.T) {
	h := newHarness(t)
	h.press("c")
	h.typeText("car")
	h.event(engine.CallReceived{CallerID: "bob"})
	h.wantState(stateIncoming)
	if h.m.prompt != nil {
		t.Fatal("dial prompt still open over an incoming call")
	}
	h.press("r")
	h.press("c")
	if v := h.m.prompt.input.Value(); v != "car" {
		t.Errorf("prompt text after the interruption = %q, want car", v)
	}
}

// ---- outgoing --------------------------------------------------------------

func TestCallFailureReturnsToIdleWithTheReason(t *testing.T) {
	h := newHarness(t)
	h.phone.failWith("Call", errors.New("not connected to the server: check --server"))
	h.dial("bob")
	h.wantState(stateIdle)
	r := h.lastRecent()
	if r.outcome != outcomeFailed || r.dir != dirOutgoing || !slices.Equal(r.peers, []string{"bob"}) {
		t.Fatalf("recent = %+v", r)
	}
	h.wantScreen("Call failed: not connected to the server: check --server")
}

func TestOfflineOrUnknownCalleeGetsAClearMessage(t *testing.T) {
	h := newHarness(t)
	h.dial("zed")
	h.event(engine.UserNoResponse{UserID: "zed", Reason: "offline"}, engine.CallCancelled{CallerID: "alice"})
	h.wantState(stateIdle)
	if o := h.lastRecent().outcome; o != outcomeOffline {
		t.Fatalf("outcome = %v, want offline", o)
	}
	h.wantScreen("zed is offline or unknown (not logged in)")
}

func TestOutgoingOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		ev     engine.Event
		status peerStatus
		want   outcome
		says   string
	}{
		{"rejected", engine.UserReject{UserID: "bob"}, peerRejected, outcomeRejected, "bob declined"},
		{"busy", engine.UserLineBusy{UserID: "bob"}, peerBusy, outcomeBusy, "bob is busy"},
		{"rang out", engine.UserNoResponse{UserID: "bob", Reason: "timeout"}, peerNoAnswer, outcomeNoAnswer, "bob did not answer"},
		{"no reason given", engine.UserNoResponse{UserID: "bob"}, peerNoAnswer, outcomeNoAnswer, "bob did not answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.dial("bob")
			h.event(tc.ev)
			h.wantState(stateOutgoing)
			if st := h.m.call.peer("bob").status; st != tc.status {
				t.Fatalf("bob's status = %v, want %v", st, tc.status)
			}
			h.event(engine.CallCancelled{CallerID: "alice"})
			h.wantState(stateIdle)
			if o := h.lastRecent().outcome; o != tc.want {
				t.Fatalf("outcome = %v, want %v", o, tc.want)
			}
			h.wantScreen(tc.says)
		})
	}
}

func TestGroupCallKeepsRingingWhileSomeDecline(t *testing.T) {
	h := newHarness(t)
	h.dial("bob carol dave")
	h.event(engine.UserReject{UserID: "carol"}, engine.UserNoResponse{UserID: "dave", Reason: "offline"})
	h.wantState(stateOutgoing)
	h.wantScreen("Calling 3 people", "bob", "ringing", "carol", "rejected", "dave", "offline or unknown")
	h.event(engine.CallBegin{CallRole: engine.RoleCaller}, engine.UserJoin{UserID: "bob"})
	h.wantState(stateInCall)
	if len(h.m.call.peers) != 1 || h.m.call.peers[0].id != "bob" || h.m.call.peers[0].status != peerJoined {
		t.Fatalf("peers after connect = %+v, want bob alone, joined", h.m.call.peers)
	}
}

func TestCancelOutgoingWithHOrEsc(t *testing.T) {
	for _, k := range []string{"h", "esc"} {
		t.Run(k, func(t *testing.T) {
			h := newHarness(t)
			h.dial("bob")
			h.press(k)
			h.wantActions("Call bob voice", "Hangup")
			h.wantState(stateIdle)
			if o := h.lastRecent().outcome; o != outcomeCancelled {
				t.Fatalf("outcome = %v, want cancelled", o)
			}
			// The engine's own cancel event that follows changes nothing.
			h.event(engine.CallCancelled{CallerID: "alice"})
			if len(h.m.recent) != 1 {
				t.Fatalf("recent has %d entries, want 1", len(h.m.recent))
			}
		})
	}
}

func TestCallTimerTicksOnTheSecond(t *testing.T) {
	h := newHarness(t)
	h.press("c")
	h.typeText("bob")
	out := h.press("enter")
	var tick *timerMsg
	for _, m := range out {
		if tm, ok := m.(timerMsg); ok {
			if _, ok := tm.msg.(clockTickMsg); ok {
				tick = &tm
			}
		}
	}
	if tick == nil || tick.d != time.Second {
		t.Fatalf("no 1 s clock tick scheduled on dialing: %v", out)
	}
	h.clock.Advance(1500 * time.Millisecond)
	out = h.sendAll(clockTickMsg{})
	if len(out) != 1 || out[0].(timerMsg).d != 500*time.Millisecond {
		t.Fatalf("next tick = %v, want one at the next whole second (500ms)", out)
	}
	h.wantScreen("00:01")
	h.press("h")
	if out := h.sendAll(clockTickMsg{}); len(out) != 0 {
		t.Fatalf("ticks go on when idle: %v", out)
	}
}

// ---- incoming --------------------------------------------------------------

func TestIncomingCallRingsUntilAnswered(t *testing.T) {
	h := newHarness(t)
	out := h.event(engine.CallReceived{CallerID: "bob", CalleeIDList: []string{"alice"}, CallMediaType: engine.MediaVideo})
	h.wantState(stateIncoming)
	if !rang(out) {
		t.Fatal("no terminal bell on an incoming call")
	}
	var ring ringMsg
	for _, m := range out {
		if tm, ok := m.(timerMsg); ok {
			if r, ok := tm.msg.(ringMsg); ok {
				ring = r
				if tm.d != ringEvery {
					t.Errorf("rings again after %v, want %v", tm.d, ringEvery)
				}
			}
		}
	}
	if !rang(h.sendAll(ring)) {
		t.Fatal("the bell does not ring again while the call still rings")
	}
	h.press("a")
	if rang(h.sendAll(ring)) {
		t.Fatal("the bell rings on after accepting")
	}
	h.wantScreen("Incoming video call", "bob is calling you", "connecting")
}

func TestIncomingShowsGroupAndUserData(t *testing.T) {
	h := newHarness(t)
	h.event(engine.CallReceived{
		CallerID: "bob", CalleeIDList: []string{"alice", "carol", "bob"}, GroupID: "ops",
		UserData: "about the outage",
	})
	h.wantScreen("Incoming voice group call", "also invited: carol", "group: ops", "about the outage")
}

func TestAcceptWithAOrEnter(t *testing.T) {
	for _, k := range []string{"a", "enter"} {
		t.Run(k, func(t *testing.T) {
			h := newHarness(t)
			h.event(engine.CallReceived{CallerID: "bob", CalleeIDList: []string{"alice", "carol"}})
			h.press(k)
			h.press(k) // a second press while accepting does not accept twice
			h.wantActions("Accept")
			h.wantState(stateIncoming)
			h.event(engine.CallBegin{CallRole: engine.RoleCalled})
			h.wantState(stateInCall)
			if p := h.m.call.peer("bob"); p == nil || p.status != peerJoined {
				t.Fatalf("caller = %+v, want joined", p)
			}
			if p := h.m.call.peer("carol"); p == nil || p.status != peerRinging {
				t.Fatalf("other invitee = %+v, want ringing", p)
			}
		})
	}
}

func TestAcceptFailureLetsTheUserTryAgain(t *testing.T) {
	h := newHarness(t)
	h.phone.failWith("Accept", errors.New("microphone busy"))
	h.event(engine.CallReceived{CallerID: "bob"})
	h.press("a")
	h.wantState(stateIncoming)
	h.wantScreen("Could not accept: microphone busy")
	h.phone.failWith("Accept", nil)
	h.press("a")
	h.wantActions("Accept", "Accept")
}

func TestRejectWithRHOrEsc(t *testing.T) {
	for _, k := range []string{"r", "h", "esc"} {
		t.Run(k, func(t *testing.T) {
			h := newHarness(t)
			h.event(engine.CallReceived{CallerID: "bob"})
			h.press(k)
			h.wantActions("Reject")
			h.wantState(stateIdle)
			r := h.lastRecent()
			if r.outcome != outcomeRejected || r.dir != dirIncoming || !slices.Equal(r.peers, []string{"bob"}) {
				t.Fatalf("recent = %+v", r)
			}
			h.event(engine.CallCancelled{CallerID: "alice"})
			if len(h.m.recent) != 1 {
				t.Fatal("the engine's cancel after a reject added a second entry")
			}
		})
	}
}

func TestMissedCalls(t *testing.T) {
	cases := []struct {
		name     string
		callerID string
		says     string
	}{
		{"caller hung up", "bob", "they hung up"},
		{"rang out", "alice", "Missed call from bob"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.event(engine.CallReceived{CallerID: "bob"}, engine.CallCancelled{CallerID: tc.callerID})
			h.wantState(stateIdle)
			if o := h.lastRecent().outcome; o != outcomeMissed {
				t.Fatalf("outcome = %v, want missed", o)
			}
			h.wantScreen(tc.says)
		})
	}
}

func TestCallWhileBusyIsLoggedNotShown(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.CallReceived{CallerID: "carol"})
	h.wantState(stateInCall)
	if r := h.lastRecent(); r.outcome != outcomeMissed || r.peers[0] != "carol" {
		t.Fatalf("recent = %+v, want a missed call from carol", r)
	}
	h.wantScreen("missed a call from carol")
}

// ---- in call ---------------------------------------------------------------

func TestInCallRowsFollowEvents(t *testing.T) {
	h := newHarness(t)
	h.dial("bob carol dave erin")
	h.event(engine.CallBegin{CallRole: engine.RoleCaller}, engine.UserJoin{UserID: "bob"})
	h.wantScreen("bob", "carol", "ringing")
	h.event(
		engine.UserJoin{UserID: "carol"},
		engine.UserReject{UserID: "dave"},
		engine.UserLineBusy{UserID: "erin"},
	)
	if got := peerIDs(h.m.call); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("rows = %v, want bob and carol (dave declined, erin busy)", got)
	}
	h.wantScreen("carol joined", "dave declined the call", "erin is busy in another call")
	h.event(engine.UserLeave{UserID: "carol", Reason: "disconnected"}, engine.UserLeave{UserID: "bob", Reason: "hangup"})
	if got := peerIDs(h.m.call); len(got) != 0 {
		t.Fatalf("rows = %v after both left", got)
	}
	h.wantScreen("carol dropped (connection lost)", "bob left")
	h.wantState(stateInCall) // the engine ends the call, not the UI
}

func peerIDs(c *session) []string {
	var ids []string
	for _, p := range c.peers {
		ids = append(ids, p.id)
	}
	return ids
}

func TestMetersAndQuality(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(
		engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{"alice": 150, "bob": -3, "stranger": 50}},
		engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{
			"alice": engine.QualityDown, "bob": engine.QualityBad, "stranger": engine.QualityGood}},
	)
	if h.m.call.myVolume != 100 || h.m.call.peer("bob").volume != 0 {
		t.Fatalf("volumes not clamped to 0–100: me %d, bob %d", h.m.call.myVolume, h.m.call.peer("bob").volume)
	}
	if h.m.call.peer("stranger") != nil {
		t.Fatal("a volume report added a row for someone not in the call")
	}
	h.wantScreen("100", "Down", "Bad")
}

func TestMuteKey(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.press("m")
	h.wantActions("Call bob voice", "SetMicMuted true")
	if !h.m.muted {
		t.Fatal("not muted after SetMicMuted succeeded")
	}
	h.wantScreen("MIC MUTED", "muted", "m unmute")
	h.press("m")
	if h.m.muted {
		t.Fatal("still muted after the second m")
	}
	h.phone.failWith("SetMicMuted", errors.New("no microphone"))
	h.press("m")
	if h.m.muted {
		t.Fatal("shows muted although muting failed")
	}
	h.wantScreen("Could not change the microphone: no microphone")
}

func TestMuteStateWaitsForTheEngine(t *testing.T) {
	h := newHarness(t)
	_, cmd := h.m.Update(keyMsg("m"))
	if h.m.muted {
		t.Fatal("shows muted before the engine muted")
	}
	_, cmd2 := h.m.Update(keyMsg("m")) // pressed again before the answer
	r1, r2 := runCmd(cmd)[0].(actionResultMsg), runCmd(cmd2)[0].(actionResultMsg)
	if !r1.muted || r2.muted {
		t.Fatalf("two presses asked for %v then %v, want true then false", r1.muted, r2.muted)
	}
	h.sendAll(r2)
	h.sendAll(r1) // the older answer arrives last and must not win
	if h.m.muted {
		t.Fatal("an out-of-date answer decided the mute state")
	}
}

func TestLocalAudioEventSetsMuteState(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.UserAudioAvailable{UserID: "alice", IsAudioAvailable: false})
	if !h.m.muted {
		t.Fatal("the engine said this user's audio is off; the header says mic on")
	}
	h.event(engine.UserAudioAvailable{UserID: "bob", IsAudioAvailable: false})
	if h.m.call.peer("bob").audio {
		t.Fatal("bob's audio still on")
	}
	h.wantScreen("bob muted")
}

func TestSwitchMediaKey(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.press("v")
	h.wantActions("Call bob voice", "SwitchMediaType video")
	if h.m.call.media != engine.MediaVideo {
		t.Fatal("media not video after a successful switch")
	}
	h.event(engine.CallMediaTypeChanged{OldCallMediaType: engine.MediaVoice, NewCallMediaType: engine.MediaVideo})
	if n := strings.Count(h.screen(), "call switched to video"); n != 1 {
		t.Fatalf("the switch is logged %d times, want once", n)
	}
	h.wantScreen("v voice")
	h.event(engine.CallMediaTypeChanged{OldCallMediaType: engine.MediaVideo, NewCallMediaType: engine.MediaVoice})
	h.wantScreen("call switched to voice", "v video")
	h.phone.failWith("SwitchMediaType", errors.New("the camera is not available"))
	h.press("v")
	h.wantScreen("Could not switch to video: the camera is not available")
}

func TestVideoAvailability(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.UserVideoAvailable{UserID: "bob", IsVideoAvailable: true}, engine.UserVideoAvailable{UserID: "alice", IsVideoAvailable: true})
	if !h.m.call.peer("bob").video || !h.m.call.myVideo {
		t.Fatal("video availability not tracked")
	}
	h.wantScreen("bob turned video on")
}

func TestInviteKey(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.press("i")
	if h.m.prompt == nil || h.m.prompt.kind != promptInvite {
		t.Fatal("i did not open the invite prompt")
	}
	h.typeText("carol dave")
	h.press("enter")
	h.wantActions("Call bob voice", "Invite carol,dave")
	for _, id := range []string{"carol", "dave"} {
		if p := h.m.call.peer(id); p == nil || p.status != peerRinging {
			t.Fatalf("%s = %+v, want ringing", id, p)
		}
	}
	h.event(engine.UserJoin{UserID: "carol"}, engine.UserNoResponse{UserID: "dave", Reason: "timeout"})
	if got := peerIDs(h.m.call); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("rows = %v", got)
	}
}

func TestInviteMistakes(t *testing.T) {
	cases := []struct{ text, wantErr string }{
		{"bob", "bob is already in this call"},
		{"carol --video", "press v"},
		{"c1 c2 c3 c4 c5 c6 c7 c8", "room for 7 more"},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			h := newHarness(t)
			inCall1to1(h)
			h.press("i")
			h.typeText(tc.text)
			h.press("enter")
			h.wantActions("Call bob voice")
			if h.m.prompt == nil || !strings.Contains(h.m.prompt.err, tc.wantErr) {
				t.Fatalf("prompt = %+v, want error %q", h.m.prompt, tc.wantErr)
			}
		})
	}
}

// TestCallSizeIsTheServers: the dial and invite prompts hold a call to the
// size the server announced at login, not to the reference's 9.
func TestCallSizeIsTheServers(t *testing.T) {
	phone := newFakePhone()
	phone.maxCallSize = 3
	h := newHarnessWith(t, phone)
	h.press("c")
	h.typeText("bob carol dave")
	h.press("enter")
	h.wantActions()
	if h.m.prompt == nil || !strings.Contains(h.m.prompt.err, "at most 3 people") {
		t.Fatalf("prompt = %+v, want the server's limit of 3", h.m.prompt)
	}
	h.press("esc")
	inCall1to1(h)
	h.press("i")
	h.typeText("carol dave")
	h.press("enter")
	h.wantActions("Call bob voice")
	if h.m.prompt == nil || !strings.Contains(h.m.prompt.err, "room for 1 more") {
		t.Fatalf("prompt = %+v, want room for 1 more", h.m.prompt)
	}
}

func TestInviteFailureRemovesTheRows(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.phone.failWith("Invite", errors.New("carol does not exist"))
	h.press("i")
	h.typeText("carol")
	h.press("enter")
	if h.m.call.peer("carol") != nil {
		t.Fatal("a failed invitation left a ringing row")
	}
	h.wantScreen("Could not invite carol: carol does not exist")
}

func TestHangupInCall(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.press("h")
	h.wantActions("Call bob voice", "Hangup")
	h.wantState(stateIdle)
	r := h.lastRecent()
	if r.outcome != outcomeCompleted || r.duration != 83*time.Second {
		t.Fatalf("recent = %+v, want completed after 83s", r)
	}
	h.event(engine.CallEnd{TotalTime: 83})
	if len(h.m.recent) != 1 {
		t.Fatal("the engine's onCallEnd after hanging up added a second entry")
	}
}

func TestHangupFailureKeepsTheCall(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.phone.failWith("Hangup", errors.New("engine busy"))
	h.press("h")
	h.wantState(stateInCall)
	h.wantScreen("Could not hang up: engine busy")
	if h.m.call.hangingUp {
		t.Fatal("still marked hanging up; h would be ignored from now on")
	}
}

func TestRemoteEndsTheCall(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.CallEnd{TotalTime: 90.4})
	h.wantState(stateIdle)
	if d := h.lastRecent().duration; d != 90400*time.Millisecond {
		t.Fatalf("duration = %v, want the engine's 90.4s", d)
	}
	h.wantScreen("Call ended after 01:30", "completed", "01:30")
}

func TestKeysThatDoNotApplyDoNothing(t *testing.T) {
	h := newHarness(t)
	h.press("a", "r", "h", "esc", "i", "v", "enter", "y", "n", "x")
	h.wantActions()
	h.wantState(stateIdle)
	if h.m.prompt != nil || h.m.confirm || h.m.showHelp {
		t.Fatal("a key opened something it should not")
	}
	inCall1to1(h)
	h.press("c", "a", "r", "x")
	h.wantActions("Call bob voice")
	h.wantState(stateInCall)
}

// ---- quitting --------------------------------------------------------------

func TestQuitWhenIdleIsImmediate(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		h := newHarness(t)
		if h.m.quitReady() {
			t.Fatal("ready to quit before anyone asked")
		}
		if !has[tea.QuitMsg](h.press(k)) || !h.m.quitReady() {
			t.Fatalf("%s did not quit from idle", k)
		}
	}
}

func TestQuitInCallAsksThenHangsUp(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	if has[tea.QuitMsg](h.press("q")) {
		t.Fatal("q quit a live call without asking")
	}
	h.wantScreen("Hang up and quit? (y/n)")
	h.press("n")
	if h.m.confirm {
		t.Fatal("n did not close the question")
	}
	h.press("ctrl+c")
	h.press("esc")
	h.wantState(stateInCall)
	h.wantActions("Call bob voice")
	h.press("q")
	out := h.press("y")
	h.wantActions("Call bob voice", "Hangup")
	if !has[tea.QuitMsg](out) {
		t.Fatal("no quit after the hang-up finished")
	}
	if h.m.call != nil || h.m.state != stateIdle {
		t.Fatal("the call is still up after hanging up to quit; Run would hang up twice")
	}
}

func TestQuitTwiceConfirms(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.press("q")
	if out := h.press("q"); !has[tea.QuitMsg](out) {
		t.Fatal("q q did not quit")
	}
	h.wantActions("Call bob voice", "Hangup")
}

func TestQuitWhileRingingRejectsFirst(t *testing.T) {
	h := newHarness(t)
	h.event(engine.CallReceived{CallerID: "bob"})
	h.press("q")
	h.wantScreen("Reject the call and quit?")
	if !has[tea.QuitMsg](h.press("y")) {
		t.Fatal("no quit")
	}
	h.wantActions("Reject")
}

func TestQuitWhileCallingCancelsFirst(t *testing.T) {
	h := newHarness(t)
	h.dial("bob")
	h.press("q")
	h.wantScreen("Cancel the call and quit?")
	if !has[tea.QuitMsg](h.press("y")) {
		t.Fatal("no quit")
	}
	h.wantActions("Call bob voice", "Hangup")
}

func TestQuitStillLeavesWhenHangupFails(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.phone.failWith("Hangup", errors.New("timeout"))
	h.press("q")
	if !has[tea.QuitMsg](h.press("y")) {
		t.Fatal("a failed hang-up kept the program from quitting")
	}
	if h.m.call == nil {
		t.Fatal("a failed hang-up forgot the call; Run would not try again on the way out")
	}
}

func TestSecondQuitWhileHangingUpLeavesNow(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.press("q")
	_, cmd := h.m.Update(keyMsg("y")) // the hang-up is in flight, not run
	if cmd == nil || !h.m.quitReady() {
		t.Fatal("y did not start leaving")
	}
	_, cmd = h.m.Update(keyMsg("ctrl+c"))
	if !has[tea.QuitMsg](runCmd(cmd)) {
		t.Fatal("ctrl+c while hanging up did not leave at once")
	}
}

func TestSignalQuitHangsUpWithoutAsking(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	out := h.sendAll(quitSignalMsg{})
	h.wantActions("Call bob voice", "Hangup")
	if !has[tea.QuitMsg](out) {
		t.Fatal("no quit after a signal")
	}
}

func TestQuitFilter(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	s := &safeModel{inner: h.m, logger: discardLogger()}
	if _, ok := quitFilter(s, tea.QuitMsg{}).(quitSignalMsg); !ok {
		t.Fatal("an outside quit during a call was not turned into a clean leave")
	}
	if _, ok := quitFilter(s, tea.InterruptMsg{}).(quitSignalMsg); !ok {
		t.Fatal("an interrupt during a call was not turned into a clean leave")
	}
	h.m.quitting = true
	if _, ok := quitFilter(s, tea.QuitMsg{}).(tea.QuitMsg); !ok {
		t.Fatal("the model's own quit was held back")
	}
	if _, ok := quitFilter(s, keyMsg("x")).(tea.KeyPressMsg); !ok {
		t.Fatal("the filter changed an ordinary message")
	}
}

// ---- help ------------------------------------------------------------------

func TestHelpScreen(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.AudioDeviceChanged{Mic: "Laptop mic", Speaker: "none", Voice: engine.VoiceProcessing{AEC: "off (no speaker)", NS: "high", AGC: "on"}})
	h.press("?")
	if !h.m.showHelp {
		t.Fatal("? did not open help")
	}
	h.wantScreen("Keys", "a/enter", "invite more", "Log file: /home/alice/.local/state/softphone/softphone.log",
		"Voice processing: AEC off (no speaker) · NS high · AGC on", "--agc")
	h.press("esc")
	if h.m.showHelp {
		t.Fatal("esc did not close help")
	}
	h.wantActions("Call bob voice") // and did not hang up
	h.wantState(stateInCall)
	h.press("?", "?")
	if h.m.showHelp {
		t.Fatal("? did not toggle help closed")
	}
	h.press("?", "m") // keys still act under the help screen
	h.wantActions("Call bob voice", "SetMicMuted true")
	h.event(engine.CallEnd{TotalTime: 1})
	if h.m.showHelp {
		t.Fatal("help stayed over a changed screen")
	}
}

func TestHelpBarFollowsState(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		setup func()
		want  []string
		not   []string
	}{
		{func() {}, []string{"c call", "? help", "q quit"}, []string{"accept", "hang up", "invite"}},
		{func() { h.event(engine.CallReceived{CallerID: "bob"}) }, []string{"a/enter accept", "r reject"}, []string{"c call", "invite"}},
		{func() { h.press("r"); h.dial("bob") }, []string{"h/esc cancel"}, []string{"c call", "accept"}},
		{func() { h.event(engine.CallBegin{CallRole: engine.RoleCaller}) }, []string{"h hang up", "m mute", "i invite", "v video"}, []string{"c call", "accept"}},
	}
	for i, tc := range cases {
		tc.setup()
		bar := stripANSI(h.m.helpBar(200))
		for _, w := range tc.want {
			if !strings.Contains(bar, w) {
				t.Errorf("case %d: help bar %q lacks %q", i, bar, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(bar, n) {
				t.Errorf("case %d: help bar %q shows %q", i, bar, n)
			}
		}
	}
}

// ---- session-level events --------------------------------------------------

func TestHeaderFollowsConnectionAndDevices(t *testing.T) {
	h := newHarness(t)
	h.wantScreen("alice @ ws://127.0.0.1:7000", "connecting", "waiting for the engine")
	cases := []struct {
		ev   engine.Event
		want string
	}{
		{engine.ConnectionChanged{State: engine.ConnConnected}, "● connected"},
		{engine.ConnectionChanged{State: engine.ConnReconnecting}, "◌ reconnecting"},
		{engine.ConnectionChanged{State: engine.ConnOffline}, "○ offline"},
		{engine.AudioDeviceChanged{Mic: "USB Headset", Speaker: "USB Headset"}, "mic: USB Headset · speaker: USB Headset"},
		{engine.AudioDeviceChanged{Mic: "Laptop mic", Speaker: "Laptop", Voice: engine.VoiceProcessing{AEC: "on", NS: "high", AGC: "on"}},
			"mic: Laptop mic · speaker: Laptop · AEC NS:high AGC"},
		{engine.AudioDeviceChanged{Mic: "tone 440 Hz", Speaker: "none", Voice: engine.VoiceProcessing{AEC: "off (test source)", NS: "off (test source)", AGC: "off (test source)"}},
			"mic: tone 440 Hz · speaker: none · no AEC/NS/AGC"},
		{engine.AudioDeviceChanged{Mic: "Laptop mic", Speaker: "none", Voice: engine.VoiceProcessing{AEC: "off (no speaker)", NS: "low", AGC: "off"}},
			"speaker: none · NS:low"},
		{engine.AudioDeviceChanged{Mic: "null", Speaker: "null", Warning: "no audio device found"}, "⚠ no audio device found"},
	}
	for _, tc := range cases {
		h.event(tc.ev)
		h.wantScreen(tc.want)
	}
	h.wantLog("lost the server connection: reconnecting", "offline: cannot reach")
}

// TestStartupSaysNothingOfOffline: the engine's first reports are offline
// (before login), connecting, connected; the log must not claim the server
// could not be reached.
func TestStartupSaysNothingOfOffline(t *testing.T) {
	h := newHarness(t)
	for _, s := range []engine.ConnState{engine.ConnOffline, engine.ConnConnecting, engine.ConnConnected} {
		h.event(engine.ConnectionChanged{State: s})
	}
	h.wantScreen("● connected")
	h.wantLog("connecting to ws://127.0.0.1:7000", "connected to ws://127.0.0.1:7000")
	for _, e := range h.m.log.entries {
		if strings.Contains(e.text, "offline") {
			t.Errorf("log says %q", e.text)
		}
	}
}

func TestErrorEventIsShown(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.ErrorEvent{Code: 5001, Message: "ICE failed: check the network"})
	h.wantState(stateInCall)
	h.wantScreen("✗ error 5001: ICE failed: check the network")
}

func TestKickedOffline(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.KickedOffline{})
	h.wantState(stateKicked)
	if o := h.lastRecent().outcome; o != outcomeLost {
		t.Fatalf("the lost call is recorded as %v", o)
	}
	h.wantScreen("Signed in elsewhere", "start softphone again")
	// Only help and quit act now; call events from before are stale.
	h.press("c", "a", "h", "m")
	h.event(engine.CallReceived{CallerID: "bob"})
	h.wantState(stateKicked)
	h.wantActions("Call bob voice")
	if !has[tea.QuitMsg](h.press("q")) {
		t.Fatal("q did not quit without asking")
	}
	if !errors.Is(h.m.exitErr, ErrKickedOffline) {
		t.Fatalf("exit error = %v", h.m.exitErr)
	}
}

func TestTicketExpiredWhenIdle(t *testing.T) {
	h := newHarness(t)
	h.event(engine.UserSigExpired{})
	h.wantState(stateSigExpired)
	h.wantScreen("Login ticket expired", "new ticket", "usersig --user alice")
	if !errors.Is(h.m.exitErr, ErrUserSigExpired) {
		t.Fatalf("exit error = %v", h.m.exitErr)
	}
}

func TestTicketExpiredDuringCallWaitsForTheCallToEnd(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.event(engine.UserSigExpired{})
	h.wantState(stateInCall)
	h.wantScreen("login ticket expired")
	h.press("h")
	h.wantState(stateSigExpired)
}

func TestEngineStopped(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	h.sendAll(engineStoppedMsg{})
	h.wantState(stateStopped)
	h.wantScreen("The phone engine stopped", "softphone.log")
	if !errors.Is(h.m.exitErr, ErrEngineStopped) {
		t.Fatalf("exit error = %v", h.m.exitErr)
	}
	// After kicked, the stream closing does not hide the kicked screen.
	h2 := newHarness(t)
	h2.event(engine.KickedOffline{})
	h2.sendAll(engineStoppedMsg{})
	h2.wantState(stateKicked)
}

func TestLateResultsForAnEndedCallAreIgnored(t *testing.T) {
	h := newHarness(t)
	h.event(engine.CallReceived{CallerID: "bob"})
	_, cmd := h.m.Update(keyMsg("r")) // reject in flight
	h.event(engine.CallCancelled{CallerID: "bob"})
	h.event(engine.CallReceived{CallerID: "carol"}) // a new call rings
	h.sendAll(runCmd(cmd)[0])                       // the old reject's answer arrives
	h.wantState(stateIncoming)
	if h.m.call.caller != "carol" {
		t.Fatal("the old reject ended the new call")
	}
}

func TestUpdateNeverRunsEngineActions(t *testing.T) {
	// Actions are commands: Update returns before the engine is called,
	// so a slow engine cannot freeze the keys or the meters.
	h := newHarness(t)
	h.press("c")
	h.typeText("bob")
	_, cmd := h.m.Update(keyMsg("enter"))
	if cmd == nil {
		t.Fatal("no command for the call")
	}
	h.wantActions()
	h.wantState(stateOutgoing)
	runCmd(cmd)
	h.wantActions("Call bob voice")
}

func TestOutsideTextCannotReachTheTerminal(t *testing.T) {
	h := newHarness(t)
	evil := "bob\x1b]0;pwned\a\x1b[2J\u202e\x9b31m"
	h.event(
		engine.CallReceived{CallerID: evil, UserData: "hi\x1b[31m\nthere\x00", GroupID: "g\x1b[H"},
		engine.ErrorEvent{Code: 1, Message: "bad\x1b[1;1H"},
		engine.AudioDeviceChanged{Mic: "m\x07", Speaker: "s\x1b", Warning: "w\x1b[5m"},
	)
	// The model's own styles are ANSI SGR; anything else is injected.
	frame := h.m.render()
	for _, bad := range []string{"\x1b]", "\a", "\x1b[2J", "\x1b[H", "\x1b[1;1H", "\u202e", "\x9b", "\x00", "\x07"} {
		if strings.Contains(frame, bad) {
			t.Errorf("frame contains %q from outside text", bad)
		}
	}
	h.wantScreen("there”")
}

func TestResizeSwitchesLayoutAndNeverWraps(t *testing.T) {
	h := newHarness(t)
	inCall1to1(h)
	for _, sz := range []struct{ w, h int }{{80, 24}, {59, 20}, {60, 20}, {120, 40}, {30, 10}, {1, 1}, {200, 5}} {
		h.sendAll(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		checkFits(t, h.screen(), sz.w, sz.h)
	}
	h.sendAll(tea.WindowSizeMsg{Width: 59, Height: 24})
	if strings.Contains(h.screen(), "softphone  alice") {
		t.Error("59 columns still use the wide header")
	}
	h.wantScreen("» you")
	h.sendAll(tea.WindowSizeMsg{Width: 60, Height: 24})
	h.wantScreen("softphone  alice", "» alice (you)")
}

func TestEnterMeantForThePromptDoesNotAcceptACall(t *testing.T) {
	h := newHarness(t)
	h.press("c")
	h.typeText("bob")
	h.event(engine.CallReceived{CallerID: "carol"}) // arrives just before enter
	h.press("enter")
	h.wantActions()
	h.wantState(stateIncoming)
	h.press("a") // a deliberate a still accepts at once
	h.wantActions("Accept")

	h = newHarness(t)
	h.press("c")
	h.typeText("bob")
	h.event(engine.CallReceived{CallerID: "carol"})
	h.clock.Advance(2 * time.Second) // once the user has seen the call, enter accepts
	h.press("enter")
	h.wantActions("Accept")
}

// TestHintKeepsItsLinesAndDropsControls: the hint's line breaks stay (the
// demo puts the server on a line of its own); escape sequences do not reach
// the screen.
func TestHintKeepsItsLinesAndDropsControls(t *testing.T) {
	m := newModel(context.Background(), newFakePhone(), Options{Hint: "first line\x1b[2J\nsecond\tline"})
	if m.hint != "first line[2J\nsecond line" {
		t.Fatalf("hint = %q", m.hint)
	}
	h := newHarness(t)
	h.m.hint = m.hint
	h.wantScreen(" first line[2J\n", " second line\n")
}

// TestWrapNeverOvershoots: wrapped prose fits its width and keeps every
// word, also with hyphens (flags, file paths) and words longer than a line.
func TestWrapNeverOvershoots(t *testing.T) {
	texts := []string{
		"Other softphones: --server ws://127.0.0.1:7000/ws --secret-key-file /tmp/softphone-demo-123/secret.key",
		"mint one with `softphone usersig --user alice`, or start with --secret-key-file to mint it automatically.",
		"/home/someone/.local/state/softphone/a-very-long-directory-name/softphone.log",
		DefaultStyles().Dim.Render("message: ") + "“hello there, this is a note”",
		"",
	}
	for _, s := range texts {
		for _, w := range []int{1, 10, 37, 49, 79} {
			lines := wrap(s, w)
			for _, l := range lines {
				if got := ansi.StringWidth(l); got > w {
					t.Errorf("wrap(%q, %d): line %q is %d wide", s, w, l, got)
				}
			}
			joined := strings.Join(strings.Fields(ansi.Strip(strings.Join(lines, " "))), "")
			if want := strings.Join(strings.Fields(ansi.Strip(s)), ""); joined != want {
				t.Errorf("wrap(%q, %d) lost text: %q", s, w, lines)
			}
		}
	}
}
