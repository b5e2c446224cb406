package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// TURNConfig configures a TURNServer. Zero fields take the defaults named on
// them.
type TURNConfig struct {
	// Listen is the address of the STUN/TURN service, the same port on UDP
	// and TCP (":3478"). Port 0 picks a port free on both.
	Listen string
	// PublicIP is the address told to clients, in the URLs and in relay
	// candidates. Default: the listen address when it names one, else
	// this machine's first non-loopback IPv4 address.
	PublicIP net.IP
	// MinPort and MaxPort bound the UDP ports of relays (49160-49200).
	MinPort, MaxPort int
	// Secret is the TURN REST shared secret (TURNSecret of the server key).
	// Required.
	Secret string
	// Realm is the TURN realm ("softphone").
	Realm string
	// AllowPrivate lets relays reach loopback, private, link-local and the
	// other denied blocks (deniedPeers), and this machine's own addresses.
	// Off, a relay reaches only public addresses and other relays of this
	// server.
	AllowPrivate bool
	// UserAllocations caps the relays one user holds at once (20: a phone
	// takes two per peer, UDP and TCP, and a call has at most 8 peers).
	UserAllocations int
	// UserBitrate caps the traffic one user's relays carry, both
	// directions together, in bits per second (4,000,000). Packets over
	// it are dropped.
	UserBitrate int
	// MaxTCP caps the TCP connections to the service (an eighth of the
	// open-file limit, 16 to 1024), MaxTCPPerAddress those from one
	// address (32; IPv6 by /64). Over a cap a new connection is closed at
	// once: nobody can take the process's descriptors this way.
	MaxTCP, MaxTCPPerAddress int
	// Logger receives the server's logs (discarded).
	Logger *slog.Logger
}

// TURNServer is a STUN and TURN server (pion/turn) that relays only for
// users of this call server: credentials come from the login reply
// (ICEService), relays reach only public addresses (unless AllowPrivate),
// and each user has quotas of relays and bandwidth.
type TURNServer struct {
	cfg      TURNConfig
	log      *slog.Logger
	srv      *turn.Server
	udp      net.PacketConn
	tcp      net.Listener
	port     int
	publicIP netip.Addr
	own      map[netip.Addr]bool // this machine's addresses
	limited  rateLimitedLog

	mu    sync.Mutex
	users map[string]*turnUser

	allocations, refusedAuth, refusedPeer, refusedQuota, dropped atomic.Int64
	relayedBytes                                                 atomic.Int64
}

// TURNStats are a TURNServer's counters.
type TURNStats struct {
	Allocations   int   // open relays now
	RelayedBytes  int64 // bytes relayed, both directions
	RefusedAuth   int64 // requests with bad or expired credentials
	RefusedPeers  int64 // permissions refused (denied addresses)
	RefusedQuota  int64 // relays refused: the user's quota was full
	DroppedPacket int64 // packets dropped: over a user's bandwidth, or to a denied port
}

// turnUser is one user's quota state.
type turnUser struct {
	allocs int
	// token bucket in bytes, refilled at the user's rate
	tokens float64
	last   time.Time
	// dropped counts packets dropped since the last log line about them
	dropped  int64
	loggedAt time.Time
}

// StartTURN listens on cfg.Listen (UDP and TCP) and serves STUN and TURN
// until Close.
func StartTURN(cfg TURNConfig) (*TURNServer, error) {
	if cfg.Secret == "" {
		return nil, errors.New("turn: TURNConfig.Secret is empty")
	}
	if cfg.Listen == "" {
		cfg.Listen = ":3478"
	}
	if cfg.MinPort == 0 && cfg.MaxPort == 0 {
		cfg.MinPort, cfg.MaxPort = 49160, 49200
	}
	if cfg.MinPort < 1 || cfg.MaxPort > 65535 || cfg.MinPort > cfg.MaxPort {
		return nil, fmt.Errorf("turn: relay ports %d-%d: want 1 ≤ MIN ≤ MAX ≤ 65535", cfg.MinPort, cfg.MaxPort)
	}
	if cfg.Realm == "" {
		cfg.Realm = "softphone"
	}
	if cfg.UserAllocations <= 0 {
		cfg.UserAllocations = 20
	}
	if cfg.UserBitrate <= 0 {
		cfg.UserBitrate = 4_000_000
	}
	if cfg.MaxTCP <= 0 {
		cfg.MaxTCP = min(max(openFileLimit()/8, 16), 1024)
	}
	if cfg.MaxTCPPerAddress <= 0 {
		cfg.MaxTCPPerAddress = min(32, cfg.MaxTCP)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &TURNServer{cfg: cfg, log: cfg.Logger, users: map[string]*turnUser{}}
	t.limited = rateLimitedLog{logger: t.log, every: 30 * time.Second}

	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn: listen address %q: %w", cfg.Listen, err)
	}
	if err := t.listen(); err != nil {
		return nil, err
	}
	t.publicIP, err = choosePublicIP(cfg.PublicIP, host)
	if errors.Is(err, errNoPublicIP) {
		t.log.Warn("TURN: " + err.Error())
	} else if err != nil {
		t.closeListeners()
		return nil, err
	}
	t.own = ownAddresses()
	t.own[t.publicIP] = true

	relayHost := "0.0.0.0"
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		relayHost = ip.String()
	}
	gen := &relayGenerator{t: t, inner: &turn.RelayAddressGeneratorPortRange{
		RelayAddress: net.IP(t.publicIP.AsSlice()),
		Address:      relayHost,
		MinPort:      uint16(cfg.MinPort),
		MaxPort:      uint16(cfg.MaxPort),
		MaxRetries:   min(cfg.MaxPort-cfg.MinPort+1, 40),
	}}
	auth := turn.LongTermTURNRESTAuthHandler(cfg.Secret, turnLogger{t.log})
	t.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: turnLogger{t.log},
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return t.authenticate(ra, auth)
		},
		QuotaHandler: t.quotaAllows,
		EventHandler: turn.EventHandler{
			OnAuth: func(src, _ net.Addr, proto, username, _, method string, ok bool) {
				if !ok {
					t.refusedAuth.Add(1)
					t.limited.warn("auth:"+src.String(), "TURN request refused: wrong credentials", "from", src, "transport", proto, "username", username, "method", method)
				}
			},
			OnAllocationCreated: func(src, _ net.Addr, proto, user, _ string, relay net.Addr, _ int) {
				t.allocations.Add(1)
				t.log.Debug("TURN relay opened", "user", user, "client", src, "transport", proto, "relay", relay)
			},
			OnAllocationDeleted: func(src, _ net.Addr, proto, user, _ string) {
				t.allocations.Add(-1)
				t.log.Debug("TURN relay closed", "user", user, "client", src, "transport", proto)
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: t.udp, RelayAddressGenerator: gen, PermissionHandler: t.permit}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: t.tcp, RelayAddressGenerator: gen, PermissionHandler: t.permit}},
	})
	if err != nil {
		t.closeListeners()
		return nil, fmt.Errorf("turn: %w", err)
	}
	return t, nil
}

// listen opens the UDP and TCP sockets on one port. With port 0 the UDP
// socket picks the port and TCP takes the same one, retrying when TCP
// finds it taken.
func (t *TURNServer) listen() error {
	host, port, _ := net.SplitHostPort(t.cfg.Listen)
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp4", net.JoinHostPort(host, port))
		if err != nil {
			return fmt.Errorf("turn: listen on UDP %s: %w (is another TURN server running? --turn off, or --turn-listen another port)", t.cfg.Listen, err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			udp.Close()
			if port == "0" && attempt < 10 {
				continue
			}
			return fmt.Errorf("turn: listen on TCP %s: %w", net.JoinHostPort(host, strconv.Itoa(p)), err)
		}
		t.udp, t.tcp, t.port = udp, newCapListener(tcp, t.cfg.MaxTCP, t.cfg.MaxTCPPerAddress), p
		return nil
	}
}

func (t *TURNServer) closeListeners() {
	t.udp.Close()
	t.tcp.Close()
}

// choosePublicIP picks the address told to clients: the configured one, the
// listen host when it names an address, else the first non-loopback IPv4
// address of this machine.
func choosePublicIP(configured net.IP, listenHost string) (netip.Addr, error) {
	if configured != nil {
		a, ok := netip.AddrFromSlice(configured)
		if !ok || !a.Unmap().Is4() || a.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("turn: public IP %v: want an IPv4 address", configured)
		}
		return a.Unmap(), nil
	}
	if a, err := netip.ParseAddr(listenHost); err == nil && !a.IsUnspecified() {
		if !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("turn: listen address %s: the TURN server speaks IPv4 only", listenHost)
		}
		return a.Unmap(), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				ip, _ := netip.AddrFromSlice(n.IP.To4())
				return ip, nil
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}), errNoPublicIP
}

// errNoPublicIP: the machine has no address but loopback; the server
// starts anyway (it still serves phones on this machine) and says so.
var errNoPublicIP = errors.New("this machine has no IPv4 address but loopback: phones elsewhere cannot reach STUN/TURN at 127.0.0.1 (give --turn-public-ip)")

// ownAddresses are this machine's interface addresses.
func ownAddresses() map[netip.Addr]bool {
	own := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				own[ip.Unmap()] = true
			}
		}
	}
	return own
}

// Port is the STUN/TURN port (UDP and TCP).
func (t *TURNServer) Port() int { return t.port }

// PublicIP is the address told to clients.
func (t *TURNServer) PublicIP() netip.Addr { return t.publicIP }

// Service is the ICEService that hands this server's URLs to users, with
// credentials under the same secret.
func (t *TURNServer) Service() *ICEService {
	hp := net.JoinHostPort(t.publicIP.String(), strconv.Itoa(t.port))
	return &ICEService{
		STUN:   []string{"stun:" + hp},
		TURN:   []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"},
		Secret: t.cfg.Secret,
	}
}

// Stats returns the server's counters.
func (t *TURNServer) Stats() TURNStats {
	return TURNStats{
		Allocations:   int(t.allocations.Load()),
		RelayedBytes:  t.relayedBytes.Load(),
		RefusedAuth:   t.refusedAuth.Load(),
		RefusedPeers:  t.refusedPeer.Load(),
		RefusedQuota:  t.refusedQuota.Load(),
		DroppedPacket: t.dropped.Load(),
	}
}

// Descriptors is the most descriptors the server holds: its two listeners,
// a relay per port of the range, and MaxTCP connections.
func (t *TURNServer) Descriptors() int {
	return 2 + t.cfg.MaxPort - t.cfg.MinPort + 1 + t.cfg.MaxTCP
}

// Close stops the server and closes every relay.
func (t *TURNServer) Close() error { return t.srv.Close() }

// authenticate checks the shape of a TURN REST username before the
// shared-secret check: EXPIRY:USERID with a valid user id and an expiry in
// the future. A wrong password is caught after this, by the message
// integrity check (OnAuth logs it).
func (t *TURNServer) authenticate(ra *turn.RequestAttributes, check turn.AuthHandler) (string, []byte, bool) {
	exp, user, ok := strings.Cut(ra.Username, ":")
	sec, err := strconv.ParseInt(exp, 10, 64)
	switch {
	case !ok || err != nil || !ValidUserID(user):
		t.refusedAuth.Add(1)
		t.limited.warn("auth:"+ra.SrcAddr.String(), "TURN request refused: not a softphone TURN username", "from", ra.SrcAddr, "username", ra.Username)
		return "", nil, false
	case time.Unix(sec, 0).Before(time.Now()):
		t.refusedAuth.Add(1)
		t.limited.warn("auth:"+ra.SrcAddr.String(), "TURN request refused: credentials expired (the client must log in again)", "from", ra.SrcAddr, "user", user, "expired", time.Unix(sec, 0).UTC().Format(time.RFC3339))
		return "", nil, false
	}
	return check(ra)
}

// permit decides CreatePermission and ChannelBind: which peers a relay may
// send to. Another relay of this server is always allowed (two phones
// that both need the relay); the rest of this machine and the denied
// blocks only with AllowPrivate. Sending to this machine's relay address
// outside the relay ports is stopped per packet (relayConn.WriteTo).
func (t *TURNServer) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	if t.cfg.AllowPrivate || ip == t.publicIP {
		return true
	}
	if t.own[ip] || deniedPeer(ip) {
		t.refusedPeer.Add(1)
		t.limited.warn("peer:"+client.String(), "TURN permission refused: relays do not reach private, loopback, link-local or this server's own addresses (--turn-allow-private allows them)", "client", client, "peer", ip)
		return false
	}
	return true
}

// quotaAllows decides a new allocation for user: refused (486) once the
// user holds UserAllocations relays.
func (t *TURNServer) quotaAllows(user, _ string, src net.Addr) bool {
	t.mu.Lock()
	n := 0
	if u := t.users[user]; u != nil {
		n = u.allocs
	}
	t.mu.Unlock()
	if n >= t.cfg.UserAllocations {
		t.refusedQuota.Add(1)
		t.limited.warn("quota:"+user, "TURN relay refused: the user holds the most relays allowed (--turn-user-allocations)", "user", user, "from", src, "relays", n, "limit", t.cfg.UserAllocations)
		return false
	}
	return true
}

// acquire counts a new relay for user, enforcing the quota again (two TCP
// clients may pass quotaAllows at once).
func (t *TURNServer) acquire(user string) (*turnUser, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[user]
	if u == nil {
		u = &turnUser{tokens: float64(t.cfg.UserBitrate) / 8, last: time.Now()}
		t.users[user] = u
	}
	if u.allocs >= t.cfg.UserAllocations {
		t.refusedQuota.Add(1)
		return nil, fmt.Errorf("user %s holds %d relays, the most allowed", user, u.allocs)
	}
	u.allocs++
	return u, nil
}

func (t *TURNServer) release(user string, u *turnUser) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u.allocs--
	if u.allocs <= 0 && t.users[user] == u {
		delete(t.users, user)
	}
}

// admit takes n bytes of user's bandwidth; false means drop the packet.
func (t *TURNServer) admit(user string, u *turnUser, n int) bool {
	rate := float64(t.cfg.UserBitrate) / 8 // bytes per second; a burst of one second
	t.mu.Lock()
	now := time.Now()
	u.tokens = min(rate, u.tokens+now.Sub(u.last).Seconds()*rate)
	u.last = now
	if u.tokens >= float64(n) {
		u.tokens -= float64(n)
		t.mu.Unlock()
		t.relayedBytes.Add(int64(n))
		return true
	}
	u.dropped++
	logIt := now.Sub(u.loggedAt) >= 30*time.Second
	var dropped int64
	if logIt {
		u.loggedAt, dropped, u.dropped = now, u.dropped, 0
	}
	t.mu.Unlock()
	t.dropped.Add(1)
	if logIt {
		t.log.Warn("TURN user over the bandwidth quota: dropping relayed packets (--turn-user-kbps)", "user", user, "limit_kbps", t.cfg.UserBitrate/1000, "dropped", dropped)
	}
	return false
}

// relayGenerator opens relays in the port range, counting them against
// their user's quota and wrapping them in relayConn. Relays are UDP only:
// TCP relays (RFC 6062) would let credentials reach TCP services, and no
// WebRTC client asks for them.
type relayGenerator struct {
	t     *TURNServer
	inner *turn.RelayAddressGeneratorPortRange
}

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

func (g *relayGenerator) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if c.RequestedPort != 0 && (c.RequestedPort < g.t.cfg.MinPort || c.RequestedPort > g.t.cfg.MaxPort) {
		return nil, nil, fmt.Errorf("requested relay port %d is outside %d-%d", c.RequestedPort, g.t.cfg.MinPort, g.t.cfg.MaxPort)
	}
	u, err := g.t.acquire(c.UserID)
	if err != nil {
		g.t.limited.warn("quota:"+c.UserID, "TURN relay refused: "+err.Error(), "user", c.UserID)
		return nil, nil, err
	}
	conn, addr, err := g.inner.AllocatePacketConn(c)
	if err != nil {
		g.t.release(c.UserID, u)
		g.t.limited.warn("ports", "TURN relay refused: no free relay port (--turn-ports)", "user", c.UserID, "ports", fmt.Sprintf("%d-%d", g.t.cfg.MinPort, g.t.cfg.MaxPort), "err", err)
		return nil, nil, err
	}
	return &relayConn{PacketConn: conn, t: g.t, user: c.UserID, u: u}, addr, nil
}

var errNoTCPRelay = errors.New("TCP relays (RFC 6062) are not offered")

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// relayConn is one relay's socket: it meters the user's bandwidth both
// ways and keeps packets to this server's own address inside the relay
// ports.
type relayConn struct {
	net.PacketConn
	t    *TURNServer
	user string
	u    *turnUser
	once sync.Once
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.t.admit(c.user, c.u, n) {
			return n, addr, err
		}
	}
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && !c.t.cfg.AllowPrivate {
		if ip, ok := netip.AddrFromSlice(ua.IP); ok && ip.Unmap() == c.t.publicIP &&
			(ua.Port < c.t.cfg.MinPort || ua.Port > c.t.cfg.MaxPort) {
			c.t.dropped.Add(1)
			c.t.limited.warn("self:"+c.user, "TURN packet dropped: a relay may reach this server only at another relay", "user", c.user, "to", addr)
			return len(p), nil
		}
	}
	if !c.t.admit(c.user, c.u, len(p)) {
		return len(p), nil // dropped, as the network would
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayConn) Close() error {
	c.once.Do(func() { c.t.release(c.user, c.u) })
	return c.PacketConn.Close()
}

// rateLimitedLog logs a warning at most once per period per key, so a
// client that repeats a mistake (or an attacker) cannot flood the log.
type rateLimitedLog struct {
	logger *slog.Logger
	every  time.Duration
	mu     sync.Mutex
	last   map[string]time.Time
}

func (r *rateLimitedLog) warn(key, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	if t, ok := r.last[key]; ok && now.Sub(t) < r.every {
		r.mu.Unlock()
		return
	}
	if len(r.last) > 10000 { // forget old keys rather than grow without bound
		for k, t := range r.last {
			if now.Sub(t) >= r.every {
				delete(r.last, k)
			}
		}
	}
	r.last[key] = now
	r.mu.Unlock()
	r.logger.Warn(msg, args...)
}

// turnLogger routes pion/turn's own logs to debug: what an operator needs
// (refusals, quotas) the server logs itself, rate-limited; pion's lines
// follow every bad packet a client sends.
type turnLogger struct{ log *slog.Logger }

func (l turnLogger) NewLogger(scope string) logging.LeveledLogger { return l }

func (l turnLogger) debugf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("pion/turn: " + fmt.Sprintf(format, args...))
	}
}

func (l turnLogger) Trace(string)                      {}
func (l turnLogger) Tracef(string, ...any)             {}
func (l turnLogger) Debug(msg string)                  { l.debugf("%s", msg) }
func (l turnLogger) Debugf(format string, args ...any) { l.debugf(format, args...) }
func (l turnLogger) Info(msg string)                   { l.debugf("%s", msg) }
func (l turnLogger) Infof(format string, args ...any)  { l.debugf(format, args...) }
func (l turnLogger) Warn(msg string)                   { l.debugf("%s", msg) }
func (l turnLogger) Warnf(format string, args ...any)  { l.debugf(format, args...) }
func (l turnLogger) Error(msg string)                  { l.debugf("%s", msg) }
func (l turnLogger) Errorf(format string, args ...any) { l.debugf(format, args...) }
