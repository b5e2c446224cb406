package signaling

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DefaultMaxCallSize is the most people in one call, the caller included,
// unless Config.MaxCallSize says otherwise: the reference call model's 9.
const DefaultMaxCallSize = 9

// Config configures a Server. Zero fields take the defaults named on them.
type Config struct {
	// SecretKey verifies userSig tickets. Required.
	SecretKey string
	// SDKAppID is the application ID tickets must carry (DefaultSDKAppID).
	SDKAppID int64
	// InviteTimeout is how long an invitation rings when the inviter does
	// not say (30 s). Inviters may ask for 1–600 s.
	InviteTimeout time.Duration
	// MaxCallSize caps the ringing and joined participants of a call, the
	// caller included (DefaultMaxCallSize). The login reply tells clients.
	MaxCallSize int
	// Grace is how long a participant whose connection dropped keeps its
	// place in the call (10 s).
	Grace time.Duration
	// MaxFrameBytes is the largest message accepted (64 KiB). Larger ones
	// get a tooLarge error reply; beyond 1 MiB the connection is closed.
	MaxFrameBytes int
	// RateLimit is the sustained messages per second a connection may send
	// (100), with bursts up to RateBurst (200). Excess messages get a
	// rateLimited error; a connection that keeps flooding is closed.
	RateLimit float64
	RateBurst int
	// SendQueue is how many messages may wait to be written to one client
	// (256). A client that falls further behind is disconnected.
	SendQueue int
	// WriteTimeout disconnects a client that does not take a message within
	// this time (10 s, measured in real time).
	WriteTimeout time.Duration
	// IdleTimeout disconnects a client that sent nothing for this long
	// (60 s); clients ping every Heartbeat (20 s) to stay connected.
	IdleTimeout time.Duration
	Heartbeat   time.Duration
	// TLS, when set, makes Serve speak wss:// on its listener.
	TLS *tls.Config
	// Clock is the time source (the real clock).
	Clock Clock
	// Logger receives the server's logs (discarded).
	Logger *slog.Logger
}

const (
	maxTimeoutSeconds = 600
	maxUserData       = 4096
	maxGroupID        = 128
	maxStrRoomID      = 64
	hardFrameLimit    = 1 << 20
	sweepEvery        = time.Second
)

// WebSocket close codes the server uses (see PROTOCOL.md).
const (
	CloseKicked        websocket.StatusCode = 4001
	CloseTicketExpired websocket.StatusCode = 4002
	CloseReplaced      websocket.StatusCode = 4003
	CloseIdle          websocket.StatusCode = 4004
	CloseFlooding      websocket.StatusCode = 4005
)

func (c *Config) setDefaults() error {
	if c.SecretKey == "" {
		return errors.New("signaling: Config.SecretKey is empty: the server cannot check userSig tickets without it")
	}
	if c.SDKAppID == 0 {
		c.SDKAppID = DefaultSDKAppID
	}
	if c.InviteTimeout == 0 {
		c.InviteTimeout = 30 * time.Second
	}
	if c.InviteTimeout < time.Second || c.InviteTimeout > maxTimeoutSeconds*time.Second {
		return fmt.Errorf("signaling: invite timeout %v is outside 1s-600s", c.InviteTimeout)
	}
	if c.MaxCallSize == 0 {
		c.MaxCallSize = DefaultMaxCallSize
	}
	if c.MaxCallSize < 2 {
		return fmt.Errorf("signaling: max call size %d is below 2: a call needs two people", c.MaxCallSize)
	}
	if c.Grace == 0 {
		c.Grace = 10 * time.Second
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.MaxFrameBytes < 1024 || c.MaxFrameBytes > hardFrameLimit {
		return fmt.Errorf("signaling: max frame size %d is outside 1 KiB-1 MiB", c.MaxFrameBytes)
	}
	if c.RateLimit == 0 {
		c.RateLimit = 100
	}
	if c.RateBurst == 0 {
		c.RateBurst = 200
	}
	if c.SendQueue == 0 {
		c.SendQueue = 256
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 20 * time.Second
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is the call server: it logs users in with their userSig, runs the
// call state machine and relays signaling between participants. It is an
// http.Handler for the WebSocket endpoint /ws, so it can be embedded in any
// HTTP server, or it can serve a listener by itself.
type Server struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	calls    map[string]*call
	intRooms map[uint32]*call
	strRooms map[string]*call
	conns    map[*conn]struct{}
	out      []outMsg // pushes waiting for the current operation to finish
	closing  bool
	sweeper  Timer
	epoch    time.Time
	https    []*http.Server
	totals   totals // cumulative counts for Stats

	// wg counts every goroutine the server starts or runs a connection on.
	wg sync.WaitGroup
}

// session is one logged-in user. It outlives its connection by the grace
// period while the user is in a call.
type session struct {
	userID      string
	token       string // resume token, secret to the client
	conn        *conn  // nil while away
	call        *call  // the call the user is ringing or joined in
	graceTimer  Timer
	expiryTimer Timer
	expiresAt   time.Time
}

type outMsg struct {
	c *conn
	b []byte
}

// NewServer checks cfg, fills in defaults and returns a server that is ready
// to serve.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		sessions: make(map[string]*session),
		calls:    make(map[string]*call),
		intRooms: make(map[uint32]*call),
		strRooms: make(map[string]*call),
		conns:    make(map[*conn]struct{}),
	}
	s.epoch = s.clock.Now()
	s.mu.Lock()
	s.armSweep()
	s.mu.Unlock()
	return s, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// WebSocketURL is the URL clients dial for a server listening on addr:
// ws://HOST:PORT/ws, or wss:// with TLS.
func WebSocketURL(addr net.Addr, withTLS bool) string {
	scheme := "ws"
	if withTLS {
		scheme = "wss"
	}
	return scheme + "://" + addr.String() + "/ws"
}

// Serve accepts connections on ln until Shutdown, speaking TLS when
// Config.TLS is set. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.https = append(s.https, hs)
	s.mu.Unlock()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeHTTP serves the WebSocket endpoint /ws and a plain-text hint
// elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" {
		http.Error(w, "softphone call server: connect a WebSocket to /ws (see PROTOCOL.md)", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "softphone call server is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	handedOff := false
	defer func() {
		if !handedOff {
			s.wg.Done()
		}
	}()

	// Origins are not checked: logins carry a userSig in the first message,
	// never a cookie, so a foreign web page gains nothing from connecting,
	// and browser clients may be served from anywhere.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(hardFrameLimit)
	c := &conn{s: s, ws: ws, remote: r.RemoteAddr, tokens: float64(s.cfg.RateBurst)}
	now := s.since()
	c.lastRead.Store(now)
	c.lastFill = now
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("connected", "remote", c.remote)
	// Read on a fresh goroutine and let the HTTP handler return: the
	// handler's goroutine grew a large stack serving the handshake and
	// keeps the request alive, and an idle connection should cost as
	// little as possible. The hijacked connection is ours now.
	handedOff = true
	go func() {
		defer s.wg.Done()
		c.readLoop()
		s.connGone(c)
	}()
}

// Stats is a snapshot of the server's load, and cumulative counts since the
// server started that let a load generator check its own tally against the
// server's.
type Stats struct {
	Connections int // open WebSocket connections
	Sessions    int // logged-in users, including those away within the grace period
	Calls       int // live calls

	Logins         uint64 // successful logins, resumed sessions included
	CallsStarted   uint64 // invitations that created a call
	CallsConnected uint64 // calls that became active (two participants joined at once)
	CallsEnded     uint64 // calls that ended, connected or not
}

// totals are Stats' cumulative counts; guarded by Server.mu.
type totals struct {
	logins, callsStarted, callsConnected, callsEnded uint64
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Connections: len(s.conns), Sessions: len(s.sessions), Calls: len(s.calls),
		Logins: s.totals.logins, CallsStarted: s.totals.callsStarted,
		CallsConnected: s.totals.callsConnected, CallsEnded: s.totals.callsEnded,
	}
}

// Shutdown stops accepting connections, ends every call (reason
// serverShutdown), sends every client a "shutdown" push, closes the
// connections and waits for all of the server's goroutines to finish, or
// for ctx to expire, in which case it closes what is left at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	var https []*http.Server
	if !already {
		for _, c := range s.calls {
			s.endCall(c, ReasonServerShutdown)
		}
		for _, sess := range s.sessions {
			stopTimer(&sess.graceTimer)
			stopTimer(&sess.expiryTimer)
		}
		bye, _ := EncodeFrame(&Frame{Type: TypeShutdown, Message: "the server is shutting down"})
		for c := range s.conns {
			s.out = append(s.out, outMsg{c, bye})
		}
		s.flush(nil, nil)
		for c := range s.conns {
			c.closeAfterFlush(websocket.StatusGoingAway, "server shutting down")
		}
		stopTimer(&s.sweeper)
		https = s.https
	}
	s.mu.Unlock()
	for _, hs := range https {
		hs.Close() // closes the listeners; upgraded connections are ours
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	kill := make([]*websocket.Conn, 0, len(s.conns))
	for c := range s.conns {
		kill = append(kill, c.ws)
	}
	s.mu.Unlock()
	for _, ws := range kill {
		ws.CloseNow()
	}
	<-done
	return fmt.Errorf("signaling: shutdown cut short: %w", ctx.Err())
}

func stopTimer(t *Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// afterFunc schedules f on the server's clock. A panic in f (a bug) is
// logged instead of taking the whole server down.
func (s *Server) afterFunc(d time.Duration, f func()) Timer {
	return s.clock.AfterFunc(d, func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("bug: panic in a server timer", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		f()
	})
}

// armSweep schedules the periodic check for idle and stuck connections.
func (s *Server) armSweep() {
	s.sweeper = s.afterFunc(sweepEvery, s.sweep)
}

// sweep closes connections that sent nothing within the idle timeout.
func (s *Server) sweep() {
	now := s.since()
	idle := int64(s.cfg.IdleTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	for c := range s.conns {
		if now-c.lastRead.Load() > idle {
			s.log.Info("closing idle connection", "remote", c.remote, "user", sessUser(c.sess))
			c.closeAfterFlush(CloseIdle, "idle: no message within the idle timeout")
		}
	}
	s.armSweep()
}

// since is the time since the server started, on the injected clock. Being
// a difference of two readings, it follows the monotonic clock and ignores
// wall-clock steps.
func (s *Server) since() int64 { return int64(s.clock.Now().Sub(s.epoch)) }

// connGone runs when a connection's read loop ends.
func (s *Server) connGone(c *conn) {
	c.ws.CloseNow()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	sess := c.sess
	c.sess = nil
	if sess == nil || sess.conn != c {
		return
	}
	sess.conn = nil
	if sess.call == nil || s.closing {
		s.dropSession(sess)
		return
	}
	s.log.Info("connection lost; holding the call for the grace period", "user", sess.userID, "call", sess.call.id, "grace", s.cfg.Grace)
	if m := sess.call.member(sess.userID); m != nil && m.state == StateJoined {
		s.pushOthers(sess.call, sess.userID, "", true, &Frame{Type: TypeUserAway, CallID: sess.call.id, UserID: sess.userID})
		s.flush(nil, nil)
	}
	var t Timer
	t = s.afterFunc(s.cfg.Grace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sessions[sess.userID] != sess || sess.conn != nil || sess.graceTimer != t {
			return
		}
		sess.graceTimer = nil
		s.log.Info("grace period over", "user", sess.userID)
		s.leaveCall(sess, evGone, ReasonConnectionLost)
		s.dropSession(sess)
		s.flush(nil, nil)
	})
	sess.graceTimer = t
}

// dropSession forgets a session and its timers.
func (s *Server) dropSession(sess *session) {
	stopTimer(&sess.graceTimer)
	stopTimer(&sess.expiryTimer)
	if s.sessions[sess.userID] == sess {
		delete(s.sessions, sess.userID)
	}
}

// leaveCall takes the session's user out of its current call.
func (s *Server) leaveCall(sess *session, ev callEvent, reason Reason) {
	c := sess.call
	if c == nil {
		return
	}
	m := c.member(sess.userID)
	if m == nil || !m.state.Active() {
		sess.call = nil
		return
	}
	s.apply(c, m, ev, reason, "")
	s.settle(c)
}

// push queues f for userID's connection, if it has one.
func (s *Server) push(userID string, f *Frame) {
	sess := s.sessions[userID]
	if sess == nil || sess.conn == nil {
		return
	}
	b, err := EncodeFrame(f)
	if err != nil {
		s.log.Error("encode push", "type", f.Type, "err", err)
		return
	}
	s.out = append(s.out, outMsg{sess.conn, b})
}

// pushOthers queues f for the active participants of c other than ex1 and
// ex2 (only the joined ones when joinedOnly). It is encoded once.
func (s *Server) pushOthers(c *call, ex1, ex2 string, joinedOnly bool, f *Frame) {
	var b []byte
	for _, m := range c.members {
		if m.userID == ex1 || m.userID == ex2 || !m.state.Active() || (joinedOnly && m.state != StateJoined) {
			continue
		}
		sess := s.sessions[m.userID]
		if sess == nil || sess.conn == nil {
			continue
		}
		if b == nil {
			var err error
			if b, err = EncodeFrame(f); err != nil {
				s.log.Error("encode push", "type", f.Type, "err", err)
				return
			}
		}
		s.out = append(s.out, outMsg{sess.conn, b})
	}
}

// flush hands the queued messages to their connections, after the reply to
// the current request (when there is one) so a client always sees its reply
// before the pushes the request caused.
func (s *Server) flush(to *conn, reply []byte) {
	if to != nil && reply != nil {
		to.enqueue(reply)
	}
	for i, m := range s.out {
		m.c.enqueue(m.b)
		s.out[i] = outMsg{}
	}
	s.out = s.out[:0]
}

// newID returns a random hex identifier.
func newID(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sessUser(sess *session) string {
	if sess == nil {
		return ""
	}
	return sess.userID
}
