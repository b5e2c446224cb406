package signaling

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// conn is one client WebSocket on the server. Its reader runs on the HTTP
// handler's goroutine; a writer goroutine exists only while messages are
// queued, so an idle connection costs one goroutine and no buffers.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	raw    net.Conn // the hijacked connection under ws
	remote string
	tc     *tracked // the TCP connection as Serve counts it; nil under ServeHTTP alone
	opened int64    // Server.since() at the upgrade
	sess   *session // guarded by Server.mu
	swept  bool     // the sweep is closing it; guarded by Server.mu
	down   bool     // its read loop ended; guarded by Server.mu

	// Token buckets (messages, relayed bytes); touched only by the reader.
	tokens      float64
	lastFill    int64
	strikes     int
	flooding    bool // closing for flooding: nothing more is read into memory
	relayTokens float64
	relayFill   int64

	lastRead atomic.Int64 // Server.since() of the last message received

	qmu         sync.Mutex
	queue       [][]byte
	writing     bool
	dead        bool
	closeAfter  bool
	closeCode   websocket.StatusCode
	closeReason string
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (c *conn) readLoop() {
	max := c.s.cfg.MaxFrameBytes
	for {
		// A context without Done keeps reads free of per-message timers;
		// the sweeper closes connections that go quiet instead.
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return
		}
		if c.flooding {
			// The close is on its way, after the replies already queued:
			// what the flooder still sends is read past, unanswered.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			continue
		}
		bp := readBufs.Get().(*[]byte)
		buf, tooBig, err := readMessage(r, (*bp)[:0], max)
		if err != nil {
			readBufs.Put(bp)
			return
		}
		c.lastRead.Store(c.s.since())
		switch {
		case tooBig:
			if c.allow() {
				c.replyError(scanID(buf), &Error{CodeTooLarge, "message is larger than the server's limit; nothing in it was processed"})
			}
		case typ != websocket.MessageText:
			if c.allow() {
				c.replyError(scanID(buf), &Error{CodeMalformed, "binary message: send JSON in text messages"})
			}
		default:
			if !c.safeHandle(buf) {
				readBufs.Put(bp)
				return
			}
		}
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			readBufs.Put(bp)
		}
	}
}

// safeHandle handles one message; a panic (a bug, whatever the input) is
// logged, the client is told, and only this connection is closed.
func (c *conn) safeHandle(b []byte) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.s.log.Error("bug: panic while handling a message", "remote", c.remote, "panic", r, "stack", string(debug.Stack()))
			c.replyError(0, &Error{CodeInternal, "internal server error; closing this connection"})
			ok = false
		}
	}()
	c.handle(b)
	return true
}

// readMessage reads one message into buf; past max bytes it drains the rest
// and reports tooBig.
func readMessage(r io.Reader, buf []byte, max int) ([]byte, bool, error) {
	for {
		if len(buf) == cap(buf) {
			if len(buf) > max {
				_, err := io.Copy(io.Discard, r)
				return buf, true, err
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, len(buf) > max, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

// allow takes a token from the connection's bucket. A client that goes on
// sending far past the limit is disconnected: answering every excess message
// would let it keep the server busy. The replies already queued go out
// before the close.
func (c *conn) allow() bool {
	now := c.s.since()
	cfg := &c.s.cfg
	if now > c.lastFill {
		c.tokens += float64(now-c.lastFill) / 1e9 * cfg.RateLimit
		if c.tokens > float64(cfg.RateBurst) {
			c.tokens = float64(cfg.RateBurst)
		}
		c.lastFill = now
	}
	if c.tokens >= 1 {
		c.tokens--
		c.strikes = 0
		return true
	}
	c.strikes++
	if c.strikes > cfg.RateBurst && !c.flooding {
		c.flooding = true
		c.s.limits.note(func(t *limitTally) { t.flooding++ })
		c.closeAfterFlush(CloseFlooding, "rate limit exceeded")
	}
	return false
}

// allowRelay takes n payload bytes from the connection's relay bucket
// (Config.RelayBytesPerSecond, bursts of four seconds' worth).
func (c *conn) allowRelay(n int) bool {
	if !c.mayRelay(n) {
		return false
	}
	c.relayTokens -= float64(n)
	return true
}

// mayRelay reports whether the relay bucket holds n bytes, taking none (a
// relay through another node takes them once it went through).
func (c *conn) mayRelay(n int) bool {
	now := c.s.since()
	rate := float64(c.s.cfg.RelayBytesPerSecond)
	if now > c.relayFill {
		c.relayTokens = min(c.relayTokens+float64(now-c.relayFill)/1e9*rate, 4*rate)
		c.relayFill = now
	}
	return c.relayTokens >= float64(n)
}

// scanID finds the "id" of a request without decoding it: the value of the
// first "id" key of the top-level object, if it is a plain non-negative
// integer; else 0. A message refused before decoding (over the rate, too
// large, not UTF-8) still gets its error reply matched to its request.
func scanID(b []byte) uint64 {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			start := i + 1
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return 0
			}
			if depth != 1 || string(b[start:i]) != "id" {
				continue
			}
			j := i + 1
			for j < len(b) && isSpace(b[j]) {
				j++
			}
			if j >= len(b) || b[j] != ':' {
				continue // a value "id", not the key
			}
			for j++; j < len(b) && isSpace(b[j]); j++ {
			}
			var id uint64
			digits := 0
			for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
				if digits++; digits > 19 {
					return 0
				}
				id = id*10 + uint64(b[j]-'0')
			}
			return id
		}
	}
	return 0
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// enqueue queues one message for writing. A client whose queue is full is
// too slow to keep up and is disconnected rather than let it hold memory or
// delay anyone else.
func (c *conn) enqueue(b []byte) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.dead || c.closeAfter {
		return
	}
	if len(c.queue) >= c.s.cfg.SendQueue {
		c.dead = true
		c.queue = nil
		c.s.limits.note(func(t *limitTally) { t.slow++ })
		// Cut the socket now (a close handshake would queue behind the
		// blocked write): the read loop ends and the session goes into its
		// grace period like any dropped connection.
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			c.ws.CloseNow()
		}()
		return
	}
	c.queue = append(c.queue, b)
	if !c.writing {
		c.writing = true
		c.s.wg.Add(1)
		go c.writeLoop()
	}
}

// closeAfterFlush closes the connection with code once what is queued has
// been written.
func (c *conn) closeAfterFlush(code websocket.StatusCode, reason string) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.dead || c.closeAfter {
		return
	}
	c.closeAfter, c.closeCode, c.closeReason = true, code, reason
	if !c.writing {
		c.writing = true
		c.s.wg.Add(1)
		go c.writeLoop()
	}
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 || c.dead {
			c.writing = false
			c.queue = nil
			closeNow := c.closeAfter && !c.dead
			if closeNow {
				c.dead = true
			}
			code, reason := c.closeCode, c.closeReason
			c.qmu.Unlock()
			if closeNow {
				c.ws.Close(code, reason)
			}
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qmu.Unlock()

		// A write the client does not take within WriteTimeout (real time:
		// this is about the network) closes the connection.
		ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.WriteTimeout)
		err := c.ws.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			c.qmu.Lock()
			c.dead = true
			c.queue = nil
			c.writing = false
			c.qmu.Unlock()
			c.ws.CloseNow()
			return
		}
	}
}

// cut closes the connection at once, also while a close handshake waits
// for a client that does not answer (the library's CloseNow waits for that
// handshake instead).
func (c *conn) cut() {
	if c.raw != nil {
		c.raw.Close()
	}
	c.ws.CloseNow()
}

// hijacked is a ResponseWriter that keeps the connection the WebSocket
// library takes over.
type hijacked struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("signaling: the HTTP server cannot hand over its connection")
	}
	c, brw, err := hj.Hijack()
	h.conn = c
	return c, brw, err
}

func (c *conn) replyError(id uint64, e *Error) {
	b, _ := EncodeFrame(&Frame{Type: TypeError, ID: id, Code: e.Code, Message: e.Message})
	c.enqueue(b)
}
