package engine_test

import (
	"errors"
	"testing"
	"time"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// The reference's onCallCancelled scenarios and their companions, one test
// each, checking the exact call-state events each side raises.

func TestCallerCancels(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	calltest.Must(t, "hangup", alice.Hangup(calltest.Ctx(t)))
	alice.Settle("onCallCancelled(alice)")
	bob.Settle("onCallReceived(alice)", "onCallCancelled(alice)")
}

func TestCalleeTimesOut(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewManualServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{Timeout: 20 * time.Second}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	s.Advance(20 * time.Second)
	alice.Settle("onUserNoResponse(bob)", "onCallCancelled(alice)")
	bob.Settle("onCallReceived(alice)", "onCallCancelled(bob)")
	if nr := calltest.Expect(alice, func(UserNoResponse) bool { return true }); nr.Reason != "timeout" {
		t.Fatalf("reason %q", nr.Reason)
	}
}

func TestCalleeRejects(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	calltest.Must(t, "reject", bob.Reject(calltest.Ctx(t)))
	alice.Settle("onUserReject(bob)", "onCallCancelled(alice)")
	bob.Settle("onCallReceived(alice)", "onCallCancelled(bob)")
}

func TestCalleeBusy(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob, carol := s.Engine("alice", nil), s.Engine("bob", nil), s.Engine("carol", nil)
	calltest.Must(t, "carol calls bob", carol.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	calltest.Must(t, "alice calls bob", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	alice.Settle("onUserLineBusy(bob)", "onCallCancelled(alice)")
	bob.Settle("onCallReceived(carol)") // bob hears nothing of alice
}

func TestCalleeOffline(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice := s.Engine("alice", nil)
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"zed"}, CallParams{}))
	alice.Settle("onUserNoResponse(zed)", "onCallCancelled(alice)")
	if nr := calltest.Expect(alice, func(UserNoResponse) bool { return true }); nr.Reason != "offline" {
		t.Fatalf("reason %q", nr.Reason)
	}
}

// Unexpected interruption: the ringing callee's session ends (here: the same
// user logs in elsewhere).
func TestRingingCalleeInterrupted(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	bob2 := s.Engine("bob", nil)
	bob.Settle("onCallReceived(alice)", "onCallCancelled(bob)", "onKickedOffline")
	alice.Settle("onUserNoResponse(bob)", "onCallCancelled(alice)")
	bob2.Settle()
	// The kicked engine says so on its actions.
	if err := bob.Call(calltest.Ctx(t), []string{"alice"}, CallParams{}); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("call after kick: %v", err)
	}
}

func TestKickedOfflineInCall(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Connect(t, alice, bob)
	s.Engine("bob", nil)
	bob.Settle("onCallReceived(alice)", "onCallBegin(called)", "onUserJoin(alice)", "onUserAudioAvailable(alice,true)", "onCallEnd(called)", "onKickedOffline")
	alice.WaitHas("onUserLeave(bob)")
	alice.WaitHas("onCallEnd(caller)")
}

func TestTicketExpiresOnline(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewManualServer(t, nil)
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", func(c *Config) { c.UserSig = s.Ticket("bob", time.Minute) })
	calltest.Connect(t, alice, bob)
	s.Advance(61 * time.Second)
	bob.WaitHas("onCallEnd(called)")
	bob.WaitHas("onUserSigExpired")
	alice.WaitHas("onUserLeave(bob)")
	alice.WaitHas("onCallEnd(caller)")
}

func TestMediaTypeSwitchAndMute(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Connect(t, alice, bob)
	calltest.Must(t, "switch", bob.SwitchMediaType(calltest.Ctx(t), MediaVideo))
	alice.ExpectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo})
	bob.ExpectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo})

	calltest.Must(t, "mute", alice.SetMicMuted(true))
	bob.ExpectEvent(UserAudioAvailable{UserID: "alice", IsAudioAvailable: false})
	// Muted means silence: bob's meter for alice drops to 0.
	calltest.Expect(bob, func(v UserVoiceVolumeChanged) bool {
		_, ok := v.VolumeMap["alice"]
		return ok && v.VolumeMap["alice"] == 0
	})
	calltest.Expect(alice, func(v UserVoiceVolumeChanged) bool { return v.VolumeMap["alice"] == 0 })
	calltest.Must(t, "unmute", alice.SetMicMuted(false))
	bob.ExpectEvent(UserAudioAvailable{UserID: "alice", IsAudioAvailable: true})
	bob.VolumeOf("alice", 5)

	calltest.Must(t, "switch back", alice.SwitchMediaType(calltest.Ctx(t), MediaVoice))
	bob.ExpectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVideo, NewCallMediaType: MediaVoice})
	calltest.Must(t, "hangup", bob.Hangup(calltest.Ctx(t)))
	alice.WaitHas("onCallEnd(caller)")
}
