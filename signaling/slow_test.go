package signaling

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// stuckClient logs user in over a socket with a tiny receive buffer and
// then never reads again, like a client on a dead link or a frozen process.
func (h *harness) stuckClient(user string) *websocket.Conn {
	h.t.Helper()
	d := &net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := testCtx()
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { ws.CloseNow() })
	b, _ := EncodeFrame(&Frame{Type: TypeLogin, ID: 1, Version: 1, UserID: user, UserSig: h.ticket(user, time.Hour)})
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		h.t.Fatal(err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(msg), `"ok"`) {
		h.t.Fatalf("login: %s %v", msg, err)
	}
	return ws
}

// pourRelays lifts the relay limits, so that a test can fill a client's
// queue and socket with relays.
func pourRelays(c *Config) {
	c.MaxRelayPayload, c.RingingRelays, c.RingingRelayBytes, c.RelayBytesPerSecond = 1<<20, 1<<20, 1<<30, 1<<30
}

// stuckCall puts alice in a call with the stuck victim.
func (h *harness) stuckCall() (*tclient, string) {
	h.t.Helper()
	a := h.login("alice")
	h.stuckClient("victim")
	r := a.ok(Frame{Type: TypeInvite, CalleeIDs: []string{"victim"}})
	// The victim rings; the tests lift the limits on relays to an invitee
	// (pourRelays), so alice can pour messages at it.
	return a, r.Call.CallID
}

func TestSlowClientIsDisconnected(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SendQueue = 4; c.RateBurst = 1000; c.RateLimit = 1000; pourRelays(c) })
	a, id := h.stuckCall()
	c, d := h.login("carol"), h.login("dave")
	payload := json.RawMessage(`{"kind":"x-fill","fill":"` + strings.Repeat("x", 60<<10) + `"}`)
	gone := false
	for i := 0; i < 400 && !gone; i++ {
		start := time.Now()
		r := a.req(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: payload})
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("relay %d took %v: the stuck client stalled the sender", i, took)
		}
		if r.Type == TypeError {
			if r.Code != CodeUnavailable {
				t.Fatalf("relay %d: %+v", i, r)
			}
			gone = true // the server dropped the victim: it is away now
		}
	}
	if !gone {
		t.Fatal("the stuck client was never disconnected")
	}
	// Nobody else noticed anything.
	h.connect(c, d)
	a.quiet()
}

func TestStuckWriteTimesOut(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.SendQueue = 10000
		c.RateBurst = 1000
		c.RateLimit = 1000
		c.WriteTimeout = 300 * time.Millisecond
		pourRelays(c)
	})
	a, id := h.stuckCall()
	payload := json.RawMessage(`{"kind":"x-fill","fill":"` + strings.Repeat("x", 60<<10) + `"}`)
	// 12 MB is far more than the socket buffers hold: the server's write
	// to the victim blocks, and times out.
	for i := 0; i < 200; i++ {
		if r := a.req(Frame{Type: TypeRelay, CallID: id, To: "victim", Payload: payload}); r.Type == TypeError {
			if r.Code != CodeUnavailable {
				t.Fatalf("relay: %+v", r)
			}
			break // already cut off
		}
	}
	waitFor(t, "victim disconnected", func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		s := h.srv.sessions["victim"]
		return s != nil && s.conn == nil
	})
	a.quiet()
}
