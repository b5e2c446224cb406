package engine

import (
	"testing"
	"time"

	"softphone/audio"
)

// pipeMode returns te's pipeline mode and stats, read under the engine's
// lock so a state change in progress is seen whole.
func pipeMode(te *testEngine) (audio.Mode, audio.PipelineStats, int) {
	te.Engine.mu.Lock()
	defer te.Engine.mu.Unlock()
	return te.pipe.Mode(), te.pipe.Stats(), te.pipe.LocalLevel()
}

// wantMode fails unless te's pipeline runs want.
func wantMode(t *testing.T, te *testEngine, want audio.Mode, when string) {
	t.Helper()
	if m, _, _ := pipeMode(te); m != want {
		t.Fatalf("%s %s: audio mode %v, want %v", te.UserID(), when, m, want)
	}
}

// waitQuiet waits until te's pipeline stops waking up, and fails if it
// never does: an idle client must cost no wakeups at all.
func waitQuiet(t *testing.T, te *testEngine) {
	t.Helper()
	deadline := time.Now().Add(wait)
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
	leakCheck(t)
	s := newTestServer(t, nil)
	alice := s.engine("alice", nil)
	bob := s.engine("bob", nil)
	for _, te := range []*testEngine{alice, bob} {
		wantMode(t, te, audio.ModeIdle, "after login")
		waitQuiet(t, te)
		if _, st, _ := pipeMode(te); st.FramesSent != 0 {
			t.Errorf("%s encoded %d frames before any call", te.UserID(), st.FramesSent)
		}
	}

	// Rejected: ringing, then idle again.
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	wantMode(t, alice, audio.ModeDialing, "calling")
	wantMode(t, bob, audio.ModeRinging, "ringing")
	must(t, "reject", bob.Reject(ctxT(t)))
	expect(alice, func(CallCancelled) bool { return true })
	wantMode(t, alice, audio.ModeIdle, "after the reject")
	wantMode(t, bob, audio.ModeIdle, "after rejecting")

	// Accepted: a call with audio both ways, then idle after the hangup.
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	must(t, "accept", bob.Accept(ctxT(t)))
	for _, te := range []*testEngine{alice, bob} {
		expect(te, func(CallBegin) bool { return true })
		wantMode(t, te, audio.ModeCall, "in the call")
	}
	volumeOf(alice, "bob", 5)
	volumeOf(bob, "alice", 5)
	must(t, "hangup", alice.Hangup(ctxT(t)))
	for _, te := range []*testEngine{alice, bob} {
		expect(te, func(CallEnd) bool { return true })
		wantMode(t, te, audio.ModeIdle, "after the hangup")
		waitQuiet(t, te)
	}
}
