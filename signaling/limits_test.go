package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"softphone/internal/testenv"
)

// Issue 11, finding 1 (strangers lock everyone out) and the smaller
// findings about the connection: each limit on a real server over real
// WebSockets. The descriptor-exhaustion attempt against `softphone serve`
// with a low open-file limit is TestDescriptorExhaustion (package main).

// dialFrom connects from source address ip (any 127.0.0.0/8 address works
// on loopback), so tests can play several hosts.
func (h *harness) dialFrom(ip, user string) (*tclient, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(hardFrameLimit)
	c := &tclient{t: h.t, user: user, ws: ws, frames: make(chan Frame, 4096), closed: make(chan struct{})}
	go c.readLoop()
	h.t.Cleanup(func() { ws.CloseNow(); <-c.closed })
	return c, nil
}

func (h *harness) mustDialFrom(ip, user string) *tclient {
	h.t.Helper()
	c, err := h.dialFrom(ip, user)
	if err != nil {
		h.t.Fatalf("dial from %s: %v", ip, err)
	}
	return c
}

// loginAs logs an already dialled client in.
func (h *harness) loginAs(c *tclient) {
	h.t.Helper()
	r := c.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: c.user, UserSig: h.ticket(c.user, 24*time.Hour)})
	if r.Type != TypeOK {
		h.t.Fatalf("login %s: %+v", c.user, r)
	}
	c.token = r.Token
}

func (c *tclient) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// TestNothingButLoginBeforeLogin: before logging in a connection gets
// notLoggedIn even for ping, and one that does not log in within the login
// deadline is closed however busy it keeps itself; a login in time keeps
// the connection.
func TestNothingButLoginBeforeLogin(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginTimeout = 10 * time.Second })
	idler, pinger, late := h.dial("idler"), h.dial("pinger"), h.dial("late")
	if r := pinger.fail(Frame{Type: TypePing}, CodeNotLoggedIn); r.ID == 0 {
		t.Fatalf("the error has no id: %+v", r)
	}
	for i := 0; i < 9; i++ {
		h.clock.Advance(time.Second)
		pinger.fail(Frame{Type: TypePing}, CodeNotLoggedIn)
	}
	h.loginAs(late) // 9 s after connecting: in time
	h.clock.Advance(1500 * time.Millisecond)
	for _, c := range []*tclient{idler, pinger} {
		c.closedWith()
	}
	late.ok(Frame{Type: TypePing})
	if st := h.stats(); st.Unauthenticated != 0 || st.Accepted != 1 {
		t.Fatalf("stats %+v, want one connection, logged in", st)
	}
}

// TestUnauthenticatedCaps: one address may hold only so many connections
// that have not logged in, and all addresses together only so many. Over
// the address's cap its oldest goes; over the overall cap the oldest of
// the address holding the most goes: a client connecting from an address
// of its own (about to log in) is never the one. Logged-in connections do
// not count.
func TestUnauthenticatedCaps(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxUnauthenticatedPerAddress = 3; c.MaxUnauthenticated = 5 })
	in := h.login("insider") // logged in: never evicted
	var a []*tclient
	for i := 0; i < 3; i++ {
		a = append(a, h.mustDialFrom("127.0.0.2", "a"))
	}
	waitFor(t, "three unauthenticated", func() bool { return h.stats().Unauthenticated == 3 })
	newest := h.mustDialFrom("127.0.0.2", "alice")
	a[0].closedWith() // the oldest of that address made room
	h.loginAs(newest)
	var b []*tclient
	for i := 0; i < 3; i++ {
		b = append(b, h.mustDialFrom("127.0.0.3", "b"))
	}
	waitFor(t, "the overall cap", func() bool { return h.stats().Unauthenticated == 5 })
	carol := h.mustDialFrom("127.0.0.4", "carol") // over the overall cap
	b[0].closedWith()                             // the oldest of the most crowded address
	h.loginAs(carol)
	dave := h.mustDialFrom("127.0.0.5", "dave") // the place carol's login freed
	erin := h.mustDialFrom("127.0.0.6", "erin")
	waitFor(t, "an eviction", func() bool { return a[1].isClosed() || b[1].isClosed() })
	if dave.isClosed() {
		t.Fatal("the only connection of its address was evicted while others held two")
	}
	h.loginAs(erin)
	h.loginAs(dave)
	in.ok(Frame{Type: TypePing})
	newest.ok(Frame{Type: TypePing})
}

// TestMaxConnections: the server holds at most MaxConnections; when logged
// in users fill it, a new connection is refused, and one that has not
// logged in is closed to let a new one in.
func TestMaxConnections(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxConnections = 3 })
	a, b := h.login("alice"), h.login("bob")
	stranger := h.dial("stranger")
	c := h.dial("carol") // the third place: the stranger's
	stranger.closedWith()
	h.loginAs(c)
	// Full of logged-in users: the next connection is refused at once.
	if d, err := h.dialFrom("127.0.0.1", "dave"); err == nil {
		d.closedWith()
	}
	if st := h.stats(); st.Accepted != 3 || st.Sessions != 3 {
		t.Fatalf("stats %+v, want the three logged-in users", st)
	}
	for _, x := range []*tclient{a, b, c} {
		x.ok(Frame{Type: TypePing})
	}
}

// TestRateLimitedAreNotDecoded: a message over the rate is refused before
// it is decoded: it gets rateLimited (not malformed, which decoding it
// would give) with the id read from it.
func TestRateLimitedAreNotDecoded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit = 0.001; c.RateBurst = 2 })
	a := h.login("alice") // the login took one token
	a.ok(Frame{Type: TypePing})
	a.sendRaw([]byte(`{"type":"ping","id":77,"x":[1,2,`)) // cut short: not JSON
	r, _ := a.next()
	if r.Type != TypeError || r.Code != CodeRateLimited || r.ID != 77 {
		t.Fatalf("got %+v, want rateLimited for id 77", r)
	}
}

// TestFloodCloseKeepsQueuedReplies: a client far over the rate is closed
// (4005), but only after every reply queued for it went out: each request
// before the close gets exactly one reply.
func TestFloodCloseKeepsQueuedReplies(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit = 0.001; c.RateBurst = 5 })
	a := h.dial("alice")
	h.loginAs(a) // one token
	for i := uint64(10); i < 40; i++ {
		b, _ := EncodeFrame(&Frame{Type: TypePing, ID: i})
		ctx, cancel := testCtx()
		err := a.ws.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			break // closed for flooding
		}
	}
	if code := a.closedWith(); code != CloseFlooding {
		t.Fatalf("close code %v, want %v", code, CloseFlooding)
	}
	got := map[uint64]Code{}
	for len(a.frames) > 0 {
		f := <-a.frames
		if _, dup := got[f.ID]; dup {
			t.Fatalf("two replies to %d", f.ID)
		}
		got[f.ID] = f.Code
	}
	// 4 pings within the burst, then 5 over it answered with rateLimited;
	// the next over it closes the connection unanswered.
	if len(got) != 9 {
		t.Errorf("%d replies, want 9: %v", len(got), got)
	}
	for i := uint64(10); i < 19; i++ {
		want := CodeNone
		if i >= 14 {
			want = CodeRateLimited
		}
		if code, ok := got[i]; !ok || code != want {
			t.Errorf("reply to %d: %v (got one: %v), want %v", i, code, ok, want)
		}
	}
}

// TestScanID reads a request's id the way the server does before decoding.
func TestScanID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{`{"type":"ping","id":42}`, 42},
		{`{"id" : 7 ,"type":"x"}`, 7},
		{`{"payload":{"id":5},"id":6}`, 6},
		{`{"payload":"\"id\":5","id":8}`, 8},
		{`{"type":"id","id":9}`, 9},
		{`{"type":"ping"}`, 0},
		{`{"id":-1}`, 0},
		{`{"id":"3"}`, 0},
		{`{"id":99999999999999999999}`, 0},
		{`{"id":12`, 12},
		{`[{"id":3}]`, 0},
		{``, 0},
	} {
		if got := scanID([]byte(c.in)); got != c.want {
			t.Errorf("scanID(%s) = %d, want %d", c.in, got, c.want)
		}
	}
}

// FuzzScanID: never panics, and on a request that decodes, finds its id.
func FuzzScanID(f *testing.F) {
	for _, s := range []string{`{"type":"ping","id":42}`, `{"a":{"id":1},"id":2}`, `{"x":"\\","id":3}`, `{"id`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := scanID(b)
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || strings.Contains(string(b), `\u`) || strings.Count(string(b), `"id"`) != 1 {
			return
		}
		var id uint64
		if json.Unmarshal(m["id"], &id) == nil && string(m["id"]) == strings.TrimLeft(string(m["id"]), "0")+"" && got != id {
			t.Fatalf("scanID(%q) = %d, want %d", b, got, id)
		}
	})
}

// TestErrorWithUnreadableIDSaysZero: PROTOCOL.md's promise, byte for byte.
func TestErrorWithUnreadableIDSaysZero(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := testCtx()
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for _, msg := range []string{`not json`, `{"id":"x"}`, `[1]`} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"type":"error"`) || !strings.Contains(string(b), `"id":0`) {
			t.Errorf("%s: reply %s, want an error with \"id\":0", msg, b)
		}
	}
}

// TestInvalidUTF8Refused: a message that is not UTF-8 (here inside a relay
// payload, which is passed on verbatim) is refused with an error to its
// sender and reaches nobody: a browser closes its socket on invalid UTF-8.
func TestInvalidUTF8Refused(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.connect(a, b)
	bad := []byte(`{"type":"relay","id":50,"callId":"` + id + `","to":"bob","payload":{"kind":"media","note":"` + "\xff\xfe" + `"}}`)
	a.sendRaw(bad)
	r, _ := a.next()
	if r.Type != TypeError || r.Code != CodeMalformed || r.ID != 50 || !strings.Contains(r.Message, "UTF-8") {
		t.Fatalf("got %+v, want malformed (UTF-8) for id 50", r)
	}
	b.quiet()
	a.ok(Frame{Type: TypeRelay, CallID: id, To: "bob", Payload: json.RawMessage(`{"kind":"media","note":"é"}`)})
	b.expect(TypeRelayed)
}

// TestIdleSweepLogsOnce: idle connections closed by the sweep, and
// connections closed at the login deadline, make one aggregated log line,
// not lines per connection, and the sweep does not repeat itself while
// their closes are under way.
func TestIdleSweepLogsOnce(t *testing.T) {
	var logs testenv.Buffer
	h := newHarness(t, func(c *Config) {
		c.IdleTimeout = time.Minute
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var idle []*tclient
	for i := 0; i < 5; i++ {
		idle = append(idle, h.login(fmt.Sprintf("idle%d", i)))
	}
	strangers := []*tclient{h.dial("s1"), h.dial("s2")}
	for i := 0; i < 70; i++ {
		h.clock.Advance(time.Second)
	}
	for _, c := range append(idle, strangers...) {
		c.closedWith()
	}
	for i := 0; i < 15; i++ {
		h.clock.Advance(time.Second)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, `msg="logged in"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "closedNoLogin=2") || !strings.Contains(lines[1], "closedIdle=5") {
		t.Fatalf("log lines besides the logins:\n%s\nwant one aggregated line for the strangers' deadline and one for the idle", strings.Join(lines, "\n"))
	}
}
