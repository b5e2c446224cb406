package engine_test

import (
	"testing"
	"time"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// A 5-user group call: join, reject, no-response, leave and rejoin, with
// audio between everyone joined.
func TestGroupCall(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewManualServer(t, nil)
	alice, bob, carol, dave, erin := s.Engine("alice", nil), s.Engine("bob", nil), s.Engine("carol", nil), s.Engine("dave", nil), s.Engine("erin", nil)

	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob", "carol", "dave", "erin"}, CallParams{GroupID: "team", Timeout: 30 * time.Second}))
	var callID string
	for _, te := range []*calltest.Engine{bob, carol, dave, erin} {
		rec := calltest.Expect(te, func(CallReceived) bool { return true })
		if rec.CallerID != "alice" || rec.GroupID != "team" || len(rec.CalleeIDList) != 4 {
			t.Fatalf("%s: %+v", te.UserID(), rec)
		}
		callID = rec.CallID
	}

	calltest.Must(t, "bob accepts", bob.Accept(calltest.Ctx(t)))
	calltest.Expect(alice, func(CallBegin) bool { return true })
	calltest.Expect(bob, func(CallBegin) bool { return true })

	calltest.Must(t, "carol rejects", carol.Reject(calltest.Ctx(t)))
	for _, te := range []*calltest.Engine{alice, bob, dave, erin} {
		te.WaitHas("onUserReject(carol)")
	}
	carol.Settle("onCallReceived(alice)", "onCallCancelled(carol)")

	calltest.Must(t, "dave accepts", dave.Accept(calltest.Ctx(t)))
	for _, te := range []*calltest.Engine{alice, bob} {
		te.WaitHas("onUserJoin(dave)")
	}
	dave.WaitHas("onUserJoin(alice)")
	dave.WaitHas("onUserJoin(bob)")

	s.Advance(30 * time.Second) // erin never answers
	for _, te := range []*calltest.Engine{alice, bob, dave} {
		te.WaitHas("onUserNoResponse(erin)")
	}
	erin.Settle("onCallReceived(alice)", "onUserReject(carol)", "onCallCancelled(erin)")
	if alice.Has("onCallCancelled(alice)") {
		t.Fatal("the call must stay up for the others")
	}

	// Everyone joined hears everyone else.
	for _, te := range []*calltest.Engine{alice, bob, dave} {
		for _, other := range []string{"alice", "bob", "dave"} {
			if other != te.UserID() {
				te.VolumeOf(other, 5)
			}
		}
	}

	calltest.Must(t, "dave hangs up", dave.Hangup(calltest.Ctx(t)))
	dave.WaitHas("onCallEnd(called)")
	alice.WaitHas("onUserLeave(dave)")
	bob.WaitHas("onUserLeave(dave)")

	// dave and carol come back into the live call.
	calltest.Must(t, "dave rejoins", dave.Join(calltest.Ctx(t), callID))
	calltest.Must(t, "carol joins", carol.Join(calltest.Ctx(t), callID))
	for _, te := range []*calltest.Engine{alice, bob} {
		te.WaitCount("onUserJoin(dave)", 2)
		te.WaitHas("onUserJoin(carol)")
	}
	dave.WaitCount("onCallBegin(called)", 2)
	carol.WaitHas("onCallBegin(called)")
	carol.VolumeOf("alice", 5)
	carol.VolumeOf("dave", 5)
	alice.VolumeOf("carol", 5)

	// The caller leaving does not end a group call.
	calltest.Must(t, "alice hangs up", alice.Hangup(calltest.Ctx(t)))
	for _, te := range []*calltest.Engine{bob, carol, dave} {
		te.WaitHas("onUserLeave(alice)")
	}
	bob.VolumeOf("carol", 5)
	calltest.Must(t, "bob hangs up", bob.Hangup(calltest.Ctx(t)))
	calltest.Must(t, "carol hangs up", carol.Hangup(calltest.Ctx(t)))
	dave.WaitHas("onUserLeave(carol)")
	dave.WaitCount("onCallEnd(called)", 2) // the last one in
	// Each hang-up's onCallEnd is out before Hangup returns; the recorder
	// reads the stream on its own.
	alice.WaitHas("onCallEnd(caller)")
	bob.WaitHas("onCallEnd(called)")
	carol.WaitHas("onCallEnd(called)")
	for _, te := range []*calltest.Engine{alice, bob, carol, dave, erin} {
		begins := te.Count("onCallBegin(caller)") + te.Count("onCallBegin(called)")
		ends := te.Count("onCallEnd(caller)") + te.Count("onCallEnd(called)")
		if begins != ends {
			t.Errorf("%s: %d onCallBegin, %d onCallEnd\n%s", te.UserID(), begins, ends, te.Dump())
		}
	}
}

// Hanging up and joining back at once, again and again: the join's reply
// and the hang-up's callEnded race to the engine, and the callEnded of the
// participation just left must not end the new one.
func TestRejoinRightAfterHangup(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewManualServer(t, nil)
	alice, bob, carol := s.Engine("alice", nil), s.Engine("bob", nil), s.Engine("carol", nil)
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob", "carol"}, CallParams{}))
	var callID string
	for _, te := range []*calltest.Engine{bob, carol} {
		callID = calltest.Expect(te, func(CallReceived) bool { return true }).CallID
		calltest.Must(t, te.UserID()+" accepts", te.Accept(calltest.Ctx(t)))
		te.WaitHas("onCallBegin(called)")
	}
	const rounds = 4
	for i := 1; i <= rounds; i++ {
		calltest.Must(t, "carol hangs up", carol.Hangup(calltest.Ctx(t)))
		calltest.Must(t, "carol joins back", carol.Join(calltest.Ctx(t), callID))
		carol.WaitCount("onCallBegin(called)", i+1)
		alice.WaitCount("onUserJoin(carol)", i+1)
	}
	carol.VolumeOf("alice", 5)
	if n := carol.Count("onCallEnd(called)"); n != rounds || carol.Has("onCallCancelled(carol)") {
		t.Fatalf("carol: %d onCallEnd, want %d, and no onCallCancelled\n%s", n, rounds, carol.Dump())
	}
}
