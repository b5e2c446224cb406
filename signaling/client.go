package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// ClientConfig configures a Client. Zero fields take the defaults named on
// them.
type ClientConfig struct {
	// URL is the server's WebSocket URL, ws://HOST:PORT/ws or wss://...
	URL string
	// URLs, when set, are the servers to use instead of URL: the nodes of
	// a cluster (PROTOCOL.md, "Several servers"). The client logs in to
	// the first that answers; when its connection drops it tries that
	// server again, then the others in turn, so it resumes on another node
	// when its own is gone.
	URLs []string
	// UserID and UserSig are the login: the user and their ticket.
	UserID  string
	UserSig string
	// Logger receives the client's logs (discarded). The client never writes
	// to stdout or stderr.
	Logger *slog.Logger
	// HTTPClient dials the WebSocket (http.DefaultClient); give one with a
	// custom TLS config for wss:// with a private CA.
	HTTPClient *http.Client
	// RequestTimeout bounds a request whose context has no deadline (10 s).
	RequestTimeout time.Duration
	// DialTimeout bounds each connection attempt and login (10 s).
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// reconnection attempts (200 ms, 5 s); each wait is jittered ±50 %.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
}

// Client is a logged-in connection to the call server. It sends requests and
// awaits their replies, delivers the server's pushes in order on Events, and
// reconnects by itself (exponential backoff with jitter) when the connection
// drops, logging in again and resuming its session, call included, when it
// is back within the server's grace period.
//
// A Client is safe for concurrent use. Close stops all of its goroutines.
type Client struct {
	cfg ClientConfig
	log *slog.Logger

	events chan Event
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup

	urls []string // the servers, in the order to try them

	mu        sync.Mutex
	cur       int             // index in urls of the server connected to (or tried last)
	ws        *websocket.Conn // nil unless connected
	state     ConnState
	up        chan struct{} // closed while connected; replaced on disconnect
	token     string
	session   SessionInfo
	heartbeat time.Duration
	pending   map[uint64]pendingRequest
	nextID    uint64
	stopErr   error // why the client went offline for good
	closed    bool
	// callID and callToken are the call this user is joined in and its
	// latest token, which the next login presents so a restarted server can
	// bring the call back; left is a call this user hung up or rejected,
	// whose tokens are not kept.
	callID, callToken, left string
	gone                    chan struct{} // closed when the client is offline for good
	goneOnce                sync.Once

	qmu    sync.Mutex
	queue  []Event
	notify chan struct{}
}

// pendingRequest is a request waiting for its reply.
type pendingRequest struct {
	reply chan *Frame
	// join is the call id of a join request, whose reply also goes into
	// the event stream (JoinAnswered); "" for other requests.
	join string
}

// Dial connects to the server and logs in. It fails with an error matching
// ErrUnreachable when no connection could be made, or the server's *Error
// (errors.Is ErrBadTicket, ErrTicketExpired, ...) when the login was refused.
// The first event on Events is a ConnEvent with State ConnConnected.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	urls := cfg.URLs
	if len(urls) == 0 && cfg.URL != "" {
		urls = []string{cfg.URL}
	}
	if len(urls) == 0 {
		return nil, errors.New("signaling: ClientConfig.URL is empty: give the server's ws:// URL")
	}
	for _, u := range urls {
		if u == "" {
			return nil, errors.New("signaling: ClientConfig.URLs holds an empty URL")
		}
	}
	if !ValidUserID(cfg.UserID) {
		return nil, fmt.Errorf("signaling: user ID %q must be 1-%d characters of A-Z a-z 0-9 _ -", cfg.UserID, MaxUserIDLen)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = 200 * time.Millisecond
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 5 * time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	c := &Client{
		cfg:     cfg,
		urls:    slices.Clone(urls),
		log:     cfg.Logger,
		events:  make(chan Event, 64),
		up:      make(chan struct{}),
		pending: make(map[uint64]pendingRequest),
		notify:  make(chan struct{}, 1),
		gone:    make(chan struct{}),
		state:   ConnConnecting,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = c.ctx.Done()
	ws, reply, err := c.connectAny(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.wg.Add(2)
	go c.deliver()
	c.online(ws, reply)
	go c.run(ws)
	return c, nil
}

// Events is the ordered stream of pushes and connection changes. Nothing is
// dropped: events queue up (without bound) until read. It is closed by
// Close.
func (c *Client) Events() <-chan Event { return c.events }

// UserID is the logged-in user.
func (c *Client) UserID() string { return c.cfg.UserID }

// URL is the server the client is connected to, or tried last.
func (c *Client) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.cur]
}

// connectAny tries each server once, from the current one on, and returns
// the first login that succeeds. A refusal that would be the same on every
// node of a cluster (bad or expired ticket, session replaced) ends it at
// once; an unreachable or shutting-down server moves on to the next.
func (c *Client) connectAny(ctx context.Context) (*websocket.Conn, *Frame, error) {
	var err error
	for range c.urls {
		var ws *websocket.Conn
		var reply *Frame
		if ws, reply, err = c.connect(ctx); err == nil {
			return ws, reply, nil
		}
		var se *Error
		if (errors.As(err, &se) && se.Code != CodeShuttingDown) || ctx.Err() != nil {
			return nil, nil, err
		}
		c.mu.Lock()
		c.cur = (c.cur + 1) % len(c.urls)
		c.mu.Unlock()
	}
	return nil, nil, err
}

// SessionInfo is what the server said at the latest login.
type SessionInfo struct {
	UserID string
	// TicketExpires is when the userSig expires; the server ends the
	// session then (TicketExpired event). Mint a new ticket before.
	TicketExpires time.Time
	// ServerTime is the server's clock at login.
	ServerTime time.Time
	// Heartbeat is how often the client pings; Grace how long the server
	// holds a dropped client's place in a call.
	Heartbeat, Grace time.Duration
	// MaxCallSize is the most participants in one call, caller included.
	MaxCallSize int
	// ICEServers are the STUN/TURN servers the server offered at this
	// login (an ICEServersChanged event brings newer ones).
	ICEServers []ICEServer
}

// Session returns what the server said at the latest login.
func (c *Client) Session() SessionInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// State is the current connection state.
func (c *Client) State() ConnState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Close logs out (ending any call this user is in at once, rather than after
// the grace period), closes the connection and stops every goroutine of the
// client. Events is closed; events not yet read are discarded.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.callID, c.callToken = "", ""
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.request(ctx, &Frame{Type: TypeLogout}, false)
		cancel()
	}
	c.cancel()
	c.mu.Lock()
	ws = c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.Close(websocket.StatusNormalClosure, "client closed")
	}
	c.wg.Wait()
	return nil
}

// connect dials the current server and logs in once.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, *Frame, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	c.mu.Lock()
	url, token, callToken := c.urls[c.cur], c.token, c.callToken
	c.mu.Unlock()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: c.cfg.HTTPClient})
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("%w: %s answered HTTP %s: %w", ErrUnreachable, url, resp.Status, err)
		}
		return nil, nil, fmt.Errorf("%w: %s: %w (is `softphone serve` running there?)", ErrUnreachable, url, err)
	}
	ws.SetReadLimit(hardFrameLimit)
	login := &Frame{Type: TypeLogin, ID: 1, Version: ProtocolVersion, UserID: c.cfg.UserID, UserSig: c.cfg.UserSig,
		Resume: token, CallToken: callToken}
	b, _ := EncodeFrame(login)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("%w: %s: login: %w", ErrUnreachable, url, err)
	}
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, nil, fmt.Errorf("%w: %s: no login reply: %w", ErrUnreachable, url, err)
		}
		f, err := DecodeFrame(msg)
		if err != nil || f.ID != 1 {
			continue
		}
		if f.Type == TypeError {
			ws.Close(websocket.StatusNormalClosure, "login refused")
			return nil, nil, &Error{Code: f.Code, Message: f.Message}
		}
		return ws, &f, nil
	}
}

// online installs a logged-in connection; false when the client was
// closed meanwhile (the connection is then closed too).
func (c *Client) online(ws *websocket.Conn, reply *Frame) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ws.CloseNow()
		return false
	}
	c.ws = ws
	c.state = ConnConnected
	c.token = reply.Token
	c.session = SessionInfo{
		UserID:        c.cfg.UserID,
		TicketExpires: time.Unix(reply.TicketExpires, 0),
		ServerTime:    time.UnixMilli(reply.ServerTime),
		Heartbeat:     time.Duration(reply.Heartbeat) * time.Second,
		Grace:         time.Duration(reply.Grace) * time.Second,
		MaxCallSize:   reply.MaxCallSize,
		ICEServers:    reply.ICEServers,
	}
	c.heartbeat = time.Duration(reply.Heartbeat) * time.Second
	if c.heartbeat <= 0 {
		c.heartbeat = 20 * time.Second
	}
	c.callID, c.callToken = "", ""
	if reply.Call != nil {
		c.keepToken(reply.Call.CallID, reply.CallToken)
	}
	close(c.up)
	c.mu.Unlock()
	c.log.Info("signaling connected", "user", c.cfg.UserID, "server", c.URL(), "resumed", reply.Resumed)
	c.emit(ConnEvent{State: ConnConnected, Resumed: reply.Resumed, Call: reply.Call, ICEServers: reply.ICEServers})
	return true
}

// offline detaches the connection and fails the requests waiting on it.
func (c *Client) offline(state ConnState, err error) {
	c.mu.Lock()
	c.ws = nil
	c.state = state
	select {
	case <-c.up:
		c.up = make(chan struct{})
	default:
	}
	pending := c.pending
	c.pending = make(map[uint64]pendingRequest)
	c.mu.Unlock()
	for _, p := range pending {
		p.reply <- nil
	}
	c.emit(ConnEvent{State: state, Err: err})
}

// run owns the connection: it reads until the connection drops, then
// reconnects until it is back, the client is closed, or the server refuses
// the login.
func (c *Client) run(ws *websocket.Conn) {
	defer c.wg.Done()
	for {
		err := c.serve(ws)
		c.mu.Lock()
		closed, stopErr := c.closed, c.stopErr
		c.mu.Unlock()
		if closed {
			c.terminate(ErrClosed)
			return
		}
		if stopErr != nil {
			c.terminate(stopErr)
			return
		}
		c.log.Info("signaling connection lost; reconnecting", "user", c.cfg.UserID, "err", err)
		c.offline(ConnReconnecting, err)
		ws = c.reconnect()
		if ws == nil {
			return
		}
	}
}

// reconnect dials with backoff until logged in again; nil when it gave up.
// Each round tries the server it was connected to, then the others in turn
// (connectAny), so a client of a cluster node that went away resumes on
// another one.
func (c *Client) reconnect() *websocket.Conn {
	wait := c.cfg.ReconnectMin
	for attempt := 1; ; attempt++ {
		d := time.Duration(float64(wait) * (0.5 + rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-c.done:
			t.Stop()
			c.terminate(ErrClosed)
			return nil
		case <-t.C:
		}
		ws, reply, err := c.connectAny(c.ctx)
		if err == nil {
			if !c.online(ws, reply) {
				c.terminate(ErrClosed)
				return nil
			}
			return ws
		}
		var se *Error
		if errors.As(err, &se) && se.Code == CodeSessionReplaced {
			// Kicked while away: the kicked push was missed, so raise it.
			c.log.Warn("signaling session taken over by a newer login", "user", c.cfg.UserID)
			c.emit(Kicked{Message: se.Message})
			c.terminate(fmt.Errorf("%w (%w)", ErrKicked, err))
			return nil
		}
		if errors.As(err, &se) && se.Code == CodeTicketExpired {
			// Expired while away: raise what the server would have said.
			c.log.Warn("signaling ticket expired while reconnecting", "user", c.cfg.UserID)
			c.emit(TicketExpired{Message: se.Message})
			c.terminate(fmt.Errorf("%w (%w)", ErrSessionExpired, err))
			return nil
		}
		if errors.As(err, &se) && (se.Code == CodeBadTicket || se.Code == CodeUnsupportedVersion) {
			c.log.Warn("signaling login refused; giving up", "user", c.cfg.UserID, "err", err)
			c.terminate(err)
			return nil
		}
		c.log.Debug("reconnect failed", "attempt", attempt, "err", err)
		wait *= 2
		if wait > c.cfg.ReconnectMax {
			wait = c.cfg.ReconnectMax
		}
	}
}

// serve reads one connection until it drops, with a heartbeat beside it.
func (c *Client) serve(ws *websocket.Conn) error {
	stopBeat := make(chan struct{})
	c.mu.Lock()
	beat := c.heartbeat
	c.mu.Unlock()
	c.wg.Add(1)
	go c.heartbeatLoop(ws, beat, stopBeat)
	defer close(stopBeat)
	var buf []byte
	for {
		// No context deadline per read: Close and the heartbeat close the
		// connection instead, which ends the read.
		_, r, err := ws.Reader(context.Background())
		if err != nil {
			ws.CloseNow()
			return err
		}
		var tooBig bool
		buf, tooBig, err = readMessage(r, buf[:0], hardFrameLimit)
		if err != nil || tooBig {
			ws.CloseNow()
			if err == nil {
				err = errors.New("server sent a message over 1 MiB")
			}
			return err
		}
		msg := buf
		if cap(buf) > 64<<10 {
			buf = nil // do not keep a rare huge buffer
		}
		f, err := DecodeFrame(msg)
		if err != nil {
			c.log.Warn("ignoring a message the server should not send", "err", err)
			continue
		}
		if f.ID != 0 && (f.Type == TypeOK || f.Type == TypeError) {
			c.mu.Lock()
			p, ok := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			if ok && p.join != "" && f.Type == TypeOK && f.Call != nil {
				// In the event stream at the reply's place: pushes before
				// it are about the previous participation.
				c.emit(JoinAnswered{CallID: p.join, Call: f.Call})
			}
			if ok {
				p.reply <- &f
			}
			continue
		}
		ev, ok := PushEvent(&f)
		if !ok {
			if f.Type == TypeError {
				c.log.Warn("server error", "code", f.Code, "message", f.Message)
			}
			continue
		}
		c.mu.Lock()
		switch f.Type {
		case TypeKicked, TypeTicketExpired:
			c.callID, c.callToken = "", ""
		case TypeCallEnded, TypeCallCancelled:
			if f.CallID == c.callID {
				c.callID, c.callToken = "", ""
			}
		default:
			c.keepToken(f.CallID, f.CallToken)
		}
		c.mu.Unlock()
		switch f.Type {
		case TypeKicked:
			c.setStop(ErrKicked)
		case TypeTicketExpired:
			c.setStop(ErrSessionExpired)
		}
		c.emit(ev)
	}
}

// keepToken notes the latest token of the call this user is in. c.mu held.
func (c *Client) keepToken(callID, token string) {
	if token != "" && callID != "" && callID != c.left {
		c.callID, c.callToken = callID, token
	}
}

// leaving forgets the token of a call this user leaves: a restarted server
// must not bring it back. c.mu not held.
func (c *Client) leaving(callID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left = callID
	if callID == "" || callID == c.callID {
		c.callID, c.callToken = "", ""
	}
}

// joining starts a new participation in callID (invited back, or joining
// back after leaving): its tokens count again. c.mu not held.
func (c *Client) joining(callID string) {
	c.mu.Lock()
	if c.left == callID {
		c.left = ""
	}
	c.mu.Unlock()
}

// terminate takes the client offline for good: requests fail with err.
func (c *Client) terminate(err error) {
	c.setStop(err)
	c.offline(ConnOffline, err)
	c.goneOnce.Do(func() { close(c.gone) })
}

func (c *Client) setStop(err error) {
	c.mu.Lock()
	if c.stopErr == nil {
		c.stopErr = err
	}
	c.mu.Unlock()
}

// heartbeatLoop pings so the server keeps the connection, and drops a
// connection whose server stopped answering so that reconnection starts.
func (c *Client) heartbeatLoop(ws *websocket.Conn, every time.Duration, stop chan struct{}) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-c.done:
			return
		case <-t.C:
		}
		// The watchdog also covers a write stuck on a server that stopped
		// reading: closing the connection ends it.
		watchdog := time.AfterFunc(every, func() {
			c.log.Info("server did not answer a ping in time; reconnecting")
			ws.CloseNow()
		})
		ctx, cancel := context.WithTimeout(context.Background(), every)
		c.request(ctx, &Frame{Type: TypePing}, false)
		cancel()
		watchdog.Stop()
	}
}

// emit queues an event for delivery.
func (c *Client) emit(e Event) {
	c.qmu.Lock()
	c.queue = append(c.queue, e)
	c.qmu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// deliver moves queued events to the Events channel, in order.
func (c *Client) deliver() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.qmu.Lock()
		q := c.queue
		c.queue = nil
		c.qmu.Unlock()
		for _, e := range q {
			select {
			case c.events <- e:
			case <-c.done:
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-c.notify:
		case <-c.done:
			return
		}
	}
}

// request sends f and waits for its reply. With wait, it first waits for the
// connection to be up (while reconnecting); otherwise it fails at once when
// there is no connection.
func (c *Client) request(ctx context.Context, f *Frame, wait bool) (*Frame, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	for {
		c.mu.Lock()
		if c.stopErr != nil && c.ws == nil {
			err := c.stopErr
			c.mu.Unlock()
			return nil, err
		}
		if c.closed && (c.ws == nil || f.Type != TypeLogout) {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if c.ws != nil {
			break
		}
		up := c.up
		c.mu.Unlock()
		if !wait {
			return nil, ErrConnectionLost
		}
		select {
		case <-up:
		case <-c.gone: // the loop's first check returns why
		case <-c.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("signaling: %s: not connected: %w", f.Type, ctx.Err())
		}
	}
	c.nextID++
	if c.nextID == 1 {
		c.nextID++ // 1 is the login's id
	}
	f.ID = c.nextID
	ch := make(chan *Frame, 1)
	p := pendingRequest{reply: ch}
	if f.Type == TypeJoin {
		p.join = f.CallID
	}
	c.pending[f.ID] = p
	ws := c.ws
	c.mu.Unlock()

	b, err := EncodeFrame(f)
	if err != nil {
		c.forget(f.ID)
		return nil, fmt.Errorf("signaling: encode %s: %w", f.Type, err)
	}
	// Not the caller's context: the WebSocket library closes the
	// connection when a write's context ends mid-write, and a caller giving
	// up on one request must not cut the connection for all of them. A
	// write to a server that stopped reading ends when the heartbeat gives
	// up on it, or on Close.
	if err := ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.forget(f.ID)
		return nil, fmt.Errorf("%w: %s: %w", ErrConnectionLost, f.Type, err)
	}
	select {
	case r := <-ch:
		if r == nil {
			return nil, fmt.Errorf("%w (%s)", ErrConnectionLost, f.Type)
		}
		if r.Type == TypeError {
			return nil, &Error{Code: r.Code, Message: r.Message}
		}
		return r, nil
	case <-ctx.Done():
		c.forget(f.ID)
		return nil, fmt.Errorf("signaling: %s: no reply: %w", f.Type, ctx.Err())
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// InviteParams describes a new call.
type InviteParams struct {
	// UserIDs are the invitees: one for a 1:1 call, several for a group
	// call.
	UserIDs []string
	// GroupID optionally tags a group call.
	GroupID string
	// MediaType is voice (default) or video.
	MediaType MediaType
	// UserData is shown to the invitees.
	UserData string
	// Timeout is how long the invitation rings: 0 for the server's default,
	// else 1 s to 600 s (rounded up to whole seconds).
	Timeout time.Duration
	// RoomID asks for a specific room; the zero value lets the server pick.
	RoomID RoomID
}

func timeoutSeconds(d time.Duration) (int, error) {
	if d == 0 {
		return 0, nil
	}
	sec := int((d + time.Second - 1) / time.Second)
	if d < time.Second || sec > maxTimeoutSeconds {
		return 0, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("timeout %v is outside 1s-600s", d)}
	}
	return sec, nil
}

// Invite places a call. The reply carries the new call's id, room and
// participants; outcomes (ringing, busy, offline...) follow as pushes.
func (c *Client) Invite(ctx context.Context, p InviteParams) (*CallInfo, error) {
	sec, err := timeoutSeconds(p.Timeout)
	if err != nil {
		return nil, err
	}
	f := &Frame{Type: TypeInvite, CalleeIDs: p.UserIDs, GroupID: p.GroupID, MediaType: p.MediaType,
		UserData: p.UserData, Timeout: sec}
	if !p.RoomID.IsZero() {
		room := p.RoomID
		f.RoomID = &room
	}
	return c.callReply(c.request(ctx, f, true))
}

// Accept answers an incoming call.
func (c *Client) Accept(ctx context.Context, callID string) (*CallInfo, error) {
	c.joining(callID)
	return c.callReply(c.request(ctx, &Frame{Type: TypeAccept, CallID: callID}, true))
}

// Reject declines an incoming call.
func (c *Client) Reject(ctx context.Context, callID string) error {
	c.leaving(callID)
	_, err := c.request(ctx, &Frame{Type: TypeReject, CallID: callID}, true)
	return err
}

// Hangup leaves a call. For a caller whose invitees are all still ringing it
// cancels the call; for a ringing invitee it declines.
func (c *Client) Hangup(ctx context.Context, callID string) error {
	c.leaving(callID)
	_, err := c.request(ctx, &Frame{Type: TypeHangup, CallID: callID}, true)
	return err
}

// InviteMore invites more users into a call this user is joined in.
// timeout works as in InviteParams.
func (c *Client) InviteMore(ctx context.Context, callID string, userIDs []string, timeout time.Duration) (*CallInfo, error) {
	sec, err := timeoutSeconds(timeout)
	if err != nil {
		return nil, err
	}
	return c.callReply(c.request(ctx, &Frame{Type: TypeInviteMore, CallID: callID, CalleeIDs: userIDs, Timeout: sec}, true))
}

// Join enters a live call this user was invited to: it answers while
// ringing, and comes back after leaving, rejecting or not answering. A
// JoinAnswered event marks the reply's place among the pushes.
func (c *Client) Join(ctx context.Context, callID string) (*CallInfo, error) {
	c.joining(callID)
	return c.callReply(c.request(ctx, &Frame{Type: TypeJoin, CallID: callID}, true))
}

// SwitchMedia changes the call's media type; everyone in the call, this
// user included, gets a MediaChanged event.
func (c *Client) SwitchMedia(ctx context.Context, callID string, m MediaType) error {
	_, err := c.request(ctx, &Frame{Type: TypeSwitchMedia, CallID: callID, MediaType: m}, true)
	return err
}

// Relay sends a JSON payload (an SDP offer or answer, an ICE candidate, a
// small app message: an object with a "kind", PROTOCOL.md) to participant
// to of the same call. The server refuses a malformed one (ErrInvalid).
func (c *Client) Relay(ctx context.Context, callID, to string, payload json.RawMessage) error {
	if to == "" {
		return &Error{Code: CodeInvalidArgument, Message: "relay needs a recipient; use RelayAll for everyone"}
	}
	_, err := c.request(ctx, &Frame{Type: TypeRelay, CallID: callID, To: to, Payload: payload}, true)
	return err
}

// RelayAll sends a JSON payload (as for Relay) to every other joined
// participant.
func (c *Client) RelayAll(ctx context.Context, callID string, payload json.RawMessage) error {
	_, err := c.request(ctx, &Frame{Type: TypeRelay, CallID: callID, Payload: payload}, true)
	return err
}

// Sync returns this user's current call as the server sees it, or nil.
func (c *Client) Sync(ctx context.Context) (*CallInfo, error) {
	r, err := c.request(ctx, &Frame{Type: TypeSync}, true)
	if err != nil {
		return nil, err
	}
	return r.Call, nil
}

// Ping measures the round trip to the server.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.request(ctx, &Frame{Type: TypePing}, true)
	return time.Since(start), err
}

func (c *Client) callReply(r *Frame, err error) (*CallInfo, error) {
	if err != nil {
		return nil, err
	}
	if r.Call == nil {
		return nil, &Error{Code: CodeInternal, Message: "the server's reply has no call"}
	}
	return r.Call, nil
}
