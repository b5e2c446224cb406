package signaling

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig configures a NATSCluster. With URL it joins an external NATS
// (which must have JetStream); without, it runs a NATS server in this
// process: alone (a cluster of one node), or, with ClusterListen and
// Routes, as one node of a cluster of such servers.
type NATSConfig struct {
	// URL is an external NATS to use instead of an embedded server:
	// nats://[USER:PASS@]HOST:PORT, several separated by commas.
	URL string
	// Name names the call service (and the embedded servers' NATS
	// cluster): every node of one service uses the same ("softphone").
	Name string
	// ClusterListen is where the embedded server takes routes from the
	// other nodes (HOST:PORT); Routes are the other nodes' route URLs,
	// nats://HOST:PORT (this node's own may be among them). Routes are
	// authenticated with a password derived from SecretKey.
	ClusterListen string
	Routes        []string
	// ClientListen, when set, is where the embedded server also takes
	// NATS clients (HOST:PORT), for nodes started with URL pointing here.
	// They authenticate with the same derived password (user "softphone").
	// Default: in cluster mode a free loopback port, alone none.
	ClientListen string
	// ServerName is the embedded server's name, stable across restarts
	// of this node (default: the cluster listen address).
	ServerName string
	// StoreDir holds the embedded server's JetStream state (default: a
	// fresh temporary directory, removed at Close).
	StoreDir string
	// Replicas is how many nodes hold each bucket: default 3, or fewer
	// when fewer nodes are configured (1 + len(Routes)).
	Replicas int
	// SecretKey is the call server's secret key: nodes of one service
	// share it, and the route password is derived from it. Required.
	SecretKey string
	// RestoreWindow is Config.RestoreWindow (30 s; negative: off), for the
	// tombstones of ended calls and the restoring window.
	RestoreWindow time.Duration
	// StartTimeout bounds the wait for the cluster's other nodes and the
	// buckets at start (60 s).
	StartTimeout time.Duration
	// Logger receives the cluster's logs (discarded).
	Logger *slog.Logger
}

// NATSCluster is the Cluster on NATS: presence and call snapshots in
// JetStream key-value buckets (presence records expire with the user's
// ticket: per-key TTL), messages between nodes on core NATS subjects,
// heartbeats to notice a node that went away.
type NATSCluster struct {
	cfg    NATSConfig
	log    *slog.Logger
	id     string
	prefix string // subject prefix
	start  time.Time

	ns      *server.Server // embedded, or nil
	listens bool           // ns takes connections (cluster or ClientListen)
	tmpDir  string
	nc      *nats.Conn
	js      jetstream.JetStream
	pres    jetstream.KeyValue
	calls   jetstream.KeyValue
	presPub string // subject prefix of presence keys ($KV.bucket.)
	callPub string

	srv  atomic.Pointer[Server]
	subs []*nats.Subscription

	mu        sync.Mutex
	peers     map[string]time.Time // live nodes: last heartbeat
	deaths    map[string]time.Time // nodes that went away: when it was noticed
	gone      chan struct{}
	wg        sync.WaitGroup
	asyncErrs atomic.Int64
	closeOnce sync.Once
}

const (
	heartbeatEvery = 250 * time.Millisecond
	// silentFor is how long a node may go unheard before it is asked
	// whether it is still there.
	silentFor = 1200 * time.Millisecond
	pingWait  = time.Second
	natsUser  = "softphone"
)

// NATSClusterPassword is the password of the embedded servers' routes and
// client port, derived from the call server's secret key.
func NATSClusterPassword(secretKey string) string {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("softphone NATS cluster password v1"))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// NewNATSCluster starts the embedded NATS server (or connects to cfg.URL),
// waits for the buckets, and returns the cluster for Config.Cluster. The
// Server it is given to closes it at Shutdown.
func NewNATSCluster(cfg NATSConfig) (*NATSCluster, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("nats cluster: no secret key")
	}
	if cfg.Name == "" {
		cfg.Name = "softphone"
	}
	if !nameRE.MatchString(cfg.Name) {
		return nil, fmt.Errorf("nats cluster: name %q: use 1-32 of A-Z a-z 0-9 _ -", cfg.Name)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.RestoreWindow == 0 {
		cfg.RestoreWindow = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &NATSCluster{cfg: cfg, log: cfg.Logger, id: newID(4), prefix: "softphone." + cfg.Name,
		start: time.Now(), peers: map[string]time.Time{}, deaths: map[string]time.Time{}, gone: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.shutdown()
		}
	}()
	if err := n.connect(); err != nil {
		return nil, err
	}
	if err := n.buckets(); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// connect starts the embedded server, or dials the external one.
func (n *NATSCluster) connect() error {
	cfg := &n.cfg
	pass := NATSClusterPassword(cfg.SecretKey)
	opts := []nats.Option{nats.Name("softphone node " + n.id), nats.MaxReconnects(-1),
		nats.ReconnectWait(200 * time.Millisecond), nats.ReconnectBufSize(64 << 20)}
	if cfg.URL != "" {
		nc, err := nats.Connect(cfg.URL, opts...)
		if err != nil {
			return fmt.Errorf("connect to NATS at %s: %w", redactURL(cfg.URL), err)
		}
		n.nc = nc
		return n.jetstream()
	}
	dir := cfg.StoreDir
	if dir == "" {
		d, err := os.MkdirTemp("", "softphone-nats-")
		if err != nil {
			return err
		}
		dir, n.tmpDir = d, d
	}
	so := &server.Options{
		ServerName: cfg.ServerName, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, DontListen: true,
		Username: natsUser, Password: pass,
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return fmt.Errorf("cluster listen address %q: %w", cfg.ClusterListen, err)
		}
		so.Cluster = server.ClusterOpts{Name: cfg.Name, Host: host, Port: port, Username: natsUser, Password: pass}
		if so.ServerName == "" {
			so.ServerName = strings.NewReplacer(":", "-", "[", "", "]", "").Replace(cfg.ClusterListen)
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Scheme != "nats" || u.Host == "" {
				return fmt.Errorf("route %q: want nats://HOST:PORT", r)
			}
			u.User = url.UserPassword(natsUser, pass)
			so.Routes = append(so.Routes, u)
		}
		// Routes form only when the server listens for clients too.
		so.DontListen = false
		so.Host, so.Port = "127.0.0.1", server.RANDOM_PORT
	}
	if cfg.ClientListen != "" {
		host, port, err := splitHostPort(cfg.ClientListen)
		if err != nil {
			return fmt.Errorf("NATS client listen address %q: %w", cfg.ClientListen, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT // NATS takes 0 as its default port
		}
		so.DontListen, so.Host, so.Port = false, host, port
	}
	if so.ServerName == "" {
		so.ServerName = "softphone-" + n.id
	}
	n.listens = !so.DontListen
	// Stopping (see shutdown): NATS clients other than ours (on
	// ClientListen) get a second or two before they are cut off, not the
	// default 2 minutes.
	so.LameDuckDuration, so.LameDuckGracePeriod = 2*time.Second, time.Second
	ns, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("start the embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(&natsLog{n.log.With("component", "nats")}, false, false, false)
	n.ns = ns
	go ns.Start()
	if !ns.ReadyForConnections(cfg.StartTimeout) {
		return errors.New("the embedded NATS server did not start (is the cluster port free?)")
	}
	nc, err := nats.Connect("", append(opts, nats.InProcessServer(ns), nats.UserInfo(natsUser, pass))...)
	if err != nil {
		return fmt.Errorf("connect to the embedded NATS server: %w", err)
	}
	n.nc = nc
	return n.jetstream()
}

func (n *NATSCluster) jetstream() error {
	js, err := jetstream.New(n.nc, jetstream.WithPublishAsyncMaxPending(1<<16),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			n.asyncErrs.Add(1)
			n.log.Warn("cluster: a shared-state write was refused", "subject", m.Subject, "err", err)
		}))
	if err != nil {
		return err
	}
	n.js = js
	return nil
}

// splitHostPort parses HOST:PORT with a numeric port.
func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// redactURL hides the passwords of NATS URLs in messages.
func redactURL(s string) string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			out = append(out, u.Redacted())
		} else {
			out = append(out, "?")
		}
	}
	return strings.Join(out, ",")
}

// ClientURL is where other nodes can join this node's embedded server
// with --nats (credentials included), or "" when it takes no clients.
func (n *NATSCluster) ClientURL() string {
	if n.ns == nil || n.ns.Addr() == nil {
		return ""
	}
	u := url.URL{Scheme: "nats", Host: n.ns.Addr().String(), User: url.UserPassword(natsUser, NATSClusterPassword(n.cfg.SecretKey))}
	return u.String()
}

// ClientURLRedacted is ClientURL without its password, for logs; the
// external NATS's URLs when joined with NATSConfig.URL.
func (n *NATSCluster) ClientURLRedacted() string {
	if n.cfg.URL != "" {
		return redactURL(n.cfg.URL)
	}
	return redactURL(n.ClientURL())
}

// Node is this node's id in the cluster.
func (n *NATSCluster) Node() string { return n.id }

// buckets creates (or finds) the presence and calls buckets, retrying while
// the cluster's other nodes come up and elect a leader.
func (n *NATSCluster) buckets() error {
	replicas := n.cfg.Replicas
	if replicas == 0 {
		replicas = min(3, 1+n.otherRoutes())
		if n.cfg.URL != "" {
			replicas = 1 // an external NATS: as its operator set it up; see README
		}
	}
	deadline := time.Now().Add(n.cfg.StartTimeout)
	mk := func(name string) (jetstream.KeyValue, error) {
		var last error
		for logged := false; time.Now().Before(deadline); {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			kv, err := n.js.KeyValue(ctx, name)
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				kv, err = n.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1,
					Storage: jetstream.MemoryStorage, Replicas: replicas, LimitMarkerTTL: time.Minute})
				if errors.Is(err, jetstream.ErrBucketExists) {
					kv, err = n.js.KeyValue(ctx, name)
				}
			}
			cancel()
			if err == nil {
				return kv, nil
			}
			last = err
			if !logged {
				n.log.Info("waiting for the cluster's other nodes", "bucket", name, "replicas", replicas, "err", err)
				logged = true
			}
			time.Sleep(250 * time.Millisecond)
		}
		return nil, fmt.Errorf("the cluster's bucket %s is not available (%d replicas need that many nodes up): %w", name, replicas, last)
	}
	var err error
	if n.pres, err = mk(n.cfg.Name + "_presence"); err != nil {
		return err
	}
	if n.calls, err = mk(n.cfg.Name + "_calls"); err != nil {
		return err
	}
	n.presPub = "$KV." + n.cfg.Name + "_presence."
	n.callPub = "$KV." + n.cfg.Name + "_calls."
	return nil
}

// otherRoutes counts the configured routes that are not this node's own.
func (n *NATSCluster) otherRoutes() int {
	k := 0
	for _, r := range n.cfg.Routes {
		u, err := url.Parse(r)
		if err == nil && u.Host != n.cfg.ClusterListen {
			k++
		}
	}
	return k
}

func (n *NATSCluster) node() string { return n.id }
func (n *NATSCluster) multi() bool  { return true }

// Subjects: each node's ordered stream and its requests, pings,
// heartbeats and questions to all.
func (n *NATSCluster) streamSubj(node string) string { return n.prefix + ".n." + node }
func (n *NATSCluster) reqSubj(node string) string    { return n.prefix + ".r." + node }
func (n *NATSCluster) pingSubj(node string) string   { return n.prefix + ".ping." + node }
func (n *NATSCluster) hbSubj() string                { return n.prefix + ".hb" }
func (n *NATSCluster) askSubj() string               { return n.prefix + ".ask" }

// attach subscribes this node's subjects and starts the heartbeat.
func (n *NATSCluster) attach(s *Server) error {
	n.srv.Store(s)
	sub := func(subj string, h nats.MsgHandler) error {
		sb, err := n.nc.Subscribe(subj, h)
		if err == nil {
			sb.SetPendingLimits(-1, -1)
			n.subs = append(n.subs, sb)
		}
		return err
	}
	errs := []error{
		// The ordered stream: one subscription, handled in order.
		sub(n.streamSubj(n.id), func(m *nats.Msg) {
			if pm := decodePeer(m.Data); pm != nil {
				s.onPeer(pm)
			}
		}),
		sub(n.reqSubj(n.id), func(m *nats.Msg) { n.serveRequest(s, m) }),
		sub(n.askSubj(), func(m *nats.Msg) {
			if pm := decodePeer(m.Data); pm != nil && pm.From != n.id {
				n.serveRequest(s, m)
			}
		}),
		sub(n.pingSubj(n.id), func(m *nats.Msg) { m.Respond([]byte(n.id)) }),
		sub(n.hbSubj(), func(m *nats.Msg) { n.heard(s, m.Data) }),
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := n.nc.Flush(); err != nil {
		return err
	}
	n.wg.Add(1)
	go n.heartbeat(s)
	return nil
}

// WaitForNodes waits, once the cluster is given to a Server, until this
// node hears from as many other nodes as its route list names, and until
// its embedded server's copy of the shared state has caught up
// (StartTimeout at most): a node that never heard of another would not
// notice it go away, and a node restarted in a rolling restart whose
// JetStream has not caught up yet would leave the buckets without a
// quorum when the next node stops. `softphone serve` takes users only then.
func (n *NATSCluster) WaitForNodes() {
	want := n.otherRoutes()
	deadline := time.Now().Add(n.cfg.StartTimeout)
	for logged := false; want > 0 && len(n.liveNodes()) <= want; {
		if time.Now().After(deadline) {
			n.log.Warn("serving without hearing from every node on the route list", "heard", len(n.liveNodes())-1, "routes", want)
			return
		}
		if !logged {
			n.log.Info("waiting to hear from the other nodes", "routes", want)
			logged = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n.ns == nil {
		return
	}
	for logged := false; ; {
		h := n.ns.Healthz(nil)
		if h.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			n.log.Warn("serving before this node's copy of the shared state caught up", "err", h.Error)
			return
		}
		if !logged {
			n.log.Info("waiting for this node's copy of the shared state to catch up", "err", h.Error)
			logged = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveRequest answers a request on its own goroutine: answering may wait
// for other nodes.
func (n *NATSCluster) serveRequest(s *Server, m *nats.Msg) {
	pm := decodePeer(m.Data)
	if pm == nil || m.Reply == "" {
		return
	}
	go func() {
		r := s.onRequest(pm)
		if r == nil {
			r = &peerMsg{}
		}
		r.From = n.id
		b, _ := json.Marshal(r)
		m.Respond(b)
	}()
}

func decodePeer(b []byte) *peerMsg {
	var m peerMsg
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return &m
}

// heartbeat says this node is alive, and finds nodes that went quiet.
type heartbeatMsg struct {
	Node  string `json:"n"`
	Start int64  `json:"s"`
	Bye   bool   `json:"b,omitempty"`
}

func (n *NATSCluster) heartbeat(s *Server) {
	defer n.wg.Done()
	hb, _ := json.Marshal(heartbeatMsg{Node: n.id, Start: n.start.UnixMilli()})
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		n.nc.Publish(n.hbSubj(), hb)
		select {
		case <-n.gone:
			return
		case <-t.C:
		}
		now := time.Now()
		var quiet []string
		n.mu.Lock()
		for node, at := range n.peers {
			if now.Sub(at) > silentFor {
				quiet = append(quiet, node)
			}
		}
		n.mu.Unlock()
		for _, node := range quiet {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.probe(s, node)
			}()
		}
	}
}

// heard notes a heartbeat (or a goodbye) from another node.
func (n *NATSCluster) heard(s *Server, b []byte) {
	var hb heartbeatMsg
	if json.Unmarshal(b, &hb) != nil || hb.Node == n.id || hb.Node == "" {
		return
	}
	n.mu.Lock()
	_, dead := n.deaths[hb.Node]
	if hb.Bye {
		n.mu.Unlock()
		n.died(s, hb.Node)
		return
	}
	_, known := n.peers[hb.Node]
	if !dead {
		n.peers[hb.Node] = time.Now()
	}
	n.mu.Unlock()
	if !dead && !known {
		n.log.Info("node joined", "node", hb.Node)
	}
}

// probe asks a quiet node whether it is there; no answer (nobody
// subscribed: its connection is gone) means it went away.
func (n *NATSCluster) probe(s *Server, node string) {
	ctx, cancel := context.WithTimeout(context.Background(), pingWait)
	defer cancel()
	_, err := n.nc.RequestWithContext(ctx, n.pingSubj(node), nil)
	n.log.Debug("probed a quiet node", "node", node, "err", err)
	switch {
	case err == nil:
		n.mu.Lock()
		if _, ok := n.peers[node]; ok {
			n.peers[node] = time.Now()
		}
		n.mu.Unlock()
	case errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded):
		n.died(s, node)
	}
}

// died records that node went away and tells the server, once.
func (n *NATSCluster) died(s *Server, node string) {
	n.mu.Lock()
	if _, ok := n.deaths[node]; ok || node == n.id {
		n.mu.Unlock()
		return
	}
	// Counted before the node leaves liveNodes: whoever sees it gone
	// also sees the takeover under way (Server.takingOver).
	s.takeovers.Add(1)
	delete(n.peers, node)
	now := time.Now()
	n.deaths[node] = now
	n.mu.Unlock()
	n.log.Info("node went away", "node", node)
	// Shared: when it went, for the restore window of its call tokens.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	n.calls.Create(ctx, "d."+node, []byte(strconv.FormatInt(now.UnixMilli(), 10)), jetstream.KeyTTL(n.cfg.RestoreWindow+time.Minute))
	cancel()
	select {
	case <-n.gone:
		s.takeovers.Add(-1)
		return
	default:
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer s.takeovers.Add(-1)
		s.nodeGone(node)
	}()
}

// alive reports whether node is a live node of the cluster: heard from
// lately, or answering a ping.
func (n *NATSCluster) alive(ctx context.Context, node string) bool {
	if node == n.id {
		return true
	}
	if node == "" {
		return false
	}
	n.mu.Lock()
	at, known := n.peers[node]
	_, dead := n.deaths[node]
	n.mu.Unlock()
	if dead {
		return false
	}
	if known && time.Since(at) <= silentFor {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	_, err := n.nc.RequestWithContext(pctx, n.pingSubj(node), nil)
	if err == nil {
		n.mu.Lock()
		if _, dead := n.deaths[node]; !dead {
			n.peers[node] = time.Now()
		}
		n.mu.Unlock()
		return true
	}
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
		if s := n.srv.Load(); s != nil {
			n.died(s, node)
		}
	}
	return false
}

func (n *NATSCluster) liveNodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []string{n.id}
	for node, at := range n.peers {
		if time.Since(at) <= silentFor {
			out = append(out, node)
		}
	}
	return out
}

// restoreOpen: a live signer knows its call (or its end); a token of a
// node that went away may bring its call back within the window after that
// (noticed here, or recorded by another node), or after this node's start
// when nothing is known of the signer (the whole service restarted).
func (n *NATSCluster) restoreOpen(ctx context.Context, signer string) bool {
	w := n.cfg.RestoreWindow
	if w < 0 || n.alive(ctx, signer) {
		return false
	}
	n.mu.Lock()
	at, ok := n.deaths[signer]
	n.mu.Unlock()
	if !ok {
		if e, err := retryKV(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return n.calls.Get(ctx, "d."+signer) }); err == nil {
			if ms, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil {
				at, ok = time.UnixMilli(ms), true
			}
		}
	}
	if !ok {
		at = n.start
	}
	return time.Since(at) <= w
}

// Ended calls are tombstones in the calls bucket (callRecord.Ended), kept
// as long as the restore window needs them; nothing to do here.
func (n *NATSCluster) endedRestored(string) {}

func (n *NATSCluster) wasEnded(ctx context.Context, id string) bool {
	rec, _, err := n.loadCall(ctx, id)
	return err == nil && rec.Ended
}

func (n *NATSCluster) prune() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for node, at := range n.deaths {
		if time.Since(at) > max(n.cfg.RestoreWindow, 0)+10*time.Minute {
			delete(n.deaths, node)
		}
	}
}

// presence reads a user's record.
func (n *NATSCluster) presence(ctx context.Context, user string) (presenceRec, uint64, error) {
	var rec presenceRec
	e, err := retryKV(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return n.pres.Get(ctx, user) })
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, errNotFound
	}
	if err != nil {
		return rec, 0, err
	}
	if json.Unmarshal(e.Value(), &rec) != nil {
		return rec, 0, errNotFound
	}
	return rec, e.Revision(), nil
}

// setPresence writes a user's record if its revision is still rev (0: if
// there is none), to expire after ttl.
func (n *NATSCluster) setPresence(ctx context.Context, user string, rec presenceRec, rev uint64, ttl time.Duration) (uint64, error) {
	b, _ := json.Marshal(rec)
	ttl = max(ttl, time.Second)
	var r uint64
	var err error
	if rev == 0 {
		r, err = retryKV(ctx, func(ctx context.Context) (uint64, error) { return n.pres.Create(ctx, user, b, jetstream.KeyTTL(ttl)) })
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, errConflict
		}
		return r, err
	}
	m := nats.NewMsg(n.presPub + user)
	m.Data = b
	pa, err := retryKV(ctx, func(ctx context.Context) (*jetstream.PubAck, error) {
		return n.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
	})
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, errConflict
		}
		return 0, err
	}
	return pa.Sequence, nil
}

// dropPresence deletes a user's record if it is still at revision rev,
// without waiting.
func (n *NATSCluster) dropPresence(user string, rev uint64) {
	m := nats.NewMsg(n.presPub + user)
	m.Header.Set("KV-Operation", "DEL")
	n.pubAsync(m, jetstream.WithExpectLastSequencePerSubject(rev))
}

func (n *NATSCluster) pubAsync(m *nats.Msg, opts ...jetstream.PublishOpt) {
	f, err := n.js.PublishMsgAsync(m, opts...)
	if err != nil {
		n.asyncErrs.Add(1)
		n.log.Warn("cluster: a shared-state write failed", "subject", m.Subject, "err", err)
		return
	}
	_ = f
}

// saveCalls writes call snapshots without waiting: records, their owners'
// index entries, and tombstones for ended calls (kept for the restore
// window).
func (n *NATSCluster) saveCalls(recs []*callRecord) {
	for _, rec := range recs {
		b, _ := json.Marshal(rec)
		m := nats.NewMsg(n.callPub + "c." + rec.ID)
		m.Data = b
		if rec.Ended {
			n.pubAsync(m, jetstream.WithMsgTTL(max(n.cfg.RestoreWindow, 0)+time.Minute))
		} else {
			n.pubAsync(m)
		}
		if rec.indexedAs != "" && (rec.Ended || rec.indexedAs != rec.Owner) {
			d := nats.NewMsg(n.callPub + "o." + rec.indexedAs + "." + rec.ID)
			d.Header.Set("KV-Operation", "PURGE")
			d.Header.Set("Nats-Rollup", "sub")
			n.pubAsync(d)
		}
		if !rec.Ended && rec.indexedAs != rec.Owner {
			o := nats.NewMsg(n.callPub + "o." + rec.Owner + "." + rec.ID)
			n.pubAsync(o)
		}
	}
}

// syncCalls waits until every write so far is stored.
func (n *NATSCluster) syncCalls(ctx context.Context) error {
	select {
	case <-n.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *NATSCluster) loadCall(ctx context.Context, id string) (*callRecord, uint64, error) {
	e, err := retryKV(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return n.calls.Get(ctx, "c."+id) })
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	var rec callRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		n.log.Debug("cluster: unreadable call record", "call", id, "op", e.Operation(), "rev", e.Revision(), "len", len(e.Value()), "err", err)
		return nil, 0, errNotFound
	}
	return &rec, e.Revision(), nil
}

// claimCall writes rec (this node as its owner) if the record is still at
// revision rev: the one node that wins takes the call over.
func (n *NATSCluster) claimCall(ctx context.Context, rec *callRecord, rev uint64) (uint64, error) {
	b, _ := json.Marshal(rec)
	var r uint64
	var err error
	if rev == 0 {
		r, err = retryKV(ctx, func(ctx context.Context) (uint64, error) { return n.calls.Create(ctx, "c."+rec.ID, b) })
	} else {
		r, err = retryKV(ctx, func(ctx context.Context) (uint64, error) { return n.calls.Update(ctx, "c."+rec.ID, b, rev) })
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errConflict
	}
	return r, err
}

// callsOf lists the calls node owned, from the owners' index.
func (n *NATSCluster) callsOf(ctx context.Context, node string) ([]string, error) {
	return retryKV(ctx, func(ctx context.Context) ([]string, error) {
		l, err := n.calls.ListKeysFiltered(ctx, "o."+node+".*")
		if err != nil {
			return nil, err
		}
		var ids []string
		for k := range l.Keys() {
			ids = append(ids, strings.TrimPrefix(k, "o."+node+"."))
		}
		if ctx.Err() != nil { // the listing was cut short
			return nil, ctx.Err()
		}
		return ids, nil
	})
}

func (n *NATSCluster) send(node string, m *peerMsg) error {
	m.From = n.id
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return n.nc.Publish(n.streamSubj(node), b)
}

func (n *NATSCluster) request(ctx context.Context, node string, m *peerMsg) (*peerMsg, error) {
	m.From = n.id
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	r, err := n.nc.RequestWithContext(ctx, n.reqSubj(node), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, errNoNode
	}
	if err != nil {
		return nil, err
	}
	pm := decodePeer(r.Data)
	if pm == nil {
		return nil, errors.New("nats cluster: undecodable reply")
	}
	return pm, nil
}

// ask sends m to every other node and gathers the answers, until each
// live node answered or ctx ends.
func (n *NATSCluster) ask(ctx context.Context, m *peerMsg) []*peerMsg {
	m.From = n.id
	b, _ := json.Marshal(m)
	inbox := n.nc.NewRespInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return nil
	}
	defer sub.Unsubscribe()
	want := len(n.liveNodes()) - 1
	if err := n.nc.PublishRequest(n.askSubj(), inbox, b); err != nil {
		return nil
	}
	var out []*peerMsg
	for len(out) < want {
		r, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break
		}
		if pm := decodePeer(r.Data); pm != nil {
			out = append(out, pm)
		}
	}
	return out
}

// leave says goodbye: the other nodes take this node's calls over at once
// rather than after the heartbeat's silence.
func (n *NATSCluster) leave() {
	for _, sb := range n.subs {
		sb.Unsubscribe()
	}
	n.subs = nil
	bye, _ := json.Marshal(heartbeatMsg{Node: n.id, Bye: true})
	n.nc.Publish(n.hbSubj(), bye)
	n.nc.Flush()
}

// close stops the heartbeat, the connection and the embedded server.
func (n *NATSCluster) close() error {
	n.shutdown()
	return nil
}

// Close is close, for a cluster never given to a Server.
func (n *NATSCluster) Close() error { return n.close() }

func (n *NATSCluster) shutdown() {
	n.closeOnce.Do(func() {
		close(n.gone)
		if n.nc != nil {
			if n.js != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				n.syncCalls(ctx)
				cancel()
			}
			n.nc.Close()
		}
		n.wg.Wait()
		if n.ns != nil {
			if n.listens {
				// Lame duck mode hands every bucket this node leads
				// (and the JetStream meta group) to another node
				// before it stops, ~1 s. A plain shutdown leaves the
				// others to notice and elect, seconds in which no
				// login or call change can be written: a rolling
				// restart that moved on right after a node's banner
				// once stalled every login for 20 s that way. It does
				// nothing for a server without a listener.
				n.ns.LameDuckShutdown()
			}
			n.ns.Shutdown()
			n.ns.WaitForShutdown()
		}
		if n.tmpDir != "" {
			os.RemoveAll(n.tmpDir)
		}
	})
}

// natsLog passes the embedded server's log lines to ours: its notices at
// debug level (it is chatty when it starts), warnings and errors as such.
type natsLog struct{ l *slog.Logger }

func (l *natsLog) Noticef(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLog) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Plaintext passwords detected") {
		l.l.Debug(msg) // the route password is derived from the secret key, never written down
		return
	}
	l.l.Warn(msg)
}
func (l *natsLog) Fatalf(format string, v ...any) { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *natsLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Error trying to connect to route") {
		// Once a second per route while a node is down: "node went away"
		// says it once.
		l.l.Debug(msg)
		return
	}
	l.l.Error(msg)
}
func (l *natsLog) Debugf(format string, v ...any) {}
func (l *natsLog) Tracef(format string, v ...any) {}

// kvTry bounds one attempt at the shared state: when a node goes away,
// the buckets' streams elect new leaders (a second or two), and requests
// meanwhile find no responder or no answer.
const kvTry = time.Second

// retryKV runs op until it succeeds, fails for good, or ctx ends: errors
// of a cluster electing leaders (no responders, an attempt timing out,
// JetStream not available yet) are tried again after a short pause.
func retryKV[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		actx, cancel := context.WithTimeout(ctx, kvTry)
		v, err := op(actx)
		cancel()
		if err == nil || !transientKV(err) || ctx.Err() != nil {
			return v, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}

// transientKV reports whether err may go away by itself (a leader
// election), as opposed to an answer (not found, conflict).
func transientKV(err error) bool {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrConnectionReconnecting) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 503: JetStream (or the stream's group) has no leader right now.
		return apiErr.Code == 503
	}
	return false
}
