package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"softphone/internal/testenv"
)

// The tests run a real Server on a loopback port and talk to it over real
// WebSockets. Server timers run on a ManualClock, so invite timeouts, grace
// periods and ticket expiry are driven by Advance, never by sleeping.

const (
	testKey = "test-secret-key"
	testApp = 1400000001
	wait    = 10 * time.Second // generous: the machine is shared and -race is slow
)

var testStart = time.Unix(1_800_000_000, 0)

type harness struct {
	t     *testing.T
	srv   *Server
	clock *ManualClock
	url   string
	ln    net.Listener
	done  chan error
	// A cluster harness (cluster_test.go) has several nodes; h.srv and
	// h.url are the first's, and dial spreads users over all of them.
	nodes []*harness
	next  int
}

// newHarness starts a server; cfg edits its config. Cleanup shuts it down
// and checks that no goroutine outlives the test. Under TestCluster it
// starts a cluster of three nodes instead (cluster_test.go).
func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	if urls := clusterFor(t); urls != nil {
		return newClusterHarness(t, urls, edit)
	}
	running := testenv.Running()
	clock := NewManualClock(testStart)
	cfg := Config{SecretKey: testKey, SDKAppID: testApp, Clock: clock, IdleTimeout: 24 * time.Hour}
	if edit != nil {
		edit(&cfg)
	}
	h := serveOnLoopback(t, cfg, clock)
	t.Cleanup(func() {
		h.shutdown()
		running.Check(t)
	})
	return h
}

// serveOnLoopback starts a server with cfg on a random loopback port; the
// caller arranges its shutdown.
func serveOnLoopback(t *testing.T, cfg Config, clock *ManualClock) *harness {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, clock: clock, url: WebSocketURL(ln.Addr(), false), ln: ln, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ln) }()
	return h
}

func (h *harness) shutdown() {
	if len(h.nodes) > 0 {
		// One node after the other, as a rolling stop would: the last
		// one ends what is left.
		for i, n := range h.nodes {
			n.shutdown()
			// The others notice and take over before the next goes.
			rest := h.nodes[i+1:]
			waitFor(h.t, "the other nodes to take over", func() bool {
				for _, o := range rest {
					if len(o.srv.cl.liveNodes()) > len(rest) || o.srv.takingOver() {
						return false
					}
				}
				return true
			})
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("serve: %v", err)
		}
		h.done <- nil
	case <-time.After(wait):
		h.t.Error("Serve did not return after Shutdown")
	}
}

func (h *harness) ticket(user string, life time.Duration) string {
	h.t.Helper()
	sig, err := Sign(testKey, testApp, user, life, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return sig
}

// tclient is a raw protocol client: JSON frames over a WebSocket, exactly as
// PROTOCOL.md describes them, without the Client library.
type tclient struct {
	t      *testing.T
	user   string
	ws     *websocket.Conn
	frames chan Frame
	closed chan struct{}
	mu     sync.Mutex
	err    error // why the read loop ended
	nextID uint64
	token  string
	held   []Frame // pushes read while waiting for a reply
}

func (h *harness) dial(user string) *tclient {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	url := h.url
	if len(h.nodes) > 0 {
		url = h.nextURL()
	}
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(hardFrameLimit)
	c := &tclient{t: h.t, user: user, ws: ws, frames: make(chan Frame, 4096), closed: make(chan struct{})}
	go c.readLoop()
	h.t.Cleanup(func() { ws.CloseNow(); <-c.closed })
	return c
}

func (c *tclient) readLoop() {
	defer close(c.closed)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		f, err := DecodeFrame(b)
		if err != nil {
			c.t.Errorf("%s: server sent an undecodable frame %q: %v", c.user, b, err)
			continue
		}
		c.frames <- f
	}
}

// login dials and logs user in with a fresh 1-day ticket.
func (h *harness) login(user string) *tclient {
	h.t.Helper()
	c := h.dial(user)
	r := c.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: user, UserSig: h.ticket(user, 24*time.Hour)})
	if r.Type != TypeOK {
		h.t.Fatalf("login %s: %+v", user, r)
	}
	c.token = r.Token
	return c
}

// send writes a frame (assigning an id when it has none) and returns the id.
func (c *tclient) send(f Frame) uint64 {
	c.t.Helper()
	if f.ID == 0 {
		c.nextID++
		f.ID = c.nextID
	}
	b, err := json.Marshal(&f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
	return f.ID
}

func (c *tclient) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.user, err)
	}
}

func (c *tclient) next() (Frame, bool) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f, true
	case <-time.After(wait):
		return Frame{}, false
	}
}

// req sends a request and returns its reply; pushes that arrive first are
// kept for expect.
func (c *tclient) req(f Frame) Frame {
	c.t.Helper()
	id := c.send(f)
	for {
		r, ok := c.next()
		if !ok {
			c.t.Fatalf("%s: no reply to %s", c.user, f.Type)
		}
		if r.ID == id && (r.Type == TypeOK || r.Type == TypeError) {
			return r
		}
		c.held = append(c.held, r)
	}
}

// ok sends a request that must succeed.
func (c *tclient) ok(f Frame) Frame {
	c.t.Helper()
	r := c.req(f)
	if r.Type != TypeOK {
		c.t.Fatalf("%s: %s failed: %d %s", c.user, f.Type, r.Code, r.Message)
	}
	return r
}

// fail sends a request that must fail with code.
func (c *tclient) fail(f Frame, code Code) Frame {
	c.t.Helper()
	r := c.req(f)
	if r.Type != TypeError || r.Code != code {
		c.t.Fatalf("%s: %s: got %s %d %q, want error %d (%s)", c.user, f.Type, r.Type, r.Code, r.Message, code, code)
	}
	return r
}

// expect returns the next push, which must be of type typ.
func (c *tclient) expect(typ string) Frame {
	c.t.Helper()
	var f Frame
	if len(c.held) > 0 {
		f, c.held = c.held[0], c.held[1:]
	} else {
		var ok bool
		if f, ok = c.next(); !ok {
			c.t.Fatalf("%s: no %s push arrived", c.user, typ)
		}
	}
	if f.Type != typ {
		c.t.Fatalf("%s: got push %s %+v, want %s", c.user, f.Type, f, typ)
	}
	return f
}

// quiet checks that no push is waiting: a ping's reply comes after every
// push queued before it.
func (c *tclient) quiet() {
	c.t.Helper()
	if len(c.held) > 0 {
		c.t.Fatalf("%s: unexpected push %+v", c.user, c.held[0])
	}
	id := c.send(Frame{Type: TypePing})
	r, ok := c.next()
	if !ok {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		c.t.Fatalf("%s: no reply to a ping\n%s", c.user, buf)
	}
	if r.ID != id {
		c.t.Fatalf("%s: unexpected push %+v", c.user, r)
	}
}

// closedWith waits for the server to close the connection and returns the
// close status.
func (c *tclient) closedWith() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(wait):
		c.t.Fatalf("%s: connection not closed", c.user)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return websocket.CloseStatus(c.err)
}

// drop cuts the connection without a close handshake, like a network
// failure.
func (c *tclient) drop() {
	c.ws.CloseNow()
	<-c.closed
}

// waitFor polls cond (for server-side effects of a dropped connection,
// which no message announces).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, wait, cond)
}

// call places a call from caller to callees and returns its id after each
// online callee got its incoming push.
func (h *harness) call(caller *tclient, callees ...*tclient) string {
	h.t.Helper()
	ids := make([]string, len(callees))
	for i, c := range callees {
		ids[i] = c.user
	}
	r := caller.ok(Frame{Type: TypeInvite, CalleeIDs: ids})
	for _, c := range callees {
		in := c.expect(TypeIncoming)
		if in.Call.CallID != r.Call.CallID {
			h.t.Fatalf("incoming for %s has call %s, want %s", c.user, in.Call.CallID, r.Call.CallID)
		}
	}
	return r.Call.CallID
}

// connect makes a 1:1 call and has the callee accept it.
func (h *harness) connect(a, b *tclient) string {
	h.t.Helper()
	id := h.call(a, b)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	b.expect(TypeCallBegan)
	a.expect(TypeUserJoined)
	a.expect(TypeCallBegan)
	return id
}

func isErr(err, target error) bool { return errors.Is(err, target) }

func testCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), wait)
}

// httpGet returns the status code of a plain GET.
func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// stats is the server's Stats; a cluster's counts are its nodes' together.
func (h *harness) stats() Stats {
	if len(h.nodes) == 0 {
		return h.srv.Stats()
	}
	var sum Stats
	for _, n := range h.nodes {
		st := n.srv.Stats()
		sum.Connections += st.Connections
		sum.Sessions += st.Sessions
		sum.Calls += st.Calls
		sum.Accepted += st.Accepted
		sum.Unauthenticated += st.Unauthenticated
		sum.Logins += st.Logins
		sum.CallsStarted += st.CallsStarted
		sum.CallsConnected += st.CallsConnected
		sum.CallsEnded += st.CallsEnded
	}
	return sum
}

// sweepers is how many timers run with nothing going on: each server's
// idle sweep.
func (h *harness) sweepers() int { return max(len(h.nodes), 1) }

// nextURL is the URL of a cluster's next node: its users log in to the
// nodes in turn.
func (h *harness) nextURL() string {
	url := h.nodes[h.next%len(h.nodes)].url
	h.next++
	return url
}
