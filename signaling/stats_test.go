package signaling

import (
	"testing"
	"time"
)

// TestStatsCounts checks the cumulative counts a load generator compares its
// own tally with: each call outcome moves exactly the counters it should.
func TestStatsCounts(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	want := Stats{Connections: 2, Sessions: 2, Accepted: 2, Logins: 2}
	check := func(step string) {
		t.Helper()
		if got := h.stats(); got != want {
			t.Fatalf("after %s: stats %+v, want %+v", step, got, want)
		}
	}
	check("two logins")

	// Connected, then hung up: started, connected, ended.
	id := h.call(a, b)
	want.Calls, want.CallsStarted = 1, 1
	check("invite")
	b.ok(Frame{Type: TypeAccept, CallID: id})
	want.CallsConnected = 1
	check("accept")
	a.ok(Frame{Type: TypeHangup, CallID: id})
	want.Calls, want.CallsEnded = 0, 1
	check("hangup")
	drain(a, TypeUserJoined, TypeCallBegan, TypeCallEnded)
	drain(b, TypeCallBegan, TypeUserLeft, TypeCallEnded)

	// Rejected and timed out: started and ended, never connected.
	id = h.call(a, b)
	b.ok(Frame{Type: TypeReject, CallID: id})
	want.CallsStarted, want.CallsEnded = 2, 2
	check("reject")
	drain(a, TypeUserRejected, TypeCallCancelled)
	drain(b, TypeCallCancelled)
	h.clock.Advance(30 * time.Second) // a reject holds off the next ring that long
	h.call(a, b)
	h.clock.Advance(30 * time.Second)
	want.CallsStarted, want.CallsEnded = 3, 3
	check("timeout")
	drain(a, TypeUserNoResponse, TypeCallCancelled)
	drain(b, TypeCallCancelled)

	// A refused invitation (calling oneself) creates no call.
	a.fail(Frame{Type: TypeInvite, CalleeIDs: []string{"alice"}}, CodeInvalidArgument)
	check("refused invite")

	// A second login of the same user counts; the kicked session goes, and
	// its connection closes soon after (asynchronously).
	h.login("bob")
	waitFor(t, "the kicked connection to close", func() bool { s := h.stats(); return s.Connections == 2 && s.Accepted == 2 })
	want.Connections, want.Logins = 2, 3
	check("second login")

	// A call still up at shutdown ends then.
	c := h.login("carol")
	h.call(c, a)
	h.shutdown()
	got := h.stats()
	if got.CallsStarted != 4 || got.CallsEnded != 4 || got.Calls != 0 {
		t.Fatalf("after shutdown: %+v", got)
	}
}

// drain consumes the pushes c must have got, in order.
func drain(c *tclient, types ...string) {
	c.t.Helper()
	for _, typ := range types {
		c.expect(typ)
	}
	c.quiet()
}
