package engine

import (
	"errors"
	"slices"
	"testing"
	"time"

	"softphone/signaling"
)

// The reference's onCallCancelled scenarios and their companions, one test
// each, checking the exact call-state events each side raises.

// callEvents returns te's call-state events after login.
func callEvents(te *testEngine) []string {
	var out []string
	for _, s := range te.callStateEvents() {
		switch s {
		case "onAudioDeviceChanged", "onConnectionChanged(offline)", "onConnectionChanged(connecting)", "onConnectionChanged(connected)":
			continue
		}
		out = append(out, s)
	}
	return out
}

// settle waits until te's call-state events are want, exactly.
func settle(te *testEngine, want ...string) {
	te.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := callEvents(te)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			// Give late events a moment to show, for a useful message.
			te.t.Fatalf("%s: events\n got %q\nwant %q", te.UserID(), got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCallerCancels(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	must(t, "hangup", alice.Hangup(ctxT(t)))
	settle(alice, "onCallCancelled(alice)")
	settle(bob, "onCallReceived(alice)", "onCallCancelled(alice)")
}

func TestCalleeTimesOut(t *testing.T) {
	leakCheck(t)
	s := newManualServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{Timeout: 20 * time.Second}))
	expect(bob, func(CallReceived) bool { return true })
	s.advance(20 * time.Second)
	settle(alice, "onUserNoResponse(bob)", "onCallCancelled(alice)")
	settle(bob, "onCallReceived(alice)", "onCallCancelled(bob)")
	if nr := expect(alice, func(UserNoResponse) bool { return true }); nr.Reason != "timeout" {
		t.Fatalf("reason %q", nr.Reason)
	}
}

func TestCalleeRejects(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	must(t, "reject", bob.Reject(ctxT(t)))
	settle(alice, "onUserReject(bob)", "onCallCancelled(alice)")
	settle(bob, "onCallReceived(alice)", "onCallCancelled(bob)")
}

func TestCalleeBusy(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob, carol := s.engine("alice", nil), s.engine("bob", nil), s.engine("carol", nil)
	must(t, "carol calls bob", carol.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	must(t, "alice calls bob", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	settle(alice, "onUserLineBusy(bob)", "onCallCancelled(alice)")
	settle(bob, "onCallReceived(carol)") // bob hears nothing of alice
}

func TestCalleeOffline(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice := s.engine("alice", nil)
	must(t, "call", alice.Call(ctxT(t), []string{"zed"}, CallParams{}))
	settle(alice, "onUserNoResponse(zed)", "onCallCancelled(alice)")
	if nr := expect(alice, func(UserNoResponse) bool { return true }); nr.Reason != "offline" {
		t.Fatalf("reason %q", nr.Reason)
	}
}

// Unexpected interruption: the ringing callee's session ends (here: the same
// user logs in elsewhere).
func TestRingingCalleeInterrupted(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	bob2 := s.engine("bob", nil)
	settle(bob, "onCallReceived(alice)", "onCallCancelled(bob)", "onKickedOffline")
	settle(alice, "onUserNoResponse(bob)", "onCallCancelled(alice)")
	settle(bob2)
	// The kicked engine says so on its actions.
	if err := bob.Call(ctxT(t), []string{"alice"}, CallParams{}); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("call after kick: %v", err)
	}
}

func TestKickedOfflineInCall(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	connect(t, alice, bob)
	s.engine("bob", nil)
	settle(bob, "onCallReceived(alice)", "onCallBegin(called)", "onUserJoin(alice)", "onUserAudioAvailable(alice,true)", "onCallEnd(called)", "onKickedOffline")
	alice.waitHas("onUserLeave(bob)")
	alice.waitHas("onCallEnd(caller)")
}

func TestTicketExpiresOnline(t *testing.T) {
	leakCheck(t)
	s := newManualServer(t, nil)
	alice := s.engine("alice", nil)
	bob := s.engine("bob", func(c *Config) { c.UserSig = s.ticket("bob", time.Minute) })
	connect(t, alice, bob)
	s.advance(61 * time.Second)
	bob.waitHas("onCallEnd(called)")
	bob.waitHas("onUserSigExpired")
	alice.waitHas("onUserLeave(bob)")
	alice.waitHas("onCallEnd(caller)")
}

func TestMediaTypeSwitchAndMute(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	connect(t, alice, bob)
	must(t, "switch", bob.SwitchMediaType(ctxT(t), MediaVideo))
	alice.expectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo})
	bob.expectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo})

	must(t, "mute", alice.SetMicMuted(true))
	bob.expectEvent(UserAudioAvailable{UserID: "alice", IsAudioAvailable: false})
	// Muted means silence: bob's meter for alice drops to 0.
	expect(bob, func(v UserVoiceVolumeChanged) bool {
		_, ok := v.VolumeMap["alice"]
		return ok && v.VolumeMap["alice"] == 0
	})
	expect(alice, func(v UserVoiceVolumeChanged) bool { return v.VolumeMap["alice"] == 0 })
	must(t, "unmute", alice.SetMicMuted(false))
	bob.expectEvent(UserAudioAvailable{UserID: "alice", IsAudioAvailable: true})
	volumeOf(bob, "alice", 5)

	must(t, "switch back", alice.SwitchMediaType(ctxT(t), MediaVoice))
	bob.expectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVideo, NewCallMediaType: MediaVoice})
	must(t, "hangup", bob.Hangup(ctxT(t)))
	alice.waitHas("onCallEnd(caller)")
}

func TestServerShutdownRaisesError(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", nil)
	connect(t, alice, bob)
	must(t, "shutdown", s.srv.Shutdown(ctxT(t)))
	for _, te := range []*testEngine{alice, bob} {
		ev := expect(te, func(ErrorEvent) bool { return true })
		if ev.Code != int(signaling.CodeShuttingDown) || ev.Message == "" {
			t.Fatalf("%s: onError %+v", te.UserID(), ev)
		}
		te.waitHas("onCallEnd(" + map[string]string{"alice": "caller", "bob": "called"}[te.UserID()] + ")")
		te.waitHas("onConnectionChanged(reconnecting)")
	}
}

// connect makes a 1:1 call from a to b and waits until audio flows.
func connect(t testing.TB, a, b *testEngine) {
	t.Helper()
	must(t, "call", a.Call(ctxT(t), []string{b.UserID()}, CallParams{}))
	expect(b, func(CallReceived) bool { return true })
	must(t, "accept", b.Accept(ctxT(t)))
	expect(a, func(CallBegin) bool { return true })
	expect(b, func(CallBegin) bool { return true })
	a.waitHas("onUserAudioAvailable(" + b.UserID() + ",true)")
	b.waitHas("onUserAudioAvailable(" + a.UserID() + ",true)")
}
