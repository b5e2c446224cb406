package signaling

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file keeps strangers from locking users out (PROTOCOL.md, "Limits").
// Every TCP connection Serve accepts is counted from its first byte: it is
// unauthenticated until its WebSocket logs in. Unauthenticated connections
// are capped overall and per source address, and closed when they have not
// logged in within the login deadline; all connections together stay below
// the process's open-file limit, with room left for the listener, the log
// and the logins themselves. Over a cap, an unauthenticated connection
// makes room for the new one: over the per-address cap, that address's
// oldest; over the overall caps, the oldest of the address that holds the
// most. A flood from one address only ever evicts itself, and a flood from
// many addresses evicts its own connections before it can touch a client
// that connected from an address of its own and logs in a few milliseconds
// later.

// fdHeadroom is how many descriptors the server keeps for other than client
// connections (listeners, logs, the TURN server's sockets, accept itself):
// a sixteenth of the limit, at least 32 and at most 256.
func fdHeadroom(limit int) int { return min(max(limit/16, 32), 256) }

// FileBudget is how many descriptors this process may give to connections
// and sockets: its open-file limit less fdHeadroom. Config.MaxConnections
// defaults to it; a process that runs more (the TURN server's sockets)
// sets MaxConnections to what is left of it.
func FileBudget() int {
	lim := openFileLimit()
	if lim == 0 {
		return 1 << 20
	}
	return lim - fdHeadroom(lim)
}

// openFileLimit is the process's soft RLIMIT_NOFILE (Go raises it to the
// hard limit at start-up), or 0 when unknown.
func openFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}

// addrKey is the source address a connection is counted under: its IP, or
// for IPv6 its /64 (one subscriber's prefix).
func addrKey(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// tracked is one accepted TCP connection, counted until it closes.
type tracked struct {
	net.Conn
	t      *tracker
	key    string
	at     int64 // Server.since() when accepted
	once   sync.Once
	closed atomic.Bool

	// Guarded by tracker.mu.
	pending bool
	all     link // in tracker.all: every unauthenticated connection, oldest first
	addr    link // in its addrList: the same, per source address
}

// link is a tracked connection's place in a connList.
type link struct{ prev, next *tracked }

// connList is an intrusive list of tracked connections, oldest first; at
// picks which of a connection's links it uses.
type connList struct {
	head, tail *tracked
	n          int
	at         func(*tracked) *link
}

func (l *connList) push(tc *tracked) {
	l.at(tc).prev = l.tail
	if l.tail != nil {
		l.at(l.tail).next = tc
	} else {
		l.head = tc
	}
	l.tail = tc
	l.n++
}

func (l *connList) remove(tc *tracked) {
	k := l.at(tc)
	if k.prev != nil {
		l.at(k.prev).next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		l.at(k.next).prev = k.prev
	} else {
		l.tail = k.prev
	}
	*k = link{}
	l.n--
}

func allLink(tc *tracked) *link  { return &tc.all }
func addrLink(tc *tracked) *link { return &tc.addr }

// Close closes the connection and stops counting it; it may be called any
// number of times.
func (tc *tracked) Close() error {
	tc.closed.Store(true)
	tc.once.Do(tc.t.forget(tc))
	return tc.Conn.Close()
}

// addrList is the unauthenticated connections of one source address.
type addrList struct {
	key string
	connList
}

// tracker counts connections and enforces the caps.
type tracker struct {
	s *Server

	mu     sync.Mutex
	open   int      // tracked connections not closed
	all    connList // of which unauthenticated
	byAddr map[string]*addrList
	// byCount groups the addresses by how many unauthenticated connections
	// they hold; most is the largest such count.
	byCount map[int]map[*addrList]struct{}
	most    int
	tally   limitTally
}

// limitTally counts what the limits did since the last log line.
type limitTally struct {
	refused, evictedAddr, evictedAll, loginDeadline, idle, flooding, slow int
}

func (t limitTally) any() bool { return t != limitTally{} }

func newTracker(s *Server) *tracker {
	return &tracker{s: s, all: connList{at: allLink}, byAddr: map[string]*addrList{}, byCount: map[int]map[*addrList]struct{}{}}
}

// recount moves al from the group of count from to that of its count now.
// t.mu held.
func (t *tracker) recount(al *addrList, from int) {
	if g := t.byCount[from]; g != nil {
		delete(g, al)
		if len(g) == 0 {
			delete(t.byCount, from)
		}
	}
	if al.n > 0 {
		g := t.byCount[al.n]
		if g == nil {
			g = map[*addrList]struct{}{}
			t.byCount[al.n] = g
		}
		g[al] = struct{}{}
	}
	for t.most > 0 && t.byCount[t.most] == nil {
		t.most--
	}
	t.most = max(t.most, al.n)
}

// crowded returns the oldest unauthenticated connection of the address
// that holds the most, or nil. t.mu held.
func (t *tracker) crowded() *tracked {
	for al := range t.byCount[t.most] {
		return al.head
	}
	return nil
}

// admit counts a freshly accepted connection and returns it wrapped, or
// closes it and returns nil when it cannot be let in.
func (t *tracker) admit(c net.Conn) *tracked {
	cfg := &t.s.cfg
	tc := &tracked{Conn: c, t: t, key: addrKey(c.RemoteAddr()), at: t.s.since()}
	var victim *tracked
	t.mu.Lock()
	switch al := t.byAddr[tc.key]; {
	case al != nil && al.n >= cfg.MaxUnauthenticatedPerAddress:
		victim = al.head
		t.tally.evictedAddr++
	case t.all.n >= cfg.MaxUnauthenticated:
		victim = t.crowded()
		t.tally.evictedAll++
	}
	if victim == nil && t.open >= cfg.MaxConnections {
		if victim = t.crowded(); victim == nil {
			// Every connection is a logged-in user: the server is full.
			t.tally.refused++
			t.mu.Unlock()
			c.Close()
			return nil
		}
		t.tally.evictedAll++
	}
	if victim != nil {
		t.unlink(victim)
	}
	t.open++
	t.link(tc)
	t.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return tc
}

// forget returns the func that stops counting tc (for its sync.Once).
func (t *tracker) forget(tc *tracked) func() {
	return func() {
		t.mu.Lock()
		t.unlink(tc)
		t.open--
		t.mu.Unlock()
	}
}

// loggedIn stops counting tc as unauthenticated.
func (t *tracker) loggedIn(tc *tracked) {
	t.mu.Lock()
	t.unlink(tc)
	t.mu.Unlock()
}

// link adds tc at the end of the unauthenticated lists. t.mu held.
func (t *tracker) link(tc *tracked) {
	tc.pending = true
	t.all.push(tc)
	al := t.byAddr[tc.key]
	if al == nil {
		al = &addrList{key: tc.key, connList: connList{at: addrLink}}
		t.byAddr[tc.key] = al
	}
	al.push(tc)
	t.recount(al, al.n-1)
}

// unlink takes tc out of the unauthenticated lists, if it is in them.
// t.mu held.
func (t *tracker) unlink(tc *tracked) {
	if !tc.pending {
		return
	}
	tc.pending = false
	t.all.remove(tc)
	al := t.byAddr[tc.key]
	al.remove(tc)
	t.recount(al, al.n+1)
	if al.n == 0 {
		delete(t.byAddr, tc.key)
	}
}

// expire closes the connections that have not logged in by the deadline.
func (t *tracker) expire(now int64) {
	deadline := int64(t.s.cfg.LoginTimeout)
	var late []*tracked
	t.mu.Lock()
	for tc := t.all.head; tc != nil && now-tc.at >= deadline; tc = t.all.head {
		t.unlink(tc)
		late = append(late, tc)
	}
	t.tally.loginDeadline += len(late)
	t.mu.Unlock()
	for _, tc := range late {
		tc.Close()
	}
}

// counts returns the open and unauthenticated connections.
func (t *tracker) counts() (open, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open, t.all.n
}

// note adds to the tally that the next log line reports.
func (t *tracker) note(f func(*limitTally)) {
	t.mu.Lock()
	f(&t.tally)
	t.mu.Unlock()
}

// logTally writes one line for what the limits did since the last one.
func (t *tracker) logTally(log *slog.Logger, every time.Duration) {
	t.mu.Lock()
	k := t.tally
	t.tally = limitTally{}
	open, pending := t.open, t.all.n
	t.mu.Unlock()
	if !k.any() {
		return
	}
	level := slog.LevelInfo
	if k.refused+k.evictedAddr+k.evictedAll+k.flooding > 0 {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "connection limits at work", "over", every,
		"refusedServerFull", k.refused, "evictedPerAddressCap", k.evictedAddr, "evictedUnauthenticatedCap", k.evictedAll,
		"closedNoLogin", k.loginDeadline, "closedIdle", k.idle, "closedFlooding", k.flooding, "closedTooSlow", k.slow,
		"open", open, "unauthenticated", pending)
}

// limitListener counts and caps the connections it accepts.
type limitListener struct {
	net.Listener
	t *tracker
}

func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.t.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// capListener lets at most max connections be open at once, and perAddr of
// one source address; over either it closes a new connection at once. It
// guards a listener whose clients have no login to wait for (the TURN
// server's TCP side), so that they cannot take the descriptors everyone
// else needs.
type capListener struct {
	net.Listener
	max, perAddr int
	refused      atomic.Int64

	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

func newCapListener(ln net.Listener, max, perAddr int) *capListener {
	return &capListener{Listener: ln, max: max, perAddr: perAddr, byAddr: map[string]int{}}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open < l.max && l.byAddr[key] < l.perAddr
		if ok {
			l.open++
			l.byAddr[key]++
		}
		l.mu.Unlock()
		if ok {
			return &cappedConn{Conn: c, l: l, key: key}, nil
		}
		l.refused.Add(1)
		c.Close()
	}
}

type cappedConn struct {
	net.Conn
	l    *capListener
	key  string
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		if c.l.byAddr[c.key]--; c.l.byAddr[c.key] == 0 {
			delete(c.l.byAddr, c.key)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// trackedKey is the request context key of a connection's *tracked.
type trackedKey struct{}

// connContext hands a request the tracked connection it arrived on.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*tracked); ok {
		return context.WithValue(ctx, trackedKey{}, tc)
	}
	return ctx
}
