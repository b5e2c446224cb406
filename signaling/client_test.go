package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"softphone/internal/testenv"
)

// proxy is a loopback TCP relay between clients and the server that a test
// can cut, to make real network failures.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	frozen atomic.Bool
	closed atomic.Bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "ws://" + p.ln.Addr().String() + "/ws" }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			defer dst.Close()
			defer src.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				for p.frozen.Load() { // a link that silently stops carrying data
					time.Sleep(5 * time.Millisecond)
					if p.closed.Load() {
						return
					}
				}
				if n > 0 {
					if _, werr := dst.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}
		go pipe(c, s)
		go pipe(s, c)
	}
}

// cut drops every relayed connection; down keeps new ones from getting
// through.
func (p *proxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.closed.Store(true)
	p.ln.Close()
	p.cut(true)
	p.wg.Wait()
}

func (h *harness) client(user, url string, life time.Duration) *Client {
	h.t.Helper()
	ctx, cancel := testCtx()
	defer cancel()
	if len(h.nodes) > 0 && url == h.url {
		url = h.nextURL() // a cluster's users go to its nodes in turn
	}
	c, err := Dial(ctx, ClientConfig{URL: url, UserID: user, UserSig: h.ticket(user, life),
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	if err != nil {
		h.t.Fatalf("dial %s: %v", user, err)
	}
	h.t.Cleanup(func() { c.Close() })
	if ev := nextEvent[ConnEvent](h.t, c); ev.State != ConnConnected {
		h.t.Fatalf("%s: first event %+v", user, ev)
	}
	return c
}

// nextEvent returns the client's next event, which must be a T.
func nextEvent[T Event](t *testing.T, c *Client) T {
	t.Helper()
	return nextEventSkipping[T](t, c, func(Event) bool { return false })
}

// nextEventSkipping is nextEvent that passes over the events skip accepts.
func nextEventSkipping[T Event](t *testing.T, c *Client, skip func(Event) bool) T {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: events closed", c.UserID())
			}
			if skip(ev) {
				continue
			}
			got, ok := ev.(T)
			if !ok {
				var want T
				t.Fatalf("%s: got %T %+v, want %T", c.UserID(), ev, ev, want)
			}
			return got
		case <-time.After(wait):
			var want T
			t.Fatalf("%s: no %T arrived", c.UserID(), want)
		}
	}
}

// noEvent checks that nothing is waiting: a ping's reply comes after every
// push queued before it, and events are queued before replies are handed
// over... except that replies skip the event queue, so give the delivery
// goroutine a moment after the round trip.
func noEvent(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := testCtx()
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("%s: ping: %v", c.UserID(), err)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("%s: unexpected event %T %+v", c.UserID(), ev, ev)
	case <-time.After(20 * time.Millisecond):
	}
}

// isPresence reports whether ev is a userAway/userBack push: whether the
// server noticed a short cut before the client resumed is a matter of timing.
func isPresence(ev Event) bool {
	switch ev.(type) {
	case UserAway, UserBack:
		return true
	}
	return false
}

// nextEventSkippingPresence is nextEvent that passes over userAway/userBack.
func nextEventSkippingPresence[T Event](t *testing.T, c *Client) T {
	t.Helper()
	return nextEventSkipping[T](t, c, isPresence)
}

// noEventButPresence is noEvent that allows userAway/userBack pushes, in
// pairs: an away user who is back is not left.
func noEventButPresence(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := testCtx()
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("%s: ping: %v", c.UserID(), err)
	}
	away := 0
	for {
		select {
		case ev := <-c.Events():
			switch ev.(type) {
			case UserAway:
				away++
			case UserBack:
				away--
			default:
				t.Fatalf("%s: unexpected event %T %+v", c.UserID(), ev, ev)
			}
		case <-time.After(50 * time.Millisecond):
			if away != 0 {
				t.Fatalf("%s: userAway without userBack", c.UserID())
			}
			return
		}
	}
}

func TestClientDialErrors(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := testCtx()
	defer cancel()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "ws://" + ln.Addr().String() + "/ws"
	ln.Close()
	_, err := Dial(ctx, ClientConfig{URL: dead, UserID: "alice", UserSig: h.ticket("alice", time.Hour)})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dead port: %v", err)
	}
	_, err = Dial(ctx, ClientConfig{URL: h.url, UserID: "alice", UserSig: "nonsense"})
	var se *Error
	if !errors.Is(err, ErrBadTicket) || !errors.As(err, &se) || se.Code != CodeBadTicket || se.Message == "" {
		t.Fatalf("bad ticket: %v", err)
	}
	old, _ := Sign(testKey, testApp, "alice", time.Minute, h.clock.Now().Add(-time.Hour))
	_, err = Dial(ctx, ClientConfig{URL: h.url, UserID: "alice", UserSig: old})
	if !errors.Is(err, ErrTicketExpired) {
		t.Fatalf("expired ticket: %v", err)
	}
	if _, err = Dial(ctx, ClientConfig{URL: h.url, UserID: "al ice", UserSig: old}); err == nil {
		t.Fatal("bad user id accepted")
	}
}

func TestClientCallFlow(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.client("alice", h.url, time.Hour), h.client("bob", h.url, time.Hour)
	ctx, cancel := testCtx()
	defer cancel()

	info, err := a.Invite(ctx, InviteParams{UserIDs: []string{"bob"}, MediaType: MediaVideo, UserData: "lunch?",
		Timeout: 20 * time.Second, RoomID: RoomID{StrRoomID: "lunch"}})
	if err != nil {
		t.Fatal(err)
	}
	if info.RoomID.StrRoomID != "lunch" || info.Timeout != 20 || info.MediaType != MediaVideo {
		t.Fatalf("invite %+v", info)
	}
	in := nextEvent[IncomingCall](t, b)
	if in.CallID != info.CallID || in.CallerID != "alice" || in.UserData != "lunch?" || strings.Join(in.Joined(), ",") != "alice" {
		t.Fatalf("incoming %+v", in)
	}
	if _, err := b.Accept(ctx, in.CallID); err != nil {
		t.Fatal(err)
	}
	if cb := nextEvent[CallBegan](t, b); cb.Role != RoleCalled || cb.RoomID.StrRoomID != "lunch" || cb.MediaType != MediaVideo {
		t.Fatalf("bob began %+v", cb)
	}
	nextEvent[UserJoined](t, a)
	if cb := nextEvent[CallBegan](t, a); cb.Role != RoleCaller {
		t.Fatalf("alice began %+v", cb)
	}

	offer := json.RawMessage(`{"kind":"offer","sdp":"v=0"}`)
	if err := a.Relay(ctx, info.CallID, "bob", offer); err != nil {
		t.Fatal(err)
	}
	if rl := nextEvent[Relayed](t, b); rl.From != "alice" || string(rl.Payload) != string(offer) {
		t.Fatalf("relay %+v", rl)
	}
	if err := b.RelayAll(ctx, info.CallID, json.RawMessage(`{"kind":"media","muted":true}`)); err != nil {
		t.Fatal(err)
	}
	nextEvent[Relayed](t, a)
	if err := a.Relay(ctx, info.CallID, "", offer); !errors.Is(err, ErrInvalid) {
		t.Fatalf("relay without recipient: %v", err)
	}
	if err := a.Relay(ctx, info.CallID, "mallory", offer); !errors.Is(err, ErrNotInCall) {
		t.Fatalf("relay to outsider: %v", err)
	}

	if err := b.SwitchMedia(ctx, info.CallID, MediaVoice); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{a, b} {
		if mc := nextEvent[MediaChanged](t, c); mc.Old != MediaVideo || mc.New != MediaVoice || mc.By != "bob" {
			t.Fatalf("%s: %+v", c.UserID(), mc)
		}
	}
	if snap, err := a.Sync(ctx); err != nil || snap.CallID != info.CallID || !snap.Active {
		t.Fatalf("sync %+v %v", snap, err)
	}

	if err := a.Hangup(ctx, info.CallID); err != nil {
		t.Fatal(err)
	}
	if ce := nextEvent[CallEnded](t, a); ce.Reason != ReasonHangup {
		t.Fatalf("alice %+v", ce)
	}
	if ul := nextEvent[UserLeft](t, b); ul.UserID != "alice" || ul.Reason != ReasonHangup {
		t.Fatalf("bob %+v", ul)
	}
	nextEvent[CallEnded](t, b)
	if _, err := b.Accept(ctx, info.CallID); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("accept after end: %v", err)
	}
	if _, err := a.Invite(ctx, InviteParams{UserIDs: []string{"bob"}, Timeout: time.Hour}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("1h timeout: %v", err)
	}
	noEvent(t, a)
	noEvent(t, b)
}

// A hang-up followed at once by a join back into the same call: the join's
// reply takes its place in the event stream (JoinAnswered) after the
// hang-up's callEnded and before the callBegan the join caused, so a client
// can tell the old participation's pushes from the new one's.
func TestClientJoinAnsweredInOrder(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c := h.client("alice", h.url, time.Hour), h.client("bob", h.url, time.Hour), h.client("carol", h.url, time.Hour)
	ctx, cancel := testCtx()
	defer cancel()
	info, err := a.Invite(ctx, InviteParams{UserIDs: []string{"bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{b, c} {
		nextEvent[IncomingCall](t, cl)
		if _, err := cl.Accept(ctx, info.CallID); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := b.Hangup(ctx, info.CallID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Join(ctx, info.CallID); err != nil {
			t.Fatal(err)
		}
		// Before the callEnded: what the call brought before the hang-up.
		nextEventSkipping[CallEnded](t, b, func(ev Event) bool {
			switch ev.(type) {
			case CallBegan, UserJoined:
				return true
			}
			return false
		})
		if ja := nextEvent[JoinAnswered](t, b); ja.CallID != info.CallID || ja.Call == nil || ja.Call.CallID != info.CallID {
			t.Fatalf("join answered %+v", ja)
		}
		if cb := nextEventSkipping[CallBegan](t, b, func(ev Event) bool { _, ok := ev.(UserJoined); return ok }); cb.CallID != info.CallID {
			t.Fatalf("began %+v", cb)
		}
	}
	// A refused join is not in the stream.
	d := h.client("dave", h.url, time.Hour)
	if _, err := d.Join(ctx, info.CallID); !errors.Is(err, ErrNotInvited) {
		t.Fatalf("join uninvited: %v", err)
	}
	noEventButPresence(t, d)
}

func TestClientKicked(t *testing.T) {
	h := newHarness(t, nil)
	a1 := h.client("alice", h.url, time.Hour)
	h.client("alice", h.url, time.Hour)
	expectKickedOff(t, a1)
	if a1.State() != ConnOffline {
		t.Fatalf("state %v", a1.State())
	}
}

func TestClientTicketExpires(t *testing.T) {
	h := newHarness(t, nil)
	a := h.client("alice", h.url, 30*time.Second)
	if si := a.Session(); !si.TicketExpires.Equal(testStart.Add(30*time.Second)) || si.MaxCallSize != 9 ||
		si.Heartbeat != 20*time.Second || si.Grace != 10*time.Second || si.UserID != "alice" {
		t.Fatalf("session %+v", si)
	}
	h.clock.Advance(31 * time.Second)
	nextEvent[TicketExpired](t, a)
	if ev := nextEvent[ConnEvent](t, a); ev.State != ConnOffline || !errors.Is(ev.Err, ErrSessionExpired) {
		t.Fatalf("after expiry %+v", ev)
	}
}

// connectClients has a call b and b accept, and waits until both are in
// the call.
func connectClients(t *testing.T, a, b *Client) *CallInfo {
	t.Helper()
	ctx, cancel := testCtx()
	defer cancel()
	info, err := a.Invite(ctx, InviteParams{UserIDs: []string{b.UserID()}})
	if err != nil {
		t.Fatal(err)
	}
	nextEvent[IncomingCall](t, b)
	if _, err := b.Accept(ctx, info.CallID); err != nil {
		t.Fatal(err)
	}
	nextEvent[CallBegan](t, b)
	nextEvent[UserJoined](t, a)
	nextEvent[CallBegan](t, a)
	return info
}

func TestClientResumesWithinGrace(t *testing.T) {
	h := newHarness(t, nil)
	p := newProxy(t, h.ln.Addr().String())
	a := h.client("alice", h.url, time.Hour)
	b := h.client("bob", p.url(), time.Hour)
	ctx, cancel := testCtx()
	defer cancel()
	info := connectClients(t, a, b)

	p.cut(false)
	if ev := nextEvent[ConnEvent](t, b); ev.State != ConnReconnecting || ev.Err == nil {
		t.Fatalf("after cut %+v", ev)
	}
	ev := nextEvent[ConnEvent](t, b)
	if ev.State != ConnConnected || !ev.Resumed || ev.Call == nil || ev.Call.CallID != info.CallID {
		t.Fatalf("after reconnect %+v", ev)
	}
	if pp, _ := ev.Call.Participant("bob"); pp.State != StateJoined || pp.Away {
		t.Fatalf("bob in snapshot %+v", pp)
	}
	noEventButPresence(t, a) // alice never saw bob leave
	if err := b.RelayAll(ctx, info.CallID, json.RawMessage(`{"kind":"media"}`)); err != nil {
		t.Fatal(err)
	}
	nextEvent[Relayed](t, a)

	// A request made while the link is down waits for the reconnection.
	p.cut(true)
	nextEvent[ConnEvent](t, b)
	done := make(chan error, 1)
	go func() { done <- b.Hangup(ctx, info.CallID) }()
	p.up()
	if err := <-done; err != nil {
		t.Fatalf("hangup across a reconnect: %v", err)
	}
	if ev := nextEvent[ConnEvent](t, b); ev.State != ConnConnected || !ev.Resumed {
		t.Fatalf("%+v", ev)
	}
	nextEvent[CallEnded](t, b)
	nextEventSkippingPresence[UserLeft](t, a)
	nextEvent[CallEnded](t, a)
}

func TestClientAfterGrace(t *testing.T) {
	h := newHarness(t, nil)
	p := newProxy(t, h.ln.Addr().String())
	a := h.client("alice", h.url, time.Hour)
	b := h.client("bob", p.url(), time.Hour)
	connectClients(t, a, b)

	p.cut(true)
	nextEvent[ConnEvent](t, b)
	if ua := nextEvent[UserAway](t, a); ua.UserID != "bob" {
		t.Fatalf("alice %+v", ua)
	}
	h.clock.Advance(10 * time.Second)
	if ul := nextEvent[UserLeft](t, a); ul.Reason != ReasonConnectionLost {
		t.Fatalf("alice %+v", ul)
	}
	nextEvent[CallEnded](t, a)
	p.up()
	ev := nextEvent[ConnEvent](t, b)
	if ev.State != ConnConnected || ev.Resumed || ev.Call != nil {
		t.Fatalf("late reconnect %+v", ev)
	}
}

func TestClientServerShutdown(t *testing.T) {
	h := newHarness(t, nil)
	a := h.client("alice", h.url, time.Hour)
	go h.srv.Shutdown(context.Background())
	nextEvent[ServerShutdown](t, a)
	if ev := nextEvent[ConnEvent](t, a); ev.State != ConnReconnecting {
		t.Fatalf("%+v", ev)
	}
	a.Close()
	for range a.Events() { // closed by Close
	}
	if a.State() != ConnOffline {
		t.Fatalf("state after close %v", a.State())
	}
}

func TestClientConcurrentRequests(t *testing.T) {
	h := newHarness(t, nil)
	a := h.client("alice", h.url, time.Hour)
	ctx, cancel := testCtx()
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Ping(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	a.Close()
	if _, err := a.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	for range a.Events() {
	}
}

// A client that was away when its user logged in elsewhere must not kick
// the newer session when it comes back.
func TestClientKickedWhileAway(t *testing.T) {
	h := newHarness(t, nil)
	p := newProxy(t, h.ln.Addr().String())
	a1 := h.client("alice", p.url(), time.Hour)
	p.cut(true)
	nextEvent[ConnEvent](t, a1) // reconnecting
	waitFor(t, "alice away", func() bool { return h.stats().Connections == 0 })
	a2 := h.client("alice", h.url, time.Hour)
	p.up()
	expectKickedOff(t, a1)
	noEvent(t, a2)
	if a2.State() != ConnConnected {
		t.Fatalf("new session state %v", a2.State())
	}
}

// Requests waiting for a reconnection fail as soon as the client gives up.
func TestClientWaitingRequestFailsWhenRefused(t *testing.T) {
	h := newHarness(t, nil)
	p := newProxy(t, h.ln.Addr().String())
	a1 := h.client("alice", p.url(), time.Hour)
	p.cut(true)
	nextEvent[ConnEvent](t, a1)
	waitFor(t, "alice away", func() bool { return h.stats().Connections == 0 })
	h.client("alice", h.url, time.Hour)
	ctx, cancel := testCtx()
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := a1.Ping(ctx); done <- err }()
	p.up()
	if err := <-done; !errors.Is(err, ErrKicked) {
		t.Fatalf("waiting request: %v", err)
	}
}

func TestNoGoroutineLeakPerConnection(t *testing.T) {
	h := newHarness(t, nil)
	h.login("warmup").drop()
	waitFor(t, "warmup gone", func() bool { return h.stats().Sessions == 0 })
	running := testenv.Running()
	for i := 0; i < 3; i++ {
		a := h.client("alice", h.url, time.Hour)
		b := h.client("bob", h.url, time.Hour)
		ctx, cancel := testCtx()
		info, err := a.Invite(ctx, InviteParams{UserIDs: []string{"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		nextEvent[IncomingCall](t, b)
		b.Accept(ctx, info.CallID)
		a.Hangup(ctx, info.CallID)
		cancel()
		a.Close()
		b.Close()
	}
	waitFor(t, "sessions gone", func() bool {
		st := h.stats()
		return st.Connections == 0 && st.Sessions == 0 && st.Calls == 0
	})
	running.Check(t)
}

// A server that silently stops answering (a frozen link, no FIN) is
// noticed by the heartbeat, and the client reconnects.
func TestClientHeartbeatDetectsDeadLink(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Heartbeat = time.Second })
	p := newProxy(t, h.ln.Addr().String())
	a := h.client("alice", p.url(), time.Hour)
	p.frozen.Store(true)
	if ev := nextEvent[ConnEvent](t, a); ev.State != ConnReconnecting {
		t.Fatalf("%+v", ev)
	}
	p.cut(false) // drop the frozen connections so the old server side goes too
	p.frozen.Store(false)
	if ev := nextEvent[ConnEvent](t, a); ev.State != ConnConnected {
		t.Fatalf("%+v", ev)
	}
}

// A ticket that expires while the client is away is reported as on the
// server: TicketExpired, then offline with ErrSessionExpired.
func TestClientTicketExpiresWhileAway(t *testing.T) {
	h := newHarness(t, nil)
	p := newProxy(t, h.ln.Addr().String())
	a := h.client("alice", p.url(), 30*time.Second)
	p.cut(true)
	nextEvent[ConnEvent](t, a)
	waitFor(t, "alice away", func() bool { return h.stats().Sessions == 0 })
	h.clock.Advance(31 * time.Second)
	p.up()
	nextEvent[TicketExpired](t, a)
	ev := nextEvent[ConnEvent](t, a)
	if ev.State != ConnOffline || !errors.Is(ev.Err, ErrSessionExpired) || !errors.Is(ev.Err, ErrTicketExpired) {
		t.Fatalf("%+v", ev)
	}
}

// expectKickedOff checks that c was told it was kicked, went offline for
// that reason, and refuses requests with ErrKicked.
func expectKickedOff(t *testing.T, c *Client) {
	t.Helper()
	nextEvent[Kicked](t, c)
	if ev := nextEvent[ConnEvent](t, c); ev.State != ConnOffline || !errors.Is(ev.Err, ErrKicked) {
		t.Fatalf("%s after the kick: %+v", c.UserID(), ev)
	}
	ctx, cancel := testCtx()
	defer cancel()
	if _, err := c.Ping(ctx); !errors.Is(err, ErrKicked) {
		t.Fatalf("%s: request after the kick: %v", c.UserID(), err)
	}
}
