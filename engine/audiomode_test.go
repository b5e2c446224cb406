package engine_test

import (
	"testing"
	"time"

	"softphone/audio"
	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
	"softphone/signaling"
)

// pipeMode returns te's pipeline mode, counters and local level.
func pipeMode(te *calltest.Engine) (audio.Mode, audio.PipelineStats, int) {
	return PipeState(te.Engine)
}

// wantMode fails unless te's pipeline runs want.
func wantMode(t *testing.T, te *calltest.Engine, want audio.Mode, when string) {
	t.Helper()
	if m, _, _ := pipeMode(te); m != want {
		t.Fatalf("%s %s: audio mode %v, want %v", te.UserID(), when, m, want)
	}
}

// waitQuiet waits until te's pipeline stops waking up, and fails if it
// never does: an idle client must cost no wakeups at all.
func waitQuiet(t *testing.T, te *calltest.Engine) {
	t.Helper()
	deadline := time.Now().Add(calltest.Wait)
	_, st, _ := pipeMode(te)
	for {
		time.Sleep(300 * time.Millisecond)
		_, now, level := pipeMode(te)
		if now.Wakeups == st.Wakeups && now.FramesSent == st.FramesSent && now.FramesPlayed == st.FramesPlayed {
			if level != 0 {
				t.Errorf("%s: local level %d while idle", te.UserID(), level)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the idle pipeline keeps waking up: %+v then %+v", te.UserID(), st, now)
		}
		st = now
	}
}

// TestAudioModeFollowsTheCall: the pipeline runs nothing between calls,
// the speaker while a call rings (with the caller's microphone warming up),
// everything in the call, and nothing again once it ends or is rejected.
func TestAudioModeFollowsTheCall(t *testing.T) {
	testenv.NoLeaks(t)
	// alice calls again right after bob's reject.
	s := calltest.NewServer(t, func(c *signaling.Config) { c.Invites.AfterReject = -1 })
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", nil)
	for _, te := range []*calltest.Engine{alice, bob} {
		wantMode(t, te, audio.ModeIdle, "after login")
		waitQuiet(t, te)
		if _, st, _ := pipeMode(te); st.FramesSent != 0 {
			t.Errorf("%s encoded %d frames before any call", te.UserID(), st.FramesSent)
		}
	}

	// Rejected: ringing, then idle again.
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	wantMode(t, alice, audio.ModeDialing, "calling")
	wantMode(t, bob, audio.ModeRinging, "ringing")
	calltest.Must(t, "reject", bob.Reject(calltest.Ctx(t)))
	calltest.Expect(alice, func(CallCancelled) bool { return true })
	wantMode(t, alice, audio.ModeIdle, "after the reject")
	wantMode(t, bob, audio.ModeIdle, "after rejecting")

	// Accepted: a call with audio both ways, then idle after the hangup.
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	calltest.Must(t, "accept", bob.Accept(calltest.Ctx(t)))
	for _, te := range []*calltest.Engine{alice, bob} {
		calltest.Expect(te, func(CallBegin) bool { return true })
		wantMode(t, te, audio.ModeCall, "in the call")
	}
	alice.VolumeOf("bob", 5)
	bob.VolumeOf("alice", 5)
	calltest.Must(t, "hangup", alice.Hangup(calltest.Ctx(t)))
	for _, te := range []*calltest.Engine{alice, bob} {
		calltest.Expect(te, func(CallEnd) bool { return true })
		wantMode(t, te, audio.ModeIdle, "after the hangup")
		waitQuiet(t, te)
	}
}
