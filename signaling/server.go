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
	"sync/atomic"
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
	// LoginTimeout closes a connection that has not logged in this long
	// after it was accepted (10 s); before logging in a connection may send
	// nothing but "login".
	LoginTimeout time.Duration
	// MaxConnections caps the open connections Serve accepts (default: the
	// process's open-file limit less a reserve of 1/16 of it, 32 to 256
	// descriptors). MaxUnauthenticated caps those that have not logged in
	// yet (1024, at most a quarter of MaxConnections), and
	// MaxUnauthenticatedPerAddress those of one source address (128, IPv6
	// counted by /64). Over a cap a connection that has not logged in is
	// closed to make room: the oldest of that address, or of the address
	// holding the most (limits.go); only logged-in users can fill the
	// server. A Server embedded with ServeHTTP keeps the login deadline but
	// leaves the caps to its host server.
	MaxConnections               int
	MaxUnauthenticated           int
	MaxUnauthenticatedPerAddress int
	// MemberHistory is how many invitees no longer ringing or joined (they
	// left, rejected, did not answer, were busy or offline) a call keeps
	// besides its MaxCallSize participants (8); past that the oldest is
	// forgotten and can no longer join back. It keeps every message about a
	// call small, whatever its invitees do.
	MemberHistory int
	// Invites limits unanswered invitations (InviteLimits).
	Invites InviteLimits
	// MaxRelayPayload is the largest relay payload (32 KiB).
	MaxRelayPayload int
	// RingingRelays and RingingRelayBytes are how many relays, and how many
	// payload bytes, may pass to or from an invitee who has not answered
	// yet (16 and 32 KiB per invitation): call setup needs none before the
	// answer. RelayBytesPerSecond is what one connection may relay per
	// second (64 KiB, in bursts up to 4 times that).
	RingingRelays       int
	RingingRelayBytes   int
	RelayBytesPerSecond int
	// RestoreWindow is how long after the server starts a call token may
	// bring back a call that was live when the previous server (or another
	// node) went away (30 s; PROTOCOL.md, "Calls that outlive the
	// server"). A negative value turns call restoring off.
	RestoreWindow time.Duration
	// TLS, when set, makes Serve speak wss:// on its listener.
	TLS *tls.Config
	// Pages, when set, serves every path but /ws (the web phone); nil
	// answers them with a plain-text hint.
	Pages http.Handler
	// Clock is the time source (the real clock).
	Clock Clock
	// Logger receives the server's logs (discarded).
	Logger *slog.Logger
	// ICE, when set, is the STUN/TURN service offered to users: login
	// replies carry its servers with per-user TURN credentials.
	ICE *ICEService
	// Cluster, when set, makes this server one node of a service of
	// several sharing their state (NewNATSCluster): users logged in to
	// any node call each other, and the others take over what a node
	// that goes away ran. The server closes it at Shutdown. Nil: one
	// node alone, all state in this process.
	Cluster Cluster
}

const (
	maxTimeoutSeconds = 600
	maxUserData       = 4096
	maxGroupID        = 128
	maxStrRoomID      = 64
	hardFrameLimit    = 1 << 20
	sweepEvery        = time.Second
	// logEvery is how often the limits' aggregated log line may be written.
	logEvery = 10 * time.Second
	// maxCallSizeLimit bounds Config.MaxCallSize, and with it the size of
	// every message about a call.
	maxCallSizeLimit = 64
	// shutdownFlush is how long Shutdown lets clients take the shutdown
	// notice before it cuts the connections that have not.
	shutdownFlush = 500 * time.Millisecond
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
	if c.MaxCallSize < 2 || c.MaxCallSize > maxCallSizeLimit {
		return fmt.Errorf("signaling: max call size %d is outside 2-%d", c.MaxCallSize, maxCallSizeLimit)
	}
	if c.MemberHistory == 0 {
		c.MemberHistory = 8
	}
	if c.MemberHistory < 0 || c.MemberHistory > maxCallSizeLimit {
		return fmt.Errorf("signaling: member history %d is outside 1-%d", c.MemberHistory, maxCallSizeLimit)
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = 10 * time.Second
	}
	if c.LoginTimeout < 0 {
		return fmt.Errorf("signaling: login timeout %v is negative", c.LoginTimeout)
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 1 << 20
		if lim := openFileLimit(); lim > 0 {
			c.MaxConnections = max(lim-fdHeadroom(lim), 16)
		}
	}
	if c.MaxUnauthenticated == 0 {
		c.MaxUnauthenticated = min(1024, max(c.MaxConnections/4, 4))
	}
	if c.MaxUnauthenticatedPerAddress == 0 {
		c.MaxUnauthenticatedPerAddress = min(128, c.MaxUnauthenticated)
	}
	if c.MaxConnections < 1 || c.MaxUnauthenticated < 1 || c.MaxUnauthenticatedPerAddress < 1 {
		return fmt.Errorf("signaling: connection caps must be positive (max %d, unauthenticated %d, per address %d)",
			c.MaxConnections, c.MaxUnauthenticated, c.MaxUnauthenticatedPerAddress)
	}
	if err := c.Invites.setDefaults(); err != nil {
		return err
	}
	if c.MaxRelayPayload == 0 {
		c.MaxRelayPayload = 32 << 10
	}
	if c.RingingRelays == 0 {
		c.RingingRelays = 16
	}
	if c.RingingRelayBytes == 0 {
		c.RingingRelayBytes = 32 << 10
	}
	if c.RelayBytesPerSecond == 0 {
		c.RelayBytesPerSecond = 64 << 10
	}
	if c.MaxRelayPayload < 1 || c.RingingRelays < 1 || c.RingingRelayBytes < 1 || c.RelayBytesPerSecond < 1 {
		return errors.New("signaling: relay limits must be positive")
	}
	if c.RestoreWindow == 0 {
		c.RestoreWindow = 30 * time.Second
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
	if c.ICE != nil {
		ice := *c.ICE
		ice.setDefaults()
		c.ICE = &ice
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
	// randRooms are the rooms the server picked; namedRooms those callers
	// asked for, by caller and name (pickRoom).
	randRooms  map[uint32]*call
	namedRooms map[string]*call
	conns      map[*conn]struct{}
	out        []outMsg // pushes waiting for the current operation to finish
	closing    bool
	sweeper    Timer
	epoch      time.Time
	https      []*http.Server
	totals     totals // cumulative counts for Stats
	invites    inviteLimiter
	lastLog    int64 // since() of the last limits log line

	// The shared state (cluster.go, nodes.go). With other nodes (multi):
	// visitors are the members of calls run here who are logged in to
	// other nodes; pending the requests to other nodes whose answer comes
	// on this node's stream; dirty the calls whose snapshot is to be
	// saved; gone the nodes that went away (closed when handled).
	visitors  map[string]*call
	pending   map[uint64]*pendingReq
	nextCorr  uint64
	remoteOut map[string][]peerItem
	dirty     map[*call]struct{}
	saving    bool
	gone      map[string]chan struct{}
	lostIn    map[string]string // user → call of a node that went away (findHeld)
	takeovers atomic.Int64      // nodes noticed gone whose takeover has not finished

	// Fixed at NewServer.
	limits   *tracker
	tokenKey []byte // signs call tokens (derived from SecretKey)
	cl       Cluster
	multi    bool   // cl.multi(): other nodes may exist
	node     string // this server's identity in the cluster and in the call tokens it signs

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
	iceTimer    Timer // pushes fresh TURN credentials before they expire
	// restored marks a place held in a restored call for a participant
	// who has not come back yet (no connection, no ticket seen), or, in a
	// cluster, for a participant whose node went away.
	restored bool
	// In a cluster: tokHash is the resume token's hash (all a place held
	// for a participant of a node that went away knows of it); presRev
	// the revision of the user's presence record; reserved an invitation
	// or a join about to make the user busy; callToken the latest token
	// of a call run elsewhere; moving that the session is being handed
	// over to another node (its presence record is that node's then).
	tokHash   string
	presRev   uint64
	reserved  *reservation
	callToken string
	moving    bool
	moved     bool

	// A session stands for another node's user while serve runs that
	// user's request about a call run here (nodes.go): home is that node,
	// relayOK its connection's relay budget, claims the invitations its
	// node reserved. claims and newCall (the id for a new call, whose
	// invitees were claimed under it) also carry the claims of a local
	// invitation into serve.
	home    string
	relayOK bool
	claims  []claimResult
	newCall string
}

// outMsg is a message for a connection here, or (c nil) something for a
// user of another node.
type outMsg struct {
	c    *conn
	b    []byte
	node string
	item *peerItem
}

// NewServer checks cfg, fills in defaults and returns a server that is ready
// to serve.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		sessions:   make(map[string]*session),
		calls:      make(map[string]*call),
		randRooms:  make(map[uint32]*call),
		namedRooms: make(map[string]*call),
		conns:      make(map[*conn]struct{}),
		invites:    newInviteLimiter(),
		tokenKey:   callTokenKey(cfg.SecretKey, cfg.SDKAppID),
		cl:         cfg.Cluster,
	}
	if s.cl == nil {
		s.cl = newLocalCluster(cfg.Clock, cfg.RestoreWindow)
	}
	s.node, s.multi = s.cl.node(), s.cl.multi()
	if s.multi {
		s.visitors = map[string]*call{}
		s.pending = map[uint64]*pendingReq{}
		s.remoteOut = map[string][]peerItem{}
		s.dirty = map[*call]struct{}{}
		s.gone = map[string]chan struct{}{}
		s.log = s.log.With("node", s.node)
		if err := s.cl.attach(s); err != nil {
			return nil, fmt.Errorf("signaling: join the cluster: %w", err)
		}
	}
	s.limits = newTracker(s)
	s.epoch = s.clock.Now()
	s.lastLog = -int64(logEvery) // the first line may come at the first sweep
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
	ln = limitListener{Listener: ln, t: s.limits}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       connContext,
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

// ServeHTTP serves the WebSocket endpoint /ws, and Config.Pages (or a
// plain-text hint) elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" && s.cfg.Pages != nil {
		s.cfg.Pages.ServeHTTP(w, r)
		return
	}
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
	hj := &hijacked{ResponseWriter: w}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(hardFrameLimit)
	tc, _ := r.Context().Value(trackedKey{}).(*tracked)
	c := &conn{s: s, ws: ws, raw: hj.conn, remote: r.RemoteAddr, tc: tc, tokens: float64(s.cfg.RateBurst),
		relayTokens: float64(4 * s.cfg.RelayBytesPerSecond)}
	now := s.since()
	c.lastRead.Store(now)
	c.opened = now
	c.lastFill, c.relayFill = now, now
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
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
	// Accepted and Unauthenticated are the TCP connections Serve holds
	// open, and those of them that have not logged in yet.
	Accepted, Unauthenticated int

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
	open, pending := s.limits.counts()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Connections: len(s.conns), Sessions: len(s.sessions), Calls: len(s.calls),
		Accepted: open, Unauthenticated: pending,
		Logins: s.totals.logins, CallsStarted: s.totals.callsStarted,
		CallsConnected: s.totals.callsConnected, CallsEnded: s.totals.callsEnded,
	}
}

// Shutdown stops accepting connections, sends every client a "shutdown"
// push, closes the connections and waits for all of the server's goroutines
// to finish, or for ctx to expire.
//
// Calls that have begun are handed over, not ended: their participants keep
// talking (media flows between them) and bring the call back to the next
// server with their call tokens (PROTOCOL.md, "Calls that outlive the
// server"). Invitations still ringing cannot outlive the server: they are
// cancelled (reason serverShutdown), and so are calls nobody has answered.
// Clients get half a second to take the notice; connections still busy
// after that (a client that does not read) are cut.
func (s *Server) Shutdown(ctx context.Context) error {
	handOff := s.multi && s.othersAlive()
	s.mu.Lock()
	already := s.closing
	s.closing = true
	var https []*http.Server
	if !already && handOff {
		// Other nodes go on: they take over this node's calls, ringing
		// invitations and all, from the shared state, and hold its users'
		// places until they log in to one of them.
		s.mu.Unlock()
		s.leaveCluster(ctx)
		s.mu.Lock()
	}
	if !already {
		if !handOff {
			for _, c := range s.calls {
				s.handOver(c)
			}
		}
		for _, sess := range s.sessions {
			stopTimer(&sess.graceTimer)
			stopTimer(&sess.expiryTimer)
		}
		bye, _ := EncodeFrame(&Frame{Type: TypeShutdown, Message: "the server is shutting down"})
		for c := range s.conns {
			s.out = append(s.out, outMsg{c: c, b: bye})
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
	polite := time.NewTimer(shutdownFlush)
	defer polite.Stop()
	select {
	case <-done:
		return s.closeCluster(nil)
	case <-polite.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	kill := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		kill = append(kill, c)
	}
	s.mu.Unlock()
	for _, c := range kill {
		c.cut()
	}
	select {
	case <-done:
		return s.closeCluster(nil)
	case <-ctx.Done():
		<-done
		return s.closeCluster(fmt.Errorf("signaling: shutdown cut short: %w", ctx.Err()))
	}
}

// closeCluster closes the shared state's connection (the embedded NATS
// server with it) once the server is done.
func (s *Server) closeCluster(err error) error {
	if cerr := s.cl.close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// handOver settles a call at shutdown: one that has begun, with two or more
// joined, lives on in its participants' call tokens; its ringing
// invitations and every other call end with reason serverShutdown.
func (s *Server) handOver(c *call) {
	if j, _ := c.counts(); c.state != callActive || j < 2 {
		s.endCall(c, ReasonServerShutdown)
		return
	}
	for _, m := range c.members {
		if m.state == StateRinging {
			s.apply(c, m, evGone, ReasonServerShutdown, "")
		}
	}
	delete(s.calls, c.id)
	s.releaseRoom(c)
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

// sweep closes connections that sent nothing within the idle timeout and
// those that did not log in in time, and every logEvery writes one line
// about what the limits did. It never logs a connection by itself: a flood
// of them must not become a flood of log lines.
func (s *Server) sweep() {
	now := s.since()
	s.limits.expire(now)
	idle, login := int64(s.cfg.IdleTimeout), int64(s.cfg.LoginTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	closed := 0
	for c := range s.conns {
		switch {
		case c.swept || (c.tc != nil && c.tc.closed.Load()):
			// Being closed already.
		case now-c.lastRead.Load() > idle:
			c.swept = true
			closed++
			c.closeAfterFlush(CloseIdle, "idle: no message within the idle timeout")
		case c.sess == nil && c.tc == nil && now-c.opened >= login:
			// Not counted by Serve's listener (embedded with ServeHTTP):
			// the login deadline is kept here.
			c.swept = true
			s.limits.note(func(t *limitTally) { t.loginDeadline++ })
			c.cut()
		}
	}
	if closed > 0 {
		s.limits.note(func(t *limitTally) { t.idle += closed })
	}
	if now-s.lastLog >= int64(logEvery) {
		s.lastLog = now
		s.limits.logTally(s.log, logEvery)
		s.invites.prune(now)
		s.cl.prune()
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
	c.down = true
	if sess.call == nil || s.closing {
		s.dropSession(sess)
		return
	}
	s.log.Info("connection lost; holding the call for the grace period", "user", sess.userID, "call", sess.call.id, "grace", s.cfg.Grace)
	// The grace period starts before anyone hears of the loss: its clock
	// is the one that put the others' "away" in their hands (its timer
	// cannot fire before s.mu is released).
	s.holdAway(sess)
	if sess.call.remote != "" {
		s.sendNote(sess.call.remote, &peerMsg{Kind: kAway, User: sess.userID, Call: sess.call.id})
	} else if m := sess.call.member(sess.userID); m != nil && m.state == StateJoined {
		s.pushOthers(sess.call, sess.userID, "", true, &Frame{Type: TypeUserAway, CallID: sess.call.id, UserID: sess.userID})
		s.flush(nil, nil)
	}
}

// holdAway keeps an away session's place in its call for the grace period;
// if it is not back by then it leaves the call (reason connectionLost).
func (s *Server) holdAway(sess *session) {
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

// dropSession forgets a session and its timers (and, in a cluster, its
// presence record, unless the session moved to another node).
func (s *Server) dropSession(sess *session) {
	stopTimer(&sess.graceTimer)
	stopTimer(&sess.expiryTimer)
	stopTimer(&sess.iceTimer)
	if s.sessions[sess.userID] == sess {
		delete(s.sessions, sess.userID)
		if s.multi && sess.presRev != 0 && !sess.moved {
			s.cl.dropPresence(sess.userID, sess.presRev)
		}
	}
}

// leaveCall takes the session's user out of its current call. A call run
// by another node is told, without waiting (leaveRemote waits).
func (s *Server) leaveCall(sess *session, ev callEvent, reason Reason) {
	c := sess.call
	if c == nil {
		return
	}
	if c.remote != "" {
		sess.call = nil
		s.sendNote(c.remote, &peerMsg{Kind: kLeave, User: sess.userID, Call: c.id, Ev: ev, Reason: reason})
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

// tell queues f for member m of c: here, or on its node.
func (s *Server) tell(c *call, m *member, f *Frame) {
	if m.home == "" {
		s.push(m.userID, f)
		return
	}
	if m.away {
		return
	}
	b, err := EncodeFrame(f)
	if err != nil {
		s.log.Error("encode push", "type", f.Type, "err", err)
		return
	}
	s.queueRemote(c, m, f, b)
}

// queueRemote queues b, frame f encoded, for member m of c, a user of
// another node (m.home), with the call token it carries.
func (s *Server) queueRemote(c *call, m *member, f *Frame, b []byte) {
	it := peerItem{User: m.userID, Push: b}
	if f.CallToken != "" {
		it.Tok, it.Call = f.CallToken, c.id
	}
	s.out = append(s.out, outMsg{node: m.home, item: &it})
}

// isAway reports whether member m's connection is down.
func (s *Server) isAway(m *member) bool {
	if m.home != "" {
		return m.away
	}
	sess := s.sessions[m.userID]
	return sess == nil || sess.conn == nil
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
	s.out = append(s.out, outMsg{c: sess.conn, b: b})
}

// pushOthers queues f for the active participants of c other than ex1 and
// ex2 (only the joined ones when joinedOnly). It is encoded once.
func (s *Server) pushOthers(c *call, ex1, ex2 string, joinedOnly bool, f *Frame) {
	var b []byte
	for _, m := range c.members {
		if m.userID == ex1 || m.userID == ex2 || !m.state.Active() || (joinedOnly && m.state != StateJoined) {
			continue
		}
		var sess *session
		if m.home == "" {
			if sess = s.sessions[m.userID]; sess == nil || sess.conn == nil {
				continue
			}
		} else if m.away {
			continue
		}
		if b == nil {
			var err error
			if b, err = EncodeFrame(f); err != nil {
				s.log.Error("encode push", "type", f.Type, "err", err)
				return
			}
		}
		if sess == nil {
			s.queueRemote(c, m, f, b)
		} else {
			s.out = append(s.out, outMsg{c: sess.conn, b: b})
		}
	}
}

// flush hands the queued messages to their connections, after the reply to
// the current request (when there is one) so a client always sees its reply
// before the pushes the request caused.
func (s *Server) flush(to *conn, reply []byte) {
	if to != nil && reply != nil {
		to.enqueue(reply)
	}
	remote := false
	for i, m := range s.out {
		if m.c != nil {
			m.c.enqueue(m.b)
		} else {
			s.remoteOut[m.node] = append(s.remoteOut[m.node], *m.item)
			remote = true
		}
		s.out[i] = outMsg{}
	}
	s.out = s.out[:0]
	if remote {
		s.sendOut()
	}
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
