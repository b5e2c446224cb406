package signaling

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// TestRandomRequestsKeepTheServerSound fires random, mostly invalid,
// requests from several users at a real server and checks that every one
// gets exactly one reply, no connection is dropped, and the server's tables
// stay consistent.
func TestRandomRequestsKeepTheServerSound(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit = 1e6; c.RateBurst = 1e6; c.MaxCallSize = 3 })
	users := []string{"u0", "u1", "u2", "u3"}
	cs := make([]*tclient, len(users))
	for i, u := range users {
		cs[i] = h.login(u)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{TypeInvite, TypeAccept, TypeReject, TypeHangup, TypeJoin, TypeInviteMore,
		TypeSwitchMedia, TypeRelay, TypeSync, TypePing, "bogus", TypeLogin}
	var callIDs []string
	pick := func(xs []string) string {
		if len(xs) == 0 {
			return ""
		}
		return xs[rng.IntN(len(xs))]
	}
	for i := 0; i < 3000; i++ {
		c := cs[rng.IntN(len(cs))]
		f := Frame{Type: pick(types), CallID: pick(callIDs), MediaType: MediaType(rng.IntN(3)),
			Timeout: rng.IntN(4) - 1, To: pick(users)}
		if rng.IntN(5) == 0 {
			f.CallID = "nope"
		}
		for n := rng.IntN(3); n > 0; n-- {
			f.CalleeIDs = append(f.CalleeIDs, pick(users))
		}
		switch rng.IntN(3) {
		case 0:
			f.Payload = json.RawMessage(`{"kind":"media","muted":true}`)
		case 1:
			f.Payload = json.RawMessage(`{"n":1}`) // no kind: refused
		}
		r := c.req(f)
		if r.Type == TypeOK && r.Call != nil {
			callIDs = append(callIDs, r.Call.CallID)
		}
		if r.Type == TypeError && r.Code == CodeInternal {
			t.Fatalf("request %+v: internal error %s", f, r.Message)
		}
		if rng.IntN(50) == 0 {
			h.clock.Advance(time.Duration(rng.IntN(40)) * time.Second)
		}
		c.held = nil // pushes are not checked here
	}
	h.srv.mu.Lock()
	for id, c := range h.srv.calls {
		if c.state == callEnded || c.id != id {
			t.Errorf("ended or misfiled call %s in the table", id)
		}
		j, r := c.counts()
		if j == 0 || (j == 1 && r == 0) || j+r > 3 {
			t.Errorf("call %s should not be live: %d joined, %d ringing", id, j, r)
		}
		for _, m := range c.members {
			if m.state.Active() && h.srv.sessions[m.userID] != nil && h.srv.sessions[m.userID].call != c {
				t.Errorf("%s is %s in %s but its session points elsewhere", m.userID, m.state, id)
			}
		}
	}
	for u, s := range h.srv.sessions {
		if s.call != nil {
			if m := s.call.member(u); m == nil || !m.state.Active() || h.srv.calls[s.call.id] != s.call {
				t.Errorf("%s's current call %s is stale", u, s.call.id)
			}
		}
	}
	h.srv.mu.Unlock()
	for _, c := range cs {
		for len(c.frames) > 0 {
			<-c.frames
		}
		c.ok(Frame{Type: TypePing})
	}
}
