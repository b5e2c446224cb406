package engine

import (
	"testing"
	"time"
)

// A 5-user group call: join, reject, no-response, leave and rejoin, with
// audio between everyone joined.
func TestGroupCall(t *testing.T) {
	leakCheck(t)
	s := newManualServer(t, nil)
	alice, bob, carol, dave, erin := s.engine("alice", nil), s.engine("bob", nil), s.engine("carol", nil), s.engine("dave", nil), s.engine("erin", nil)

	must(t, "call", alice.Call(ctxT(t), []string{"bob", "carol", "dave", "erin"}, CallParams{GroupID: "team", Timeout: 30 * time.Second}))
	var callID string
	for _, te := range []*testEngine{bob, carol, dave, erin} {
		rec := expect(te, func(CallReceived) bool { return true })
		if rec.CallerID != "alice" || rec.GroupID != "team" || len(rec.CalleeIDList) != 4 {
			t.Fatalf("%s: %+v", te.UserID(), rec)
		}
		callID = rec.CallID
	}

	must(t, "bob accepts", bob.Accept(ctxT(t)))
	expect(alice, func(CallBegin) bool { return true })
	expect(bob, func(CallBegin) bool { return true })

	must(t, "carol rejects", carol.Reject(ctxT(t)))
	for _, te := range []*testEngine{alice, bob, dave, erin} {
		te.waitHas("onUserReject(carol)")
	}
	settle(carol, "onCallReceived(alice)", "onCallCancelled(carol)")

	must(t, "dave accepts", dave.Accept(ctxT(t)))
	for _, te := range []*testEngine{alice, bob} {
		te.waitHas("onUserJoin(dave)")
	}
	dave.waitHas("onUserJoin(alice)")
	dave.waitHas("onUserJoin(bob)")

	s.advance(30 * time.Second) // erin never answers
	for _, te := range []*testEngine{alice, bob, dave} {
		te.waitHas("onUserNoResponse(erin)")
	}
	settle(erin, "onCallReceived(alice)", "onUserReject(carol)", "onCallCancelled(erin)")
	if alice.has("onCallCancelled(alice)") {
		t.Fatal("the call must stay up for the others")
	}

	// Everyone joined hears everyone else.
	for _, te := range []*testEngine{alice, bob, dave} {
		for _, other := range []string{"alice", "bob", "dave"} {
			if other != te.UserID() {
				volumeOf(te, other, 5)
			}
		}
	}

	must(t, "dave hangs up", dave.Hangup(ctxT(t)))
	dave.waitHas("onCallEnd(called)")
	alice.waitHas("onUserLeave(dave)")
	bob.waitHas("onUserLeave(dave)")

	// dave and carol come back into the live call.
	must(t, "dave rejoins", dave.Join(ctxT(t), callID))
	must(t, "carol joins", carol.Join(ctxT(t), callID))
	for _, te := range []*testEngine{alice, bob} {
		waitCount(te, "onUserJoin(dave)", 2)
		te.waitHas("onUserJoin(carol)")
	}
	waitCount(dave, "onCallBegin(called)", 2)
	carol.waitHas("onCallBegin(called)")
	volumeOf(carol, "alice", 5)
	volumeOf(carol, "dave", 5)
	volumeOf(alice, "carol", 5)

	// The caller leaving does not end a group call.
	must(t, "alice hangs up", alice.Hangup(ctxT(t)))
	for _, te := range []*testEngine{bob, carol, dave} {
		te.waitHas("onUserLeave(alice)")
	}
	volumeOf(bob, "carol", 5)
	must(t, "bob hangs up", bob.Hangup(ctxT(t)))
	must(t, "carol hangs up", carol.Hangup(ctxT(t)))
	dave.waitHas("onUserLeave(carol)")
	waitCount(dave, "onCallEnd(called)", 2) // the last one in
	for _, te := range []*testEngine{alice, bob, carol, dave, erin} {
		begins := te.count("onCallBegin(caller)") + te.count("onCallBegin(called)")
		ends := te.count("onCallEnd(caller)") + te.count("onCallEnd(called)")
		if begins != ends {
			t.Errorf("%s: %d onCallBegin, %d onCallEnd\n%s", te.UserID(), begins, ends, te.dump())
		}
	}
}

// waitCount waits until want occurs n times among te's call-state events.
func waitCount(te *testEngine, want string, n int) {
	te.t.Helper()
	deadline := time.Now().Add(wait)
	for te.count(want) < n {
		if time.Now().After(deadline) {
			te.t.Fatalf("%s: %s %d times, want %d\n%s", te.UserID(), want, te.count(want), n, te.dump())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
