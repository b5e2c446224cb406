package signaling

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Calls that outlive the server (issue 11, finding 4), on the wire: two
// servers with the same key stand for a server and its restart (or another
// node). The phones' side, with media, is in package engine and package
// main (kill -9 of `softphone serve`).

// tokenOf returns the latest call token among frames.
func tokenOf(t *testing.T, fs ...Frame) string {
	t.Helper()
	tok := ""
	for _, f := range fs {
		if f.CallToken != "" {
			tok = f.CallToken
		}
	}
	if tok == "" {
		t.Fatal("no call token in the frames")
	}
	return tok
}

// comeBack logs user in to h with a call token, as a client reconnecting
// after a restart does (its old resume token is unknown there).
func (h *harness) comeBack(user, token string) (*tclient, Frame) {
	h.t.Helper()
	return h.loginToken(user, token, "from-the-old-server")
}

// loginToken logs user in with a call token and a resume token.
func (h *harness) loginToken(user, token, resume string) (*tclient, Frame) {
	h.t.Helper()
	return h.loginSigned(user, h.ticket(user, time.Hour), token, resume)
}

// loginSigned logs user in with ticket sig, a call token and a resume token.
func (h *harness) loginSigned(user, sig, token, resume string) (*tclient, Frame) {
	h.t.Helper()
	c := h.dial(user)
	r := c.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: user, UserSig: sig, Resume: resume, CallToken: token})
	if r.Type != TypeOK {
		h.t.Fatalf("%s: login: %+v", user, r)
	}
	c.token = r.Token
	return c, r
}

// connected1to1 makes a call between alice and bob on h and returns their
// clients, the call id and each one's call token.
func connected1to1(h *harness) (a, b *tclient, id, ta, tb string) {
	h.t.Helper()
	a, b = h.login("alice"), h.login("bob")
	id = h.call(a, b)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	tb = tokenOf(h.t, b.expect(TypeCallBegan))
	ta = tokenOf(h.t, a.expect(TypeUserJoined), a.expect(TypeCallBegan))
	return
}

// TestCallComesBackAfterRestart: the next server knows nothing, yet alice's
// token brings the call back (same id, room, media; bob's place held as
// away), bob's takes his place again (alice hears userBack), and the call
// goes on: relays, a media switch, a hangup with the usual pushes.
func TestCallComesBackAfterRestart(t *testing.T) {
	h1 := newHarness(t, nil)
	a, b, id, ta, tb := connected1to1(h1)
	room := h1.srv.calls[id].room
	h1.shutdown()
	a.expect(TypeShutdown) // no callEnded: the call is handed over
	b.expect(TypeShutdown)

	h2 := newHarness(t, nil)
	a2, r := h2.comeBack("alice", ta)
	if r.Resumed || r.Call == nil || r.Call.CallID != id || r.Call.RoomID != room || !r.Call.Active || r.CallToken == "" {
		t.Fatalf("alice's login on the next server: %+v", r)
	}
	if p, _ := r.Call.Participant("bob"); p.State != StateJoined || !p.Away {
		t.Fatalf("bob in alice's snapshot: %+v", p)
	}
	a2.quiet()
	b2, r := h2.comeBack("bob", tb)
	if r.Call == nil || r.Call.CallID != id {
		t.Fatalf("bob's login: %+v", r)
	}
	if p, _ := r.Call.Participant("alice"); p.State != StateJoined || p.Away {
		t.Fatalf("alice in bob's snapshot: %+v", p)
	}
	if ub := a2.expect(TypeUserBack); ub.UserID != "bob" || ub.CallID != id {
		t.Fatalf("alice got %+v", ub)
	}
	b2.quiet()

	a2.ok(Frame{Type: TypeRelay, CallID: id, To: "bob", Payload: json.RawMessage(`{"kind":"media","muted":true}`)})
	b2.expect(TypeRelayed)
	b2.ok(Frame{Type: TypeSwitchMedia, CallID: id, MediaType: MediaVideo})
	a2.expect(TypeMediaChanged)
	b2.expect(TypeMediaChanged)
	b2.ok(Frame{Type: TypeHangup, CallID: id})
	b2.expect(TypeCallEnded)
	if ul := a2.expect(TypeUserLeft); ul.UserID != "bob" || ul.Reason != ReasonHangup {
		t.Fatalf("alice got %+v", ul)
	}
	if ce := a2.expect(TypeCallEnded); ce.Reason != ReasonAllLeft {
		t.Fatalf("alice got %+v", ce)
	}
}

// TestRestoredPlaceLapses: a participant who does not come back within the
// grace period leaves as one whose connection was lost.
func TestRestoredPlaceLapses(t *testing.T) {
	h1 := newHarness(t, nil)
	_, _, id, ta, _ := connected1to1(h1)
	h1.shutdown()
	h2 := newHarness(t, nil)
	a2, _ := h2.comeBack("alice", ta)
	h2.clock.Advance(10 * time.Second)
	if ul := a2.expect(TypeUserLeft); ul.UserID != "bob" || ul.Reason != ReasonConnectionLost || ul.CallID != id {
		t.Fatalf("alice got %+v", ul)
	}
	if ce := a2.expect(TypeCallEnded); ce.Reason != ReasonAllLeft {
		t.Fatalf("alice got %+v", ce)
	}
	// bob's late token finds no call: his client reports the end itself.
	if _, r := h2.comeBack("bob", ta); r.Call != nil {
		t.Fatalf("bob's late login: %+v", r)
	}
}

// TestRestoreOnlyWithAGoodToken: the token must verify (signature, key,
// application), name a joined participant, come from another server and
// within the restore window; otherwise the login goes on without a call.
func TestRestoreOnlyWithAGoodToken(t *testing.T) {
	h1 := newHarness(t, nil)
	a, _, id, ta, _ := connected1to1(h1)
	// The same server never restores from its own token: it knows its
	// calls, and one it does not know has ended.
	a.ok(Frame{Type: TypeHangup, CallID: id})
	if _, r := h1.loginToken("alice", ta, ""); r.Call != nil {
		t.Fatalf("own token after the end: %+v", r)
	}

	other := newHarness(t, func(c *Config) { c.SecretKey = "another key" })
	sig, err := Sign("another key", testApp, "alice", time.Hour, other.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, r := other.loginSigned("alice", sig, ta, ""); r.Call != nil {
		t.Fatalf("token of another key: %+v", r)
	}
	h2 := newHarness(t, nil)
	body, sig, _ := strings.Cut(ta, ".")
	for name, tok := range map[string]string{
		"tampered signature": body + "." + strings.Repeat("A", len(sig)),
		"no signature":       body,
		"garbage":            "%%%.%%%",
	} {
		if _, r := h2.loginToken("alice", tok, ""); r.Call != nil {
			t.Fatalf("%s: %+v", name, r)
		}
	}
	if _, r := h2.comeBack("mallory", ta); r.Call != nil {
		t.Fatalf("a user not in the call: %+v", r)
	}
	h3 := newHarness(t, nil)
	h3.clock.Advance(31 * time.Second)
	if _, r := h3.comeBack("alice", ta); r.Call != nil {
		t.Fatalf("after the restore window: %+v", r)
	}
	if _, r := h2.loginToken("alice", ta, ""); r.Call == nil || r.Call.CallID != id {
		t.Fatalf("the good token, in time: %+v", r)
	}
}

// TestRestoreFromTokensOfDifferentAge: a group call's participants hold
// tokens of different versions (one missed the last change before the
// crash); the call comes back as the newest says, whoever comes first.
func TestRestoreFromTokensOfDifferentAge(t *testing.T) {
	h1 := newHarness(t, nil)
	a, b, id, ta, tb := connected1to1(h1)
	c := h1.login("carol")
	a.ok(Frame{Type: TypeInviteMore, CallID: id, CalleeIDs: []string{"carol"}})
	c.expect(TypeIncoming)
	c.ok(Frame{Type: TypeAccept, CallID: id})
	tc := tokenOf(t, c.expect(TypeCallBegan))
	_ = ta // alice's token from before carol: the oldest
	tb = tokenOf(t, b.expect(TypeUserInvited), b.expect(TypeUserJoined))
	h1.shutdown()

	h2 := newHarness(t, nil)
	a2, r := h2.comeBack("alice", ta) // knows only alice and bob
	if p, ok := r.Call.Participant("carol"); ok && p.State == StateJoined {
		t.Fatalf("carol joined in a call rebuilt from alice's old token: %+v", r.Call)
	}
	c2, r := h2.comeBack("carol", tc) // the newest: carol is in
	if p, _ := r.Call.Participant("carol"); p.State != StateJoined {
		t.Fatalf("carol's snapshot: %+v", r.Call)
	}
	if uj := a2.expect(TypeUserJoined); uj.UserID != "carol" {
		t.Fatalf("alice got %+v", uj)
	}
	a2.expect(TypeUserBack)
	b2, _ := h2.comeBack("bob", tb)
	a2.expect(TypeUserBack)
	c2.expect(TypeUserBack)
	for _, x := range []*tclient{a2, b2, c2} {
		x.quiet()
	}
	r = b2.ok(Frame{Type: TypeSync})
	if j := r.Call.Joined(); len(j) != 3 {
		t.Fatalf("joined after everyone came back: %v", j)
	}
}

// TestRestoreWithSomeoneGone: bob logged in to the next server without the
// call (he hung up while it was down): alice's token brings the call back,
// and she hears that bob left, then that the call ended.
func TestRestoreWithSomeoneGone(t *testing.T) {
	h1 := newHarness(t, nil)
	_, _, id, ta, _ := connected1to1(h1)
	h1.shutdown()
	h2 := newHarness(t, nil)
	h2.login("bob")
	a2, r := h2.comeBack("alice", ta)
	if r.Call == nil || r.Call.CallID != id {
		t.Fatalf("alice's login: %+v", r)
	}
	if ul := a2.expect(TypeUserLeft); ul.UserID != "bob" || ul.Reason != ReasonConnectionLost {
		t.Fatalf("alice got %+v", ul)
	}
	a2.expect(TypeCallEnded)
}

// FuzzCallToken: any string a client sends as a call token gets a verdict
// without panicking; only what the key signed passes, and it reads back
// as signed.
func FuzzCallToken(f *testing.F) {
	key := callTokenKey(testKey, testApp)
	good := signClaims(key, &callClaims{Node: "n", CallID: "c1", Ver: 3, Room: RoomID{7, "7"}, Timeout: 30,
		Members: []claimMember{{"alice", StateJoined, ""}, {"bob", StateLeft, ReasonHangup}}})
	for _, s := range []string{good, "", ".", "a.b", good + "x", strings.Replace(good, ".", "..", 1), "e30.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		cl := verifyCallToken(key, tok, 20)
		if cl == nil {
			return
		}
		if again := verifyCallToken(key, signClaims(key, cl), 20); again == nil || again.CallID != cl.CallID || len(again.Members) != len(cl.Members) {
			t.Fatalf("%q passed but does not re-sign to itself: %+v", tok, cl)
		}
		if tok != good && !strings.HasPrefix(tok, strings.Split(good, ".")[0]) {
			t.Fatalf("a token the key never signed passed: %q", tok)
		}
	})
}
