package signaling

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Issue 11, findings 2 and 3 (one user locking chosen users out,
// harassment) and named rooms: each attack run against a real server over
// real WebSockets. The victim's phone is in TestMemberFloodLeavesThePhone
// Working (package engine).

// noInviteLimits turns the invite limits off, to reach the limits behind
// them.
func noInviteLimits(c *Config) {
	c.Invites = InviteLimits{PerCaller: -1, PerPair: -1, PerCallee: -1, AfterReject: -1}
}

// TestMemberListCapped: inviting thousands of offline users into a call,
// seven at a time, never grows its member list past MaxCallSize +
// MemberHistory, so the incoming push a victim then gets stays small. The
// invite limits are off here: with them on, the attempt stops far sooner
// (TestInviteLimits).
func TestMemberListCapped(t *testing.T) {
	h := newHarness(t, func(c *Config) { noInviteLimits(c); c.RateLimit, c.RateBurst = 1e6, 1e6 })
	m, x, v := h.login("mallory"), h.login("accomplice"), h.login("victim")
	id := h.connect(m, x)
	go func() { // the accomplice hears of every invitation and ignores them
		for {
			select {
			case <-x.frames:
			case <-x.closed:
				return
			}
		}
	}()
	for i := 0; i < 10000; i += 7 {
		var ids []string
		for j := i; j < i+7 && j < 10000; j++ {
			ids = append(ids, fmt.Sprintf("ghost%05d", j))
		}
		r := m.ok(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: ids})
		if n := len(r.Call.Participants); n > 9+8 {
			t.Fatalf("after %d invitations the call has %d members, want at most %d", i+len(ids), n, 9+8)
		}
	}
	m.ok(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"victim"}})
	in := v.expect(TypeIncoming)
	b, _ := EncodeFrame(&in)
	if len(in.Call.Participants) > 17 || len(b) > 4<<10 {
		t.Fatalf("the victim's incoming push: %d members, %d bytes", len(in.Call.Participants), len(b))
	}
	v.ok(Frame{Type: TypeReject, CallID: id})
	v.expect(TypeCallCancelled)
	// The victim is free: someone else's call rings.
	h.call(h.login("friend"), v)
}

// until consumes c's pushes up to and including the first of type typ.
func until(c *tclient, typ string) {
	c.t.Helper()
	for {
		f, ok := Frame{}, true
		if len(c.held) > 0 {
			f, c.held = c.held[0], c.held[1:]
		} else if f, ok = c.next(); !ok {
			c.t.Fatalf("%s: no %s push arrived", c.user, typ)
		}
		if f.Type == typ {
			return
		}
	}
}

// TestPushesBoundedByConstruction fills every field of a call to its limit
// (the largest call size, the member history full of 32-byte ids, userData
// of characters that JSON escapes six-fold, the longest group and room)
// and checks that every push about it, token included, stays far below the
// client's 1 MiB read limit.
func TestPushesBoundedByConstruction(t *testing.T) {
	cfg := Config{SecretKey: testKey, MaxCallSize: maxCallSizeLimit, MemberHistory: maxCallSizeLimit}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	c := &call{id: newID(12), room: RoomID{IntRoomID: 1 << 30, StrRoomID: strings.Repeat("~", maxStrRoomID)}, named: true,
		groupID: strings.Repeat("\x01", maxGroupID), userData: strings.Repeat("\x01", maxUserData),
		timeout: 600 * time.Second, state: callActive}
	for i := 0; i < 2*maxCallSizeLimit+1; i++ {
		m := &member{userID: fmt.Sprintf("%032d", i), state: StateJoined}
		if i >= maxCallSizeLimit {
			m.state, m.reason = StateNoResponse, ReasonConnectionLost
		}
		c.members = append(c.members, m)
	}
	c.callerID = c.members[0].userID
	info := s.callInfo(c)
	for _, f := range []*Frame{
		{Type: TypeIncoming, Call: info},
		{Type: TypeCallBegan, CallID: c.id, RoomID: &c.room, Call: info, CallToken: s.callToken(c)},
		{Type: TypeOK, ID: 1 << 62, Call: info, CallToken: s.callToken(c), Token: newID(16)},
	} {
		b, err := EncodeFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 256<<10 {
			t.Errorf("%s: %d bytes, over 256 KiB", f.Type, len(b))
		}
		t.Logf("largest %s: %d bytes", f.Type, len(b))
	}
}

// TestInviteLimits: unanswered rings are limited per caller and callee,
// per callee and per caller; a reject holds the caller off for a while;
// answered calls cost nothing, however often.
func TestInviteLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Invites = InviteLimits{PerCaller: 8, PerPair: 3, PerCallee: 5, AfterReject: 30 * time.Second}
	})
	m, v := h.login("mallory"), h.login("victim")
	ring := func(caller, callee *tclient) Frame {
		t.Helper()
		return caller.req(Frame{Type: TypeInvite, CalleeIDs: []string{callee.user}})
	}
	cancel := func(caller, callee *tclient, r Frame) {
		t.Helper()
		callee.expect(TypeIncoming)
		caller.ok(Frame{Type: TypeHangup, CallID: r.Call.CallID})
		caller.expect(TypeCallCancelled)
		callee.expect(TypeCallCancelled)
	}
	// Ring, cancel, ring again: three times a minute, then refused.
	for i := 0; i < 3; i++ {
		cancel(m, v, ring(m, v))
	}
	if r := ring(m, v); r.Code != CodeInviteLimited {
		t.Fatalf("a fourth ring within a minute: %+v", r)
	}
	v.quiet()
	h.clock.Advance(20 * time.Second) // a third of a minute: one more
	cancel(m, v, ring(m, v))
	if r := ring(m, v); r.Code != CodeInviteLimited {
		t.Fatalf("after 20 s, a second ring: %+v", r)
	}

	// A reject holds off that caller (only).
	h.clock.Advance(time.Minute)
	a := h.login("alice")
	r := ring(m, v)
	v.expect(TypeIncoming)
	v.ok(Frame{Type: TypeReject, CallID: r.Call.CallID})
	v.expect(TypeCallCancelled)
	m.expect(TypeUserRejected)
	m.expect(TypeCallCancelled)
	if r := ring(m, v); r.Code != CodeInviteLimited || !strings.Contains(r.Message, "declined") {
		t.Fatalf("re-ringing at once after a reject: %+v", r)
	}
	cancel(a, v, ring(a, v))
	h.clock.Advance(31 * time.Second)
	cancel(m, v, ring(m, v))

	// Per callee, from everyone: five unanswered rings a minute.
	h.clock.Advance(time.Minute)
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		c := h.login(u)
		cancel(c, v, ring(c, v))
	}
	if r := ring(h.login("u6"), v); r.Code != CodeInviteLimited {
		t.Fatalf("a sixth caller within a minute: %+v", r)
	}

	// Per caller, all callees together: eight unanswered a minute.
	h.clock.Advance(time.Minute)
	var offline []string
	for i := 0; i < 8; i++ {
		offline = append(offline, fmt.Sprintf("off%d", i))
	}
	m.ok(Frame{Type: TypeInvite, CalleeIDs: offline[:7]})
	until(m, TypeCallCancelled)
	if r := m.req(Frame{Type: TypeInvite, CalleeIDs: offline[6:8]}); r.Code != CodeInviteLimited {
		t.Fatalf("two more offline invitees: %+v", r)
	}

	// Answered calls give their tokens back: a pair that talks calls on.
	h.clock.Advance(time.Minute)
	b, c := h.login("bob"), h.login("carol")
	for i := 0; i < 20; i++ {
		id := h.connect(b, c)
		b.ok(Frame{Type: TypeHangup, CallID: id})
		drain(b, TypeCallEnded)
		drain(c, TypeUserLeft, TypeCallEnded)
	}
}

// TestRelayLimits: a relay payload is at most MaxRelayPayload; an invitee
// who has not answered takes part in only RingingRelays relays (call setup
// needs none before the answer), however fast they come; each connection
// relays at most RelayBytesPerSecond.
func TestRelayLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RelayBytesPerSecond = 10000; c.RateLimit, c.RateBurst = 1e6, 1e6 })
	m, v := h.login("mallory"), h.login("victim")
	id := h.call(m, v)
	big := json.RawMessage(`{"kind":"x","pad":"` + strings.Repeat("x", 33<<10) + `"}`)
	m.fail(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: big}, CodeInvalidArgument)
	small := json.RawMessage(`{"kind":"x","pad":"` + strings.Repeat("x", 100) + `"}`)
	passed := 0
	for i := 0; i < 1000; i++ {
		r := m.req(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: small})
		if r.Type == TypeOK {
			passed++
		} else if r.Code != CodeRateLimited {
			t.Fatalf("relay %d: %+v", i, r)
		}
	}
	if passed != 16 {
		t.Fatalf("%d relays reached the invitee who had not answered, want 16", passed)
	}
	for i := 0; i < 16; i++ {
		v.expect(TypeRelayed)
	}
	v.quiet()
	// The victim, ringing, cannot be used to relay either.
	v.fail(Frame{Type: TypeRelay, CallID: id, To: "mallory", Payload: small}, CodeRateLimited)

	// Once answered, the call setup goes through, within the byte rate.
	v.ok(Frame{Type: TypeAccept, CallID: id})
	drain(v, TypeCallBegan)
	drain(m, TypeUserJoined, TypeCallBegan)
	mid := json.RawMessage(`{"kind":"offer","sdp":"` + strings.Repeat("v", 9000) + `"}`)
	for i := 0; i < 4; i++ { // 36 KB: the burst (4 × 10 KB) holds it
		m.ok(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: mid})
	}
	m.fail(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: mid}, CodeRateLimited)
	h.clock.Advance(time.Second)
	m.ok(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: mid})
	for i := 0; i < 5; i++ {
		v.expect(TypeRelayed)
	}
}

// TestNamedRoomsAreTheCallers: a room a caller asks for is that caller's
// name for the call. Another caller can neither take it away (squat) nor
// learn whether it is in use (probe): their call in a room of the same
// name simply works. Only the same caller with another live call there
// gets roomInUse.
func TestNamedRoomsAreTheCallers(t *testing.T) {
	h := newHarness(t, nil)
	m, a, b, c := h.login("mallory"), h.login("alice"), h.login("bob"), h.login("carol")
	standup := &RoomID{StrRoomID: "standup"}
	m.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"nobody1"}, RoomID: standup}) // squatting before alice
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"bob", "carol"}, RoomID: standup})
	id := r.Call.CallID
	if r.Call.RoomID != *standup {
		t.Fatalf("alice's room %+v", r.Call.RoomID)
	}
	b.expect(TypeIncoming)
	c.expect(TypeIncoming)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	c.ok(Frame{Type: TypeAccept, CallID: id})
	// alice leaves; bob and carol talk on in her room: her next call
	// cannot be there too.
	a.ok(Frame{Type: TypeHangup, CallID: id})
	a.fail(Frame{Type: TypeInvite, CalleeIDs: []string{"dave"}, RoomID: standup}, CodeRoomInUse)
	a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"dave"}, RoomID: &RoomID{StrRoomID: "retro"}})
}
