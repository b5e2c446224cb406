package signaling

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestLogin(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("alice")
	c.fail(Frame{Type: TypeInvite, CalleeIDs: []string{"bob"}}, CodeNotLoggedIn)
	c.fail(Frame{Type: TypeLogin, Version: 2, UserID: "alice", UserSig: h.ticket("alice", time.Hour)}, CodeUnsupportedVersion)
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "al ice", UserSig: h.ticket("alice", time.Hour)}, CodeInvalidArgument)
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: "garbage"}, CodeBadTicket)
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: h.ticket("bob", time.Hour)}, CodeBadTicket)
	other, _ := Sign("another-key", testApp, "alice", time.Hour, h.clock.Now())
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: other}, CodeBadTicket)
	otherApp, _ := Sign(testKey, 42, "alice", time.Hour, h.clock.Now())
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: otherApp}, CodeBadTicket)
	old, _ := Sign(testKey, testApp, "alice", time.Hour, h.clock.Now().Add(-2*time.Hour))
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: old}, CodeTicketExpired)

	r := c.ok(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: h.ticket("alice", time.Hour)})
	if r.Version != ProtocolVersion || r.UserID != "alice" || r.Token == "" || r.Resumed || r.Call != nil ||
		r.Heartbeat != 20 || r.Grace != 10 || r.MaxCallSize != 9 || r.ServerTime != testStart.UnixMilli() ||
		r.TicketExpires != testStart.Add(time.Hour).Unix() {
		t.Fatalf("login reply %+v", r)
	}
	c.fail(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: h.ticket("alice", time.Hour)}, CodeAlreadyLoggedIn)
	c.quiet()
}

// Reference: "Caller Cancellation: the caller receives onCallCancelled
// (callerId is oneself); the callee receives it (callerId is the caller)".
func TestCallerCancels(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"bob"}, MediaType: MediaVideo, UserData: "hi", GroupID: ""})
	id := r.Call.CallID
	if r.Call.CallerID != "alice" || r.Call.RoomID.IntRoomID == 0 || r.Call.RoomID.StrRoomID == "" ||
		r.Call.Timeout != 30 || r.Call.MediaType != MediaVideo || len(r.Call.Participants) != 2 ||
		r.Call.Participants[1].State != StateRinging {
		t.Fatalf("invite reply %+v", r.Call)
	}
	in := b.expect(TypeIncoming).Call
	if in.CallID != id || in.CallerID != "alice" || strings.Join(in.CalleeIDs, ",") != "bob" ||
		in.MediaType != MediaVideo || in.UserData != "hi" || in.Timeout != 30 || in.RoomID != r.Call.RoomID {
		t.Fatalf("incoming %+v", in)
	}
	a.ok(Frame{Type: TypeHangup, CallID: id})
	cc := a.expect(TypeCallCancelled)
	if cc.Reason != ReasonCanceled || cc.CallerID != "alice" || cc.CallID != id {
		t.Fatalf("caller got %+v", cc)
	}
	cc = b.expect(TypeCallCancelled)
	if cc.Reason != ReasonCanceled || cc.CallerID != "alice" {
		t.Fatalf("callee got %+v", cc)
	}
	a.quiet()
	b.quiet()
	b.fail(Frame{Type: TypeAccept, CallID: id}, CodeNoSuchCall)
	if st := h.stats(); st.Calls != 0 {
		t.Fatalf("call still there: %+v", st)
	}
}

// Reference: "Callee Timeout: the caller receives onUserNoResponse and
// onCallCancelled; the callee receives onCallCancelled (own id)".
func TestCalleeTimesOut(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.call(a, b)
	h.clock.Advance(29 * time.Second)
	a.quiet()
	h.clock.Advance(time.Second)
	nr := a.expect(TypeUserNoResponse)
	if nr.UserID != "bob" || nr.Reason != ReasonNoResponse || nr.CallID != id {
		t.Fatalf("caller got %+v", nr)
	}
	if cc := a.expect(TypeCallCancelled); cc.Reason != ReasonNoResponse {
		t.Fatalf("caller got %+v", cc)
	}
	if cc := b.expect(TypeCallCancelled); cc.Reason != ReasonNoResponse || cc.CallerID != "alice" {
		t.Fatalf("callee got %+v", cc)
	}
	a.quiet()
	b.quiet()

	// A per-call timeout overrides the server's.
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"bob"}, Timeout: 5})
	b.expect(TypeIncoming)
	if r.Call.Timeout != 5 {
		t.Fatalf("timeout %d", r.Call.Timeout)
	}
	h.clock.Advance(5 * time.Second)
	a.expect(TypeUserNoResponse)
	a.expect(TypeCallCancelled)
	b.expect(TypeCallCancelled)
}

// Reference: "Call rejected: the caller receives onUserReject and
// onCallCancelled; the callee receives onCallCancelled (own id)".
func TestCalleeRejects(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.call(a, b)
	b.ok(Frame{Type: TypeReject, CallID: id})
	if cc := b.expect(TypeCallCancelled); cc.Reason != ReasonRejected || cc.CallerID != "alice" {
		t.Fatalf("callee got %+v", cc)
	}
	if ur := a.expect(TypeUserRejected); ur.UserID != "bob" {
		t.Fatalf("caller got %+v", ur)
	}
	if cc := a.expect(TypeCallCancelled); cc.Reason != ReasonRejected {
		t.Fatalf("caller got %+v", cc)
	}
	a.quiet()
	b.quiet()
}

// Reference: "Call busy: the caller receives onUserLineBusy and
// onCallCancelled". The busy callee hears nothing.
func TestCalleeBusy(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c, d := h.login("alice"), h.login("bob"), h.login("carol"), h.login("dave")
	h.connect(b, c) // bob is in a call

	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"bob"}})
	if lb := a.expect(TypeUserLineBusy); lb.UserID != "bob" || lb.CallID != r.Call.CallID {
		t.Fatalf("caller got %+v", lb)
	}
	if cc := a.expect(TypeCallCancelled); cc.Reason != ReasonLineBusy || cc.CallerID != "alice" {
		t.Fatalf("caller got %+v", cc)
	}
	b.quiet()
	a.quiet()

	// Ringing counts as busy too.
	e := h.login("erin")
	h.call(a, e)
	d.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"erin"}})
	d.expect(TypeUserLineBusy)
	d.expect(TypeCallCancelled)
	e.quiet()
	// And a busy user cannot place a call.
	e.fail(Frame{Type: TypeInvite, CalleeIDs: []string{"dave"}}, CodeBusy)
}

// Offline callee: no-response at once, not after the timeout.
func TestCalleeOffline(t *testing.T) {
	h := newHarness(t, nil)
	a := h.login("alice")
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"zed"}})
	if nr := a.expect(TypeUserNoResponse); nr.UserID != "zed" || nr.Reason != ReasonOffline {
		t.Fatalf("caller got %+v", nr)
	}
	if cc := a.expect(TypeCallCancelled); cc.Reason != ReasonOffline || cc.CallID != r.Call.CallID {
		t.Fatalf("caller got %+v", cc)
	}
	a.quiet()
	if h.clock.Pending() > h.sweepers()+1 { // the sweeper and alice's ticket expiry
		t.Fatalf("%d timers pending after a cancelled call", h.clock.Pending())
	}
}

// A second login of bob kicks his first session, while his call rings or
// once it is connected. Reference: "Unexpected interruption: the callee
// fails to receive the call and gets onCallCancelled (own id)" while
// ringing; onCallEnd and onUserLeave in a call. Either way the old session
// is told and closed, alice hears why, and the new bob is free.
func TestSecondLoginKicksTheFirst(t *testing.T) {
	for _, tc := range []struct {
		name      string
		connected bool
		oldGets   string // the old bob's push about the call
		aliceGets []string
	}{
		{"ringing", false, TypeCallCancelled, []string{TypeUserNoResponse, TypeCallCancelled}},
		{"in a call", true, TypeCallEnded, []string{TypeUserLeft, TypeCallEnded}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			a, b := h.login("alice"), h.login("bob")
			var id string
			if tc.connected {
				id = h.connect(a, b)
			} else {
				id = h.call(a, b)
			}
			b2 := h.login("bob")
			if f := b.expect(tc.oldGets); f.Reason != ReasonKicked || f.CallID != id {
				t.Fatalf("old bob got %+v", f)
			}
			b.expect(TypeKicked)
			if code := b.closedWith(); code != CloseKicked {
				t.Fatalf("close code %v", code)
			}
			if f := a.expect(tc.aliceGets[0]); f.UserID != "bob" || f.Reason != ReasonKicked {
				t.Fatalf("alice got %+v", f)
			}
			if f := a.expect(tc.aliceGets[1]); !tc.connected && f.Reason != ReasonNoResponse {
				t.Fatalf("alice got %+v", f)
			}
			b2.quiet()
			if r := b2.ok(Frame{Type: TypeSync}); r.Call != nil {
				t.Fatalf("new session is in a call: %+v", r.Call)
			}
			h.connect(a, b2) // the new bob is free: alice can call him
		})
	}
}

func TestConnectedCallAndHangup(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.call(a, b)
	r := b.ok(Frame{Type: TypeAccept, CallID: id})
	if !r.Call.Active || strings.Join(r.Call.Joined(), ",") != "alice,bob" {
		t.Fatalf("accept reply %+v", r.Call)
	}
	if cb := b.expect(TypeCallBegan); cb.CallRole != RoleCalled || cb.RoomID == nil || *cb.RoomID != r.Call.RoomID ||
		cb.Call == nil || strings.Join(cb.Call.Joined(), ",") != "alice,bob" {
		t.Fatalf("callee callBegan %+v", cb)
	}
	if uj := a.expect(TypeUserJoined); uj.UserID != "bob" {
		t.Fatalf("caller got %+v", uj)
	}
	if cb := a.expect(TypeCallBegan); cb.CallRole != RoleCaller {
		t.Fatalf("caller callBegan %+v", cb)
	}
	b.fail(Frame{Type: TypeAccept, CallID: id}, CodeWrongState)
	b.fail(Frame{Type: TypeReject, CallID: id}, CodeWrongState)

	a.ok(Frame{Type: TypeHangup, CallID: id})
	if ce := a.expect(TypeCallEnded); ce.Reason != ReasonHangup {
		t.Fatalf("caller got %+v", ce)
	}
	if ul := b.expect(TypeUserLeft); ul.UserID != "alice" || ul.Reason != ReasonHangup {
		t.Fatalf("callee got %+v", ul)
	}
	if ce := b.expect(TypeCallEnded); ce.Reason != ReasonAllLeft {
		t.Fatalf("callee got %+v", ce)
	}
	a.quiet()
	b.quiet()
	a.fail(Frame{Type: TypeHangup, CallID: id}, CodeNoSuchCall)
}

func TestGroupCall(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c, d := h.login("alice"), h.login("bob"), h.login("carol"), h.login("dave")
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"bob", "carol", "dave"}, GroupID: "team"})
	id := r.Call.CallID
	for _, x := range []*tclient{b, c, d} {
		in := x.expect(TypeIncoming).Call
		if in.GroupID != "team" || strings.Join(in.CalleeIDs, ",") != "bob,carol,dave" {
			t.Fatalf("incoming %+v", in)
		}
	}
	b.ok(Frame{Type: TypeAccept, CallID: id})
	b.expect(TypeCallBegan)
	a.expect(TypeUserJoined)
	a.expect(TypeCallBegan)

	// carol rejects: the call stays up; everyone still in it hears it.
	c.ok(Frame{Type: TypeReject, CallID: id})
	c.expect(TypeCallCancelled)
	for _, x := range []*tclient{a, b, d} {
		if ur := x.expect(TypeUserRejected); ur.UserID != "carol" {
			t.Fatalf("%s got %+v", x.user, ur)
		}
	}
	// dave times out: the call stays up for alice and bob.
	h.clock.Advance(30 * time.Second)
	d.expect(TypeCallCancelled)
	a.expect(TypeUserNoResponse)
	b.expect(TypeUserNoResponse)
	a.quiet()
	b.quiet()

	// carol changes her mind and joins; the others hear it.
	jr := c.ok(Frame{Type: TypeJoin, CallID: id})
	if strings.Join(jr.Call.Joined(), ",") != "alice,bob,carol" {
		t.Fatalf("join reply %+v", jr.Call)
	}
	c.expect(TypeCallBegan)
	a.expect(TypeUserJoined)
	b.expect(TypeUserJoined)

	// alice (the caller) leaves: the call goes on for bob and carol.
	a.ok(Frame{Type: TypeHangup, CallID: id})
	a.expect(TypeCallEnded)
	b.expect(TypeUserLeft)
	c.expect(TypeUserLeft)
	// alice rejoins.
	a.ok(Frame{Type: TypeJoin, CallID: id})
	a.expect(TypeCallBegan)
	b.expect(TypeUserJoined)
	c.expect(TypeUserJoined)
	// bob and carol leave: alice is last and the call ends.
	b.ok(Frame{Type: TypeHangup, CallID: id})
	b.expect(TypeCallEnded)
	a.expect(TypeUserLeft)
	c.expect(TypeUserLeft)
	c.ok(Frame{Type: TypeHangup, CallID: id})
	c.expect(TypeCallEnded)
	a.expect(TypeUserLeft)
	if ce := a.expect(TypeCallEnded); ce.Reason != ReasonAllLeft {
		t.Fatalf("alice got %+v", ce)
	}
	for _, x := range []*tclient{a, b, c, d} {
		x.quiet()
	}
	d.fail(Frame{Type: TypeJoin, CallID: id}, CodeNoSuchCall)
}

// A group call where every invitee declines is cancelled for the caller with
// the last outcome.
func TestGroupCallAllDecline(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c := h.login("alice"), h.login("bob"), h.login("carol")
	id := h.call(a, b, c)
	b.ok(Frame{Type: TypeReject, CallID: id})
	b.expect(TypeCallCancelled)
	a.expect(TypeUserRejected)
	c.expect(TypeUserRejected)
	h.clock.Advance(30 * time.Second)
	c.expect(TypeCallCancelled)
	a.expect(TypeUserNoResponse)
	if cc := a.expect(TypeCallCancelled); cc.Reason != ReasonNoResponse {
		t.Fatalf("alice got %+v", cc)
	}
}

func TestInviteMoreAndSizeCap(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCallSize = 3 })
	a, b, c, d := h.login("alice"), h.login("bob"), h.login("carol"), h.login("dave")
	a.fail(Frame{Type: TypeInvite, CalleeIDs: []string{"bob", "carol", "dave"}}, CodeCallFull)
	id := h.connect(a, b)
	// Only a joined participant may invite.
	c.fail(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"dave"}}, CodeNotInCall)
	b.fail(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"carol", "dave"}}, CodeCallFull)
	b.fail(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"alice"}}, CodeAlreadyInCall)
	r := b.ok(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"carol"}, Timeout: 7})
	if p, _ := r.Call.Participant("carol"); p.State != StateRinging {
		t.Fatalf("inviteMore reply %+v", r.Call)
	}
	if in := c.expect(TypeIncoming).Call; strings.Join(in.Joined(), ",") != "alice,bob" {
		t.Fatalf("carol's incoming %+v", in)
	}
	if ui := a.expect(TypeUserInvited); ui.UserID != "carol" || ui.By != "bob" {
		t.Fatalf("alice got %+v", ui)
	}
	b.quiet()
	// Full: dave cannot be invited, and cannot join uninvited.
	a.fail(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"dave"}}, CodeCallFull)
	d.fail(Frame{Type: TypeJoin, CallID: id}, CodeNotInvited)
	// carol's own 7 s timeout applies.
	h.clock.Advance(7 * time.Second)
	c.expect(TypeCallCancelled)
	a.expect(TypeUserNoResponse)
	b.expect(TypeUserNoResponse)
	// Now there is room for dave; carol may still join while the call is live.
	a.ok(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"dave"}})
	d.expect(TypeIncoming)
	b.expect(TypeUserInvited)
	c.fail(Frame{Type: TypeJoin, CallID: id}, CodeCallFull)
	d.ok(Frame{Type: TypeReject, CallID: id})
	c.ok(Frame{Type: TypeJoin, CallID: id})
}

func TestAuthorisation(t *testing.T) {
	h := newHarness(t, nil)
	a, b, m := h.login("alice"), h.login("bob"), h.login("mallory")
	id := h.call(a, b)
	// Nobody may answer, join or hang up a call they were not invited to.
	m.fail(Frame{Type: TypeAccept, CallID: id}, CodeNotInvited)
	m.fail(Frame{Type: TypeReject, CallID: id}, CodeNotInvited)
	m.fail(Frame{Type: TypeJoin, CallID: id}, CodeNotInvited)
	m.fail(Frame{Type: TypeHangup, CallID: id}, CodeNotInvited)
	m.fail(Frame{Type: TypeSwitchMedia, CallID: id, MediaType: MediaVideo}, CodeNotInCall)
	m.fail(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"carol"}}, CodeNotInCall)
	m.fail(Frame{Type: TypeRelay, CallID: id, To: "alice", Payload: json.RawMessage(`{"kind":"media"}`)}, CodeNotInCall)
	m.fail(Frame{Type: TypeAccept, CallID: "nope"}, CodeNoSuchCall)
	m.fail(Frame{Type: TypeAccept}, CodeInvalidArgument)
	// The caller cannot accept its own call.
	a.fail(Frame{Type: TypeAccept, CallID: id}, CodeWrongState)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	b.expect(TypeCallBegan)
	a.expect(TypeUserJoined)
	a.expect(TypeCallBegan)
	// Relay only reaches participants of the same call.
	a.fail(Frame{Type: TypeRelay, CallID: id, To: "mallory", Payload: json.RawMessage(`{"kind":"media"}`)}, CodeNotInCall)
	a.fail(Frame{Type: TypeRelay, CallID: id, To: "alice", Payload: json.RawMessage(`{"kind":"media"}`)}, CodeNotInCall)
	a.fail(Frame{Type: TypeRelay, CallID: id, To: "bob"}, CodeInvalidArgument)
	// The user id is always the ticket's: a frame claiming another is ignored.
	payload := json.RawMessage(`{"sdp":"v=0\r\n","kind":"offer"}`)
	a.ok(Frame{Type: TypeRelay, CallID: id, To: "bob", From: "mallory", UserID: "mallory", Payload: payload})
	rl := b.expect(TypeRelayed)
	if rl.From != "alice" || string(rl.Payload) != string(payload) || rl.CallID != id {
		t.Fatalf("bob got %+v", rl)
	}
	b.ok(Frame{Type: TypeRelay, CallID: id, Payload: json.RawMessage(`{"kind":"media","muted":true}`)})
	if rl := a.expect(TypeRelayed); rl.From != "bob" || string(rl.Payload) != `{"kind":"media","muted":true}` {
		t.Fatalf("alice got %+v", rl)
	}
	m.quiet()
	b.quiet()
}

func TestSwitchMedia(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.connect(a, b)
	b.ok(Frame{Type: TypeSwitchMedia, CallID: id, MediaType: MediaVideo})
	for _, x := range []*tclient{a, b} {
		mc := x.expect(TypeMediaChanged)
		if *mc.OldMediaType != MediaVoice || *mc.NewMediaType != MediaVideo || mc.By != "bob" {
			t.Fatalf("%s got %+v", x.user, mc)
		}
	}
	b.ok(Frame{Type: TypeSwitchMedia, CallID: id, MediaType: MediaVideo}) // no change, no push
	a.fail(Frame{Type: TypeSwitchMedia, CallID: id, MediaType: 7}, CodeInvalidArgument)
	a.ok(Frame{Type: TypeSwitchMedia, CallID: id, MediaType: MediaVoice})
	// The JSON must carry the voice value (0) explicitly.
	mc := b.expect(TypeMediaChanged)
	if *mc.NewMediaType != MediaVoice {
		t.Fatalf("bob got %+v", mc)
	}
	raw, _ := EncodeFrame(&mc)
	if !strings.Contains(string(raw), `"newMediaType":0`) || !strings.Contains(string(raw), `"oldMediaType":1`) {
		t.Fatalf("mediaChanged JSON %s", raw)
	}
	a.expect(TypeMediaChanged)
	if r := a.ok(Frame{Type: TypeSync}); r.Call.MediaType != MediaVoice {
		t.Fatalf("sync %+v", r.Call)
	}
}

func TestInviteValidation(t *testing.T) {
	h := newHarness(t, nil)
	a := h.login("alice")
	for _, f := range []Frame{
		{Type: TypeInvite},
		{Type: TypeInvite, CalleeIDs: []string{"alice"}},
		{Type: TypeInvite, CalleeIDs: []string{"bob", "bob"}},
		{Type: TypeInvite, CalleeIDs: []string{"b b"}},
		{Type: TypeInvite, CalleeIDs: []string{"bob"}, MediaType: 2},
		{Type: TypeInvite, CalleeIDs: []string{"bob"}, Timeout: 601},
		{Type: TypeInvite, CalleeIDs: []string{"bob"}, Timeout: -1},
		{Type: TypeInvite, CalleeIDs: []string{"bob"}, UserData: strings.Repeat("x", 5000)},
		{Type: TypeInvite, CalleeIDs: []string{"bob"}, RoomID: &RoomID{StrRoomID: "has space"}},
	} {
		a.fail(f, CodeInvalidArgument)
	}
	// A requested room is used; it is the caller's own name for the call,
	// so another caller's call may have the same one.
	b, c := h.login("bob"), h.login("carol")
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"bob"}, RoomID: &RoomID{IntRoomID: 4242}})
	if r.Call.RoomID != (RoomID{4242, "4242"}) {
		t.Fatalf("room %+v", r.Call.RoomID)
	}
	b.expect(TypeIncoming)
	r = c.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"dave"}, RoomID: &RoomID{StrRoomID: "4242"}})
	if r.Call.RoomID != (RoomID{0, "4242"}) {
		t.Fatalf("room %+v", r.Call.RoomID)
	}
}

func TestBadFramesKeepTheConnection(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.call(a, b)

	a.sendRaw([]byte(`{"type":`))
	if r, _ := a.next(); r.Type != TypeError || r.Code != CodeMalformed {
		t.Fatalf("malformed: %+v", r)
	}
	a.sendRaw([]byte(`[1,2,3]`))
	if r, _ := a.next(); r.Code != CodeMalformed {
		t.Fatalf("array: %+v", r)
	}
	a.sendRaw([]byte(`{"id":9}`))
	if r, _ := a.next(); r.Code != CodeMalformed || r.ID != 9 {
		t.Fatalf("no type: %+v", r)
	}
	a.sendRaw([]byte(`{"type":"invite","id":10,"calleeIdList":"bob"}`))
	if r, _ := a.next(); r.Code != CodeMalformed || r.ID != 10 {
		t.Fatalf("wrong field type: %+v", r)
	}
	a.fail(Frame{Type: "dance"}, CodeUnknownType)
	a.fail(Frame{Type: TypeOK}, CodeUnknownType)
	big := `{"type":"relay","id":11,"payload":"` + strings.Repeat("x", 70<<10) + `"}`
	a.sendRaw([]byte(big))
	if r, _ := a.next(); r.Code != CodeTooLarge {
		t.Fatalf("oversized: %+v", r)
	}
	ctx, cancel := testCtx()
	defer cancel()
	a.ws.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping"}`))
	if r, _ := a.next(); r.Code != CodeMalformed {
		t.Fatalf("binary: %+v", r)
	}
	// The connection and the call carry on.
	b.ok(Frame{Type: TypeAccept, CallID: id})
	a.expect(TypeUserJoined)
	a.expect(TypeCallBegan)
}

func TestHardFrameLimitCloses(t *testing.T) {
	h := newHarness(t, nil)
	a := h.login("alice")
	a.sendRaw(make([]byte, hardFrameLimit+10))
	if code := a.closedWith(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %v", code)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit = 1; c.RateBurst = 5 })
	a, b := h.login("alice"), h.login("bob") // each login took a token
	var ok, limited int
	for i := 0; i < 8; i++ {
		r := a.req(Frame{Type: TypePing})
		switch {
		case r.Type == TypeOK:
			ok++
		case r.Code == CodeRateLimited:
			limited++
		}
	}
	if ok != 4 || limited != 4 {
		t.Fatalf("ok %d limited %d, want 4 and 4", ok, limited)
	}
	// Others are not affected, and time refills the bucket.
	b.ok(Frame{Type: TypePing})
	h.clock.Advance(2 * time.Second)
	a.ok(Frame{Type: TypePing})
	// A client that floods on is disconnected.
	ctx, cancel := testCtx()
	defer cancel()
	for i := 0; i < 20; i++ {
		// The server may close mid-flood; later writes fail, as they should.
		a.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":1}`))
	}
	if code := a.closedWith(); code != CloseFlooding {
		t.Fatalf("close code %v", code)
	}
	b.ok(Frame{Type: TypePing})
}

func TestTicketExpiresWhileOnline(t *testing.T) {
	h := newHarness(t, nil)
	a := h.dial("alice")
	a.ok(Frame{Type: TypeLogin, Version: 1, UserID: "alice", UserSig: h.ticket("alice", time.Minute)})
	b := h.login("bob")
	h.connect(a, b)
	h.clock.Advance(time.Minute)
	a.quiet() // valid through its last second
	h.clock.Advance(time.Second)
	if ce := a.expect(TypeCallEnded); ce.Reason != ReasonTicketExpired {
		t.Fatalf("alice got %+v", ce)
	}
	a.expect(TypeTicketExpired)
	if code := a.closedWith(); code != CloseTicketExpired {
		t.Fatalf("close code %v", code)
	}
	if ul := b.expect(TypeUserLeft); ul.UserID != "alice" || ul.Reason != ReasonTicketExpired {
		t.Fatalf("bob got %+v", ul)
	}
	b.expect(TypeCallEnded)
	waitFor(t, "session gone", func() bool { return h.stats().Sessions == 1 })
}

func TestGraceResumeAndExpiry(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.connect(a, b)
	token := b.token
	b.drop()
	if ua := a.expect(TypeUserAway); ua.UserID != "bob" || ua.CallID != id {
		t.Fatalf("alice got %+v, want userAway bob", ua)
	}
	if r := a.ok(Frame{Type: TypeSync}); !r.Call.Participants[1].Away {
		t.Fatalf("bob should be away: %+v", r.Call)
	}
	h.clock.Advance(9 * time.Second)
	a.quiet() // still within the grace period: bob has not left

	// bob comes back with his resume token and finds his call.
	b = h.dial("bob")
	r := b.ok(Frame{Type: TypeLogin, Version: 1, UserID: "bob", UserSig: h.ticket("bob", time.Hour), Resume: token})
	if !r.Resumed || r.Token != token || r.Call == nil || r.Call.CallID != id || !r.Call.Active {
		t.Fatalf("resume reply %+v", r)
	}
	if p, _ := r.Call.Participant("bob"); p.State != StateJoined || p.Away {
		t.Fatalf("bob in snapshot %+v", p)
	}
	if ub := a.expect(TypeUserBack); ub.UserID != "bob" || ub.CallID != id {
		t.Fatalf("alice got %+v, want userBack bob", ub)
	}
	h.clock.Advance(5 * time.Second) // the old grace timer must not fire
	a.quiet()
	b.ok(Frame{Type: TypeRelay, CallID: id, To: "alice", Payload: json.RawMessage(`{"kind":"media"}`)})
	a.expect(TypeRelayed)

	// Dropped again, and this time not back in time.
	b.drop()
	a.expect(TypeUserAway)
	a.fail(Frame{Type: TypeRelay, CallID: id, To: "bob", Payload: json.RawMessage(`{"kind":"media"}`)}, CodeUnavailable)
	h.clock.Advance(10 * time.Second)
	if ul := a.expect(TypeUserLeft); ul.UserID != "bob" || ul.Reason != ReasonConnectionLost {
		t.Fatalf("alice got %+v", ul)
	}
	a.expect(TypeCallEnded)
	b = h.dial("bob")
	r = b.ok(Frame{Type: TypeLogin, Version: 1, UserID: "bob", UserSig: h.ticket("bob", time.Hour), Resume: token})
	if r.Resumed || r.Call != nil || r.Token == token {
		t.Fatalf("late resume %+v", r)
	}
}

// A resume while the old connection still looks alive (half-open TCP) takes
// the session over without kicking it.
func TestResumeReplacesLiveConnection(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.connect(a, b)
	b2 := h.dial("bob")
	r := b2.ok(Frame{Type: TypeLogin, Version: 1, UserID: "bob", UserSig: h.ticket("bob", time.Hour), Resume: b.token})
	if !r.Resumed || r.Call.CallID != id {
		t.Fatalf("resume %+v", r)
	}
	if code := b.closedWith(); code != CloseReplaced {
		t.Fatalf("close code %v", code)
	}
	a.quiet()
	b2.ok(Frame{Type: TypeHangup, CallID: id})
	b2.expect(TypeCallEnded)
}

func TestDisconnectWithoutCallEndsSession(t *testing.T) {
	h := newHarness(t, nil)
	a := h.login("alice")
	a.drop()
	waitFor(t, "session gone", func() bool { return h.stats().Sessions == 0 })
	b := h.login("bob")
	b.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"alice"}})
	if nr := b.expect(TypeUserNoResponse); nr.Reason != ReasonOffline {
		t.Fatalf("bob got %+v", nr)
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	h.connect(a, b)
	a.ok(Frame{Type: TypeLogout})
	a.expect(TypeCallEnded)
	if code := a.closedWith(); code != websocket.StatusNormalClosure {
		t.Fatalf("close code %v", code)
	}
	if ul := b.expect(TypeUserLeft); ul.Reason != ReasonHangup {
		t.Fatalf("bob got %+v", ul)
	}
	b.expect(TypeCallEnded)
}

func TestIdleConnectionClosed(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTimeout = time.Minute })
	a, b := h.login("alice"), h.login("bob")
	h.clock.Advance(40 * time.Second)
	b.ok(Frame{Type: TypePing})
	h.clock.Advance(21 * time.Second)
	if code := a.closedWith(); code != CloseIdle {
		t.Fatalf("close code %v", code)
	}
	b.ok(Frame{Type: TypePing})
}

// TestShutdownTellsClients: a shutdown hands calls that have begun over to
// the next server (their participants keep their call tokens and hear only
// "shutdown"); invitations still ringing, and calls nobody answered, end
// with reason serverShutdown.
func TestShutdownTellsClients(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c, d, e := h.login("alice"), h.login("bob"), h.login("carol"), h.login("dave"), h.login("erin")
	id := h.connect(a, b)
	a.ok(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"erin"}})
	e.expect(TypeIncoming)
	b.expect(TypeUserInvited)
	h.call(c, d)
	h.shutdown()
	for _, x := range []*tclient{a, b} {
		if nr := x.expect(TypeUserNoResponse); nr.UserID != "erin" || nr.Reason != ReasonServerShutdown || nr.CallToken == "" {
			t.Fatalf("%s got %+v", x.user, nr)
		}
	}
	for _, x := range []*tclient{c, d, e} {
		if cc := x.expect(TypeCallCancelled); cc.Reason != ReasonServerShutdown {
			t.Fatalf("%s got %+v", x.user, cc)
		}
	}
	for _, x := range []*tclient{a, b, c, d, e} {
		x.expect(TypeShutdown)
		if code := x.closedWith(); code != websocket.StatusGoingAway {
			t.Fatalf("%s close code %v", x.user, code)
		}
	}
}

func TestNotFound(t *testing.T) {
	h := newHarness(t, nil)
	resp, err := httpGet(strings.Replace(h.url, "ws://", "http://", 1) + "x")
	if err != nil || resp != 404 {
		t.Fatalf("GET /wsx: %d %v", resp, err)
	}
}

// Unexpected interruption by a lost connection: a ringing callee that does
// not come back within the grace period stops ringing for the caller; when
// it logs in again it finds no call (and raises onCallCancelled itself).
func TestRingingCalleeLostConnection(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	h.call(a, b)
	token := b.token
	b.drop()
	waitFor(t, "bob away", func() bool { return h.stats().Connections == 1 })
	h.clock.Advance(10 * time.Second)
	if nr := a.expect(TypeUserNoResponse); nr.UserID != "bob" || nr.Reason != ReasonConnectionLost {
		t.Fatalf("alice got %+v", nr)
	}
	if cc := a.expect(TypeCallCancelled); cc.Reason != ReasonNoResponse {
		t.Fatalf("alice got %+v", cc)
	}
	b = h.dial("bob")
	r := b.ok(Frame{Type: TypeLogin, Version: 1, UserID: "bob", UserSig: h.ticket("bob", time.Hour), Resume: token})
	if r.Resumed || r.Call != nil {
		t.Fatalf("bob's login %+v", r)
	}
}

// A ringing callee that comes back within the grace period is still ringing
// and can answer.
func TestRingingCalleeResumes(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.call(a, b)
	token := b.token
	b.drop()
	waitFor(t, "bob away", func() bool { return h.stats().Connections == 1 })
	h.clock.Advance(5 * time.Second)
	b = h.dial("bob")
	r := b.ok(Frame{Type: TypeLogin, Version: 1, UserID: "bob", UserSig: h.ticket("bob", time.Hour), Resume: token})
	if p, _ := r.Call.Participant("bob"); !r.Resumed || p.State != StateRinging {
		t.Fatalf("bob's login %+v", r)
	}
	b.ok(Frame{Type: TypeAccept, CallID: id})
	b.expect(TypeCallBegan)
	a.expect(TypeUserJoined)
	a.expect(TypeCallBegan)
}
