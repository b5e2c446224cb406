package signaling

import (
	"testing"
	"time"

	"softphone/internal/testenv"
)

// A node of a cluster that dies without a word, in process: its NATS
// connection closes first (the others stop hearing its heartbeat and its
// subjects lose their responders), then its listener and connections are
// cut. Its timers stop, as a dead process's would: the shared manual clock
// must not fire them. Nothing is said to anyone: no shutdown push, no
// goodbye, no presence record dropped. (The kill -9 of a real
// `softphone serve` process, embedded NATS server and all, is in package
// main: TestClusterSurvivesNodeKill.)
func (h *harness) crash() {
	h.t.Helper()
	s := h.srv
	s.mu.Lock()
	s.closing = true
	for _, c := range s.calls {
		for _, m := range c.members {
			stopTimer(&m.ringTimer)
		}
	}
	for _, sess := range s.sessions {
		stopTimer(&sess.graceTimer)
		stopTimer(&sess.expiryTimer)
		stopTimer(&sess.iceTimer)
	}
	stopTimer(&s.sweeper)
	https := s.https
	s.mu.Unlock()
	s.cl.close()
	for _, hs := range https {
		hs.Close()
	}
	s.mu.Lock()
	var conns []*conn
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		h.t.Fatal("the crashed node's goroutines did not end")
	}
}

// settled waits until the live nodes count n nodes and none is taking over.
func (h *harness) settled(n int) {
	h.t.Helper()
	testenv.WaitFor(h.t, "the nodes to take over", wait, func() bool {
		for _, o := range h.nodes {
			if o.srv.closingNow() {
				continue
			}
			if len(o.srv.cl.liveNodes()) != n || o.srv.takingOver() {
				return false
			}
		}
		return true
	})
}

// saved waits until the node's call snapshots (written behind, within
// saveEvery) are stored.
func (h *harness) saved() {
	h.t.Helper()
	testenv.WaitFor(h.t, "the snapshots", wait, func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		return len(h.srv.dirty) == 0 && !h.srv.saving
	})
	h.srv.cl.syncCalls(h.t.Context())
}

func (s *Server) closingNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// TestClusterNodeCrash: node 0 runs a call between alice (node 0) and bob
// (node 1), and dave's invitation (node 0) to carol (node 2), when it dies.
// The others take both calls over: bob hears alice away, then back when
// she logs in to node 1 with her resume token (resumed, in the call);
// dave resumes on node 2, and carol's invitation times out at its deadline
// from the node that took the timer over, with the reference events for a
// timeout. Nobody else hears anything.
func TestClusterNodeCrash(t *testing.T) {
	urls := testenv.NATSNodes(t, 3, "crashnats", testKey)
	h := newClusterHarness(t, urls, nil)
	n0, n1, n2 := h.nodes[0], h.nodes[1], h.nodes[2]
	a, b, c, d := n0.login("alice"), n1.login("bob"), n2.login("carol"), n0.login("dave")
	id := h.call(a, b)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	drain(a, TypeUserJoined, TypeCallBegan)
	drain(b, TypeCallBegan)
	ring := d.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"carol"}, Timeout: 20}).Call.CallID
	if in := c.expect(TypeIncoming); in.Call.CallID != ring {
		t.Fatalf("carol got %+v", in)
	}
	h.clock.Advance(5 * time.Second)
	// The snapshots are written behind (saveEvery): let them land.
	n0.saved()

	n0.crash()
	a.closedWith()
	d.closedWith()
	h.settled(2)
	if f := b.expect(TypeUserAway); f.UserID != "alice" || f.CallID != id {
		t.Fatalf("bob got %+v, want alice away", f)
	}
	b.quiet()
	c.quiet()

	// alice comes back on node 1 within the grace period.
	a2 := n1.dial("alice")
	r := a2.ok(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: n1.ticket("alice", time.Hour), Resume: a.token})
	if !r.Resumed || r.Call == nil || r.Call.CallID != id {
		t.Fatalf("alice's login on node 1: %+v", r)
	}
	if f := b.expect(TypeUserBack); f.UserID != "alice" {
		t.Fatalf("bob got %+v, want alice back", f)
	}
	// dave comes back on node 2, still calling carol.
	d2 := n2.dial("dave")
	r = d2.ok(Frame{Type: TypeLogin, Version: 1, UserID: "dave", UserSig: n2.ticket("dave", time.Hour), Resume: d.token})
	if !r.Resumed || r.Call == nil || r.Call.CallID != ring {
		t.Fatalf("dave's login on node 2: %+v", r)
	}
	c.quiet()

	// The ring's timer runs on where the call went: 20 s after the invite.
	h.clock.Advance(14 * time.Second)
	c.quiet()
	d2.quiet()
	h.clock.Advance(time.Second)
	if nr := d2.expect(TypeUserNoResponse); nr.UserID != "carol" || nr.Reason != ReasonNoResponse {
		t.Fatalf("dave got %+v", nr)
	}
	if cc := d2.expect(TypeCallCancelled); cc.Reason != ReasonNoResponse {
		t.Fatalf("dave got %+v", cc)
	}
	if cc := c.expect(TypeCallCancelled); cc.CallID != ring || cc.Reason != ReasonNoResponse {
		t.Fatalf("carol got %+v", cc)
	}

	// The call of alice and bob goes on: a relay, then a hangup.
	a2.ok(Frame{Type: TypeRelay, CallID: id, To: "bob", Payload: []byte(`{"kind":"media","muted":true}`)})
	if rl := b.expect(TypeRelay); rl.From != "alice" {
		t.Fatalf("bob got %+v", rl)
	}
	b.ok(Frame{Type: TypeHangup, CallID: id})
	drain(b, TypeCallEnded)
	if ul := a2.expect(TypeUserLeft); ul.UserID != "bob" || ul.Reason != ReasonHangup {
		t.Fatalf("alice got %+v", ul)
	}
	drain(a2, TypeCallEnded)
}

// TestClusterTakeoverTwice: a call taken over once can be taken over
// again. Node 0 runs alice's (node 0) call with bob (node 1) and dies;
// alice logs in, with her resume token and call token, to the node that
// took the call over, which held her place: her call is restored there,
// and the token she gets back is the one the presence record vouches for,
// so that when that node dies as well her next login resumes her session
// on whichever node then runs the call. (A place held after a node went
// away has no token of its own: it once answered with an empty one, and
// the client's next login, after the second node's death, could not
// resume and left the call: a rolling restart lost it.)
func TestClusterTakeoverTwice(t *testing.T) {
	urls := testenv.NATSNodes(t, 3, "twicenats", testKey)
	h := newClusterHarness(t, urls, nil)
	n0 := h.nodes[0]
	a, b := n0.login("alice"), h.nodes[1].login("bob")
	id := h.call(a, b)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	tok := tokenOf(t, a.expect(TypeUserJoined), a.expect(TypeCallBegan))
	drain(b, TypeCallBegan)
	n0.saved()

	n0.crash()
	a.closedWith()
	var owner *harness
	testenv.WaitFor(t, "a node to take the call over", wait, func() bool {
		for _, n := range h.nodes[1:] {
			n.srv.mu.Lock()
			if n.srv.calls[id] != nil {
				owner = n
			}
			n.srv.mu.Unlock()
		}
		return owner != nil
	})
	h.settled(2)
	_, r := owner.loginToken("alice", tok, a.token)
	if r.Call == nil || r.Call.CallID != id {
		t.Fatalf("alice's login where the call went: %+v", r)
	}
	if r.Token == "" {
		t.Fatal("alice's login where the call went gave her no resume token")
	}
	rec, _, err := owner.srv.cl.presence(t.Context(), "alice")
	if err != nil || rec.TokHash != tokenHash(r.Token) || rec.Node != owner.srv.node {
		t.Fatalf("alice's presence %+v (%v); want her new token's hash on node %s", rec, err, owner.srv.node)
	}
	owner.srv.mu.Lock()
	good := owner.srv.resumeOK(owner.srv.sessions["alice"], r.Token)
	owner.srv.mu.Unlock()
	if !good {
		t.Fatal("alice's session does not take the token it gave her")
	}
}
