// Package loadtest is `softphone loadtest`: it logs in many users against
// a call server and places calls between them on an open-loop schedule,
// over signaling clients or (with media) whole engines, and reports rates,
// round trips, setup times, audio health and the CPU and memory of both
// processes.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"softphone/audio"
	"softphone/engine"
	"softphone/signaling"
)

// Config configures Run: which server, how many users, how fast to
// call and for how long.
type Config struct {
	// ServerURL is the call server's WebSocket URL (ws://HOST:PORT/ws).
	ServerURL string
	// ServerURLs, when set, are the nodes of a cluster (ServerURL, if also
	// set, comes first): user i logs in to node i mod len, so the two users
	// of a pair are on different nodes and every call crosses nodes. Each
	// user's client knows the others to move on to.
	ServerURLs []string
	// SecretKey and SDKAppID mint the users' tickets (signaling.Sign); they
	// must be the server's.
	SecretKey string
	SDKAppID  int64
	// Users is how many users log in (at least 2). They are paired; each
	// call is between the two users of a pair, who take turns calling.
	Users int
	// CallsPerSec is the aggregate rate at which new calls are placed, and
	// Duration how long calls are placed. The schedule is open loop: a call
	// is due at k/CallsPerSec whatever happened to the earlier ones, so a
	// slow server shows up as latency and failures, not as fewer calls.
	CallsPerSec float64
	Duration    time.Duration
	// Hold is how long each call stays connected (with media: after audio
	// flows) before the caller hangs up (0: at once).
	Hold time.Duration
	// Media makes every user a full engine (tone microphone, no speaker,
	// the null audio backend) so the calls also set up WebRTC audio. At
	// most MaxMediaUsers.
	Media bool
	// AllowRemote lets the test target a server that is not on a loopback
	// address. Without it Run refuses, so that a typo cannot load
	// someone else's server.
	AllowRemote bool
	// ServerPID, when set, is the server's process on this machine: its
	// CPU and memory are reported too.
	ServerPID int
	// CallTimeout bounds each step of a call (a request's reply, a push,
	// audio arriving): past it the call counts as failed (10 s). It is
	// also the invitations' ringing timeout on the server.
	CallTimeout time.Duration
	// LoginWorkers is how many users log in at once (64).
	LoginWorkers int
	// Logger receives progress and problems (discarded).
	Logger *slog.Logger
	// HTTPClient dials the server (http.DefaultClient).
	HTTPClient *http.Client
}

// urls is ServerURL followed by ServerURLs, without repeats.
func (c *Config) urls() []string {
	var out []string
	for _, u := range append([]string{c.ServerURL}, c.ServerURLs...) {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// nodeURLs is what user i dials: its node (i mod the nodes), then the
// others in turn.
func (c *Config) nodeURLs(i int) []string {
	all := c.urls()
	k := i % len(all)
	return append(slices.Clone(all[k:]), all[:k]...)
}

// MaxMediaUsers bounds Config.Users with Media: each media user is a
// whole engine (audio pipeline, Opus, a PeerConnection per call).
const MaxMediaUsers = 200

// serverRateLimit is signaling.Config's default RateLimit: the messages per
// second one connection may send before the server refuses them.
const serverRateLimit = 100

// configError is a bad Config.
func configError(format string, args ...any) error {
	return fmt.Errorf("load test: "+format, args...)
}

// ErrRemoteTarget means the server URL is not a loopback address and
// Config.AllowRemote is not set.
var ErrRemoteTarget = errors.New("the load test targets only a server on this machine (a loopback address) unless remote targets are allowed (--allow-remote)")

func (c *Config) check() error {
	if len(c.urls()) == 0 {
		return configError("no server URL: give the call server's ws://HOST:PORT/ws")
	}
	for _, u := range c.urls() {
		if err := checkLoopback(u, c.AllowRemote); err != nil {
			return err
		}
	}
	if c.SecretKey == "" {
		return configError("no secret key: the load test mints its users' tickets with the server's key")
	}
	if c.SDKAppID == 0 {
		c.SDKAppID = signaling.DefaultSDKAppID
	}
	if c.Users < 2 {
		return configError("%d users: a call needs at least 2", c.Users)
	}
	if c.Media && c.Users > MaxMediaUsers {
		return configError("%d media users: at most %d (each is a whole audio and WebRTC pipeline)", c.Users, MaxMediaUsers)
	}
	if !(c.CallsPerSec > 0) || math.IsInf(c.CallsPerSec, 0) {
		return configError("calls per second %v: want a positive rate", c.CallsPerSec)
	}
	if c.Duration <= 0 {
		return configError("duration %v: want a positive duration", c.Duration)
	}
	if c.Hold < 0 {
		return configError("hold %v: want zero or more", c.Hold)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.CallTimeout < time.Second || c.CallTimeout > 600*time.Second {
		return configError("call timeout %v: want 1 s to 600 s", c.CallTimeout)
	}
	if c.LoginWorkers <= 0 {
		c.LoginWorkers = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(c.Users)+256 {
		return configError("%d users need %d open files, but the limit is %d: raise it (ulimit -n) or use fewer users",
			c.Users, c.Users+256, lim.Cur)
	}
	return nil
}

// checkLoopback refuses a server URL whose host is not a loopback address,
// unless allowRemote.
func checkLoopback(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
		return configError("server URL %q: want ws://HOST:PORT/ws or wss://HOST:PORT/ws", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.LookupHost(host)
		if err != nil {
			return fmt.Errorf("server URL %q: look up %s: %w", raw, host, err)
		}
		for _, a := range addrs {
			ips = append(ips, net.ParseIP(a))
		}
	}
	for _, ip := range ips {
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("server %s: %w", host, ErrRemoteTarget)
		}
	}
	return nil
}

// Run logs in cfg.Users users, places calls between them at
// cfg.CallsPerSec for cfg.Duration, waits for the calls in progress to
// finish, logs everyone out and reports what happened. It returns an error
// only when the test could not run at all (bad configuration, nobody could
// log in); failed calls are in the report. Cancelling ctx stops placing
// calls early; the calls in progress still finish and everyone is logged
// out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := newLoadRun(cfg)
	r.procs.begin(cfg.ServerPID, r.log)
	defer r.procs.finish()
	defer r.logoutAll()
	if err := r.loginAll(ctx); err != nil {
		return nil, err
	}
	r.noteLoggedIn()
	r.warnings()
	r.offer(ctx)
	r.log.Info("waiting for the calls in progress", "inFlight", r.rec.inFlightNow())
	r.wg.Wait()
	r.noteCallsDone()
	return r.report(), nil
}

// loadRun is one Run.
type loadRun struct {
	cfg    Config
	log    *slog.Logger
	prefix string

	users []*loadUser // logged in, in pair order
	pairs []*loadPair
	idle  chan *loadPair
	wg    sync.WaitGroup // calls in progress

	rec loadRecorder

	loginFailed   int
	loginFailedBy map[string]int
	loginTimes    []time.Duration
	loginWall     time.Duration

	procs procWatch
}

// loadUser is one logged-in user: a signaling client, or with media an
// engine whose call-state events a goroutine forwards to evs.
type loadUser struct {
	id  string
	sig *signaling.Client
	eng *engine.Engine
	evs chan engine.Event
}

// loadPair is two users who call each other, taking turns. A pair is in
// at most one call at a time; it waits in loadRun.idle in between.
type loadPair struct {
	u [2]*loadUser
	n int // calls made, to alternate the caller
}

func newLoadRun(cfg Config) *loadRun {
	b := make([]byte, 3)
	rand.Read(b)
	return &loadRun{
		cfg: cfg,
		log: cfg.Logger,
		// A fresh prefix per run: two load tests against one server do
		// not kick each other's users offline.
		prefix:        "lt" + hex.EncodeToString(b) + "-",
		loginFailedBy: map[string]int{},
		rec:           newLoadRecorder(),
	}
}

// loginAll logs every user in, LoginWorkers at a time, and pairs them up.
func (r *loadRun) loginAll(ctx context.Context) error {
	n := r.cfg.Users
	r.log.Info("logging in", "users", n, "servers", r.cfg.urls(), "media", r.cfg.Media)
	users := make([]*loadUser, n)
	times := make([]time.Duration, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(r.cfg.LoginWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				users[i], errs[i] = r.login(ctx, fmt.Sprintf("%s%05d", r.prefix, i), r.cfg.nodeURLs(i))
				times[i] = time.Since(t0)
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	r.loginWall = time.Since(start)
	for i, u := range users {
		if u == nil {
			r.loginFailed++
			if errs[i] != nil {
				r.loginFailedBy[failReason("login", errs[i])]++
			}
			continue
		}
		r.loginTimes = append(r.loginTimes, times[i])
		r.users = append(r.users, u)
	}
	for i := 0; i+1 < len(r.users); i += 2 {
		r.pairs = append(r.pairs, &loadPair{u: [2]*loadUser{r.users[i], r.users[i+1]}})
	}
	r.log.Info("logged in", "users", len(r.users), "failed", r.loginFailed, "took", r.loginWall.Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load test stopped while logging in: %w", err)
	}
	if len(r.pairs) == 0 {
		why := "unknown"
		for k := range r.loginFailedBy {
			why = k
		}
		return fmt.Errorf("load test: not even two users could log in to %s (%s)", strings.Join(r.cfg.urls(), ", "), why)
	}
	r.idle = make(chan *loadPair, len(r.pairs))
	for _, p := range r.pairs {
		r.idle <- p
	}
	return nil
}

// ticketLife covers the whole test with room to spare: a ticket that
// expired mid-test would end sessions and fail calls for the wrong reason.
func (r *loadRun) ticketLife() time.Duration {
	return r.cfg.Duration + r.cfg.Hold + 2*r.cfg.CallTimeout + time.Hour
}

func (r *loadRun) login(ctx context.Context, id string, urls []string) (*loadUser, error) {
	sig, err := signaling.Sign(r.cfg.SecretKey, r.cfg.SDKAppID, id, r.ticketLife(), time.Now())
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 2*r.cfg.CallTimeout)
	defer cancel()
	u := &loadUser{id: id}
	if !r.cfg.Media {
		u.sig, err = signaling.Dial(lctx, signaling.ClientConfig{
			URLs: urls, UserID: id, UserSig: sig,
			HTTPClient: r.cfg.HTTPClient, RequestTimeout: r.cfg.CallTimeout, DialTimeout: r.cfg.CallTimeout,
		})
		if err != nil {
			return nil, err
		}
		return u, nil
	}
	u.eng, err = engine.New(engine.Config{
		ServerURLs: urls, UserID: id, UserSig: sig, HTTPClient: r.cfg.HTTPClient,
		Mic: "tone:440", Speaker: mediaSpeaker, AudioBackends: []audio.Backend{audio.BackendNull},
	})
	if err != nil {
		return nil, err
	}
	u.evs = make(chan engine.Event, 1024)
	go u.forward()
	if err := u.eng.Login(lctx); err != nil {
		u.eng.Close()
		return nil, err
	}
	return u, nil
}

// mediaSpeaker is the media users' speaker: none. The playout still runs
// every 20 ms on the pipeline's clock, pulling each remote stream through
// its jitter buffer and decoder, so a receiver that finds no audio due
// conceals it and counts it. A null-backend playback device instead costs
// about 1 % of a core per user (miniaudio's device thread), which at 40
// users in one process is more than the calls themselves.
const mediaSpeaker = "none"

// forward moves the engine's call-state events to evs until the engine is
// closed. The periodic ones (volume, quality) are not needed.
func (u *loadUser) forward() {
	defer close(u.evs)
	for ev := range u.eng.Events() {
		if !engine.IsLossy(ev) {
			u.evs <- ev
		}
	}
}

// logoutAll closes every user (logging out ends any call at once) in
// parallel, and waits.
func (r *loadRun) logoutAll() {
	if len(r.users) == 0 {
		return
	}
	r.log.Info("logging out", "users", len(r.users))
	next := make(chan *loadUser)
	var wg sync.WaitGroup
	for range min(r.cfg.LoginWorkers, len(r.users)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range next {
				u.close()
			}
		}()
	}
	for _, u := range r.users {
		next <- u
	}
	close(next)
	wg.Wait()
	r.users = nil
}

func (u *loadUser) close() {
	if u.sig != nil {
		u.sig.Close()
	}
	if u.eng != nil {
		u.eng.Close()
		for range u.evs { // until forward ends
		}
	}
}

// warnings notes configurations that will fail for reasons of the test's
// own making, before it starts.
func (r *loadRun) warnings() {
	pairs := float64(len(r.pairs))
	// Per call, the caller sends invite and hangup, the callee accept; the
	// roles alternate, so each connection averages 1.5 messages a call.
	// Engines also relay their SDP offer or answer and ICE candidates.
	perCall := 1.5
	if r.cfg.Media {
		perCall += 4
	}
	perConn := r.cfg.CallsPerSec / pairs * perCall
	if perConn > serverRateLimit {
		need := int(math.Ceil(r.cfg.CallsPerSec*perCall/serverRateLimit)) * 2
		r.warn("each connection would send about %.0f messages/s, over the server's default limit of %d/s per connection: expect rateLimited failures unless the server allows more; spread the load over at least %d users",
			perConn, serverRateLimit, need)
	}
	// Calls held for Hold overlap: about rate × hold of them at once, at
	// most all the calls of the test.
	total := math.Round(r.cfg.CallsPerSec * r.cfg.Duration.Seconds())
	if busy := math.Ceil(min(total, r.cfg.CallsPerSec*r.cfg.Hold.Seconds())); busy > pairs {
		r.warn("%.6g calls/s held %v need about %.0f pairs at once but there are %d: calls will find every pair busy; use more users or a shorter hold",
			r.cfg.CallsPerSec, r.cfg.Hold, busy, len(r.pairs))
	}
}

func (r *loadRun) warn(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.rec.mu.Lock()
	r.rec.warnings = append(r.rec.warnings, s)
	r.rec.mu.Unlock()
	r.log.Warn(s)
}

// offer places calls on the open-loop schedule: call k at k/CallsPerSec.
func (r *loadRun) offer(ctx context.Context) {
	rate := r.cfg.CallsPerSec
	total := int(math.Round(rate * r.cfg.Duration.Seconds()))
	r.log.Info("placing calls", "rate", rate, "duration", r.cfg.Duration, "calls", total, "pairs", len(r.pairs))
	start := time.Now()
	r.rec.start(start)
	r.procs.markStart()
	timer := time.NewTimer(0)
	defer timer.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	for placed := 0; placed < total; {
		due := min(total, int(time.Since(start).Seconds()*rate)+1)
		for ; placed < due; placed++ {
			r.launch()
		}
		if placed >= total {
			break
		}
		timer.Reset(time.Until(start.Add(time.Duration(float64(placed) / rate * float64(time.Second)))))
		select {
		case <-ctx.Done():
			r.log.Info("stopped placing calls early", "placed", placed, "of", total)
			return
		case <-progress.C:
			r.rec.logProgress(r.log, time.Since(start))
		case <-timer.C:
		}
	}
}

// launch starts the next call on an idle pair, or counts it as not placed
// when every pair is busy.
func (r *loadRun) launch() {
	select {
	case p := <-r.idle:
		r.rec.begin()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.cycle(p)
		}()
	default:
		r.rec.notPlaced()
	}
}

// cycle runs one call on p and puts p back when it is fit for another.
func (r *loadRun) cycle(p *loadPair) {
	caller, callee := p.u[0], p.u[1]
	if p.n%2 == 1 {
		caller, callee = callee, caller
	}
	p.n++
	var res callResult
	if r.cfg.Media {
		res = r.mediaCall(caller, callee)
	} else {
		res = r.signalingCall(caller, callee)
	}
	r.rec.end(res)
	if res.err != nil {
		r.log.Debug("call failed", "caller", caller.id, "callee", callee.id, "reason", res.reason)
		if !r.recover(caller, callee, res.callID) {
			r.log.Warn("a pair of users is out of the test after a failed call", "users", []string{caller.id, callee.id}, "reason", res.reason)
			return
		}
	}
	r.idle <- p
}

// callResult is what one call measured.
type callResult struct {
	callID     string
	err        error
	reason     string // why it failed: a short, countable phrase
	setup      time.Duration
	audioSetup time.Duration
	rtts       []requestRTT
	audio      *AudioHealth
}

type requestRTT struct {
	what string
	d    time.Duration
}

func (c *callResult) fail(step string, err error) callResult {
	c.err = err
	c.reason = failReason(step, err)
	return *c
}

// timed runs one request and records its round trip when the server
// answered (an error reply is an answer too).
func (c *callResult) timed(what string, f func() error) error {
	t0 := time.Now()
	err := f()
	var se *signaling.Error
	if err == nil || errors.As(err, &se) {
		c.rtts = append(c.rtts, requestRTT{what, time.Since(t0)})
	}
	return err
}

// signalingCall runs invite → incoming → accept → callBegan at both →
// (hold) → hangup → callEnded at both, over signaling clients.
func (r *loadRun) signalingCall(caller, callee *loadUser) callResult {
	var res callResult
	a, b := caller.sig, callee.sig
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	t0 := time.Now()
	var info *signaling.CallInfo
	err := res.timed("invite", func() (err error) {
		info, err = a.Invite(ctx, signaling.InviteParams{UserIDs: []string{b.UserID()}, Timeout: r.cfg.CallTimeout})
		return err
	})
	if err != nil {
		return res.fail("invite", err)
	}
	res.callID = info.CallID
	if err := awaitPush(ctx, b, res.callID, signaling.TypeIncoming); err != nil {
		return res.fail("incoming", err)
	}
	if err := res.timed("accept", func() error { _, err := b.Accept(ctx, res.callID); return err }); err != nil {
		return res.fail("accept", err)
	}
	if err := awaitPush(ctx, b, res.callID, signaling.TypeCallBegan); err != nil {
		return res.fail("callee callBegan", err)
	}
	if err := awaitPush(ctx, a, res.callID, signaling.TypeCallBegan); err != nil {
		return res.fail("caller callBegan", err)
	}
	res.setup = time.Since(t0)
	cancel()

	time.Sleep(r.cfg.Hold)
	ctx, cancel = context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	if err := res.timed("hangup", func() error { return a.Hangup(ctx, res.callID) }); err != nil {
		return res.fail("hangup", err)
	}
	if err := awaitPush(ctx, a, res.callID, signaling.TypeCallEnded); err != nil {
		return res.fail("caller callEnded", err)
	}
	if err := awaitPush(ctx, b, res.callID, signaling.TypeCallEnded); err != nil {
		return res.fail("callee callEnded", err)
	}
	return res
}

// loadError is a failure the load test itself recognised; its text is the
// failure reason, so it must not hold anything that varies per call.
type loadError string

func (e loadError) Error() string { return string(e) }

// awaitPush reads c's events until the push typ for callID. Pushes about
// other calls (left over from a failed call) are skipped; the call ending
// another way, or the client going offline for good, fails.
func awaitPush(ctx context.Context, c *signaling.Client, callID, typ string) error {
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return loadError("client closed")
			}
			if v, isConn := ev.(signaling.ConnEvent); isConn {
				if v.State == signaling.ConnOffline {
					return loadError("went offline: " + offlineWhy(v.Err))
				}
				continue // reconnecting: the client resumes its session
			}
			if pushCallID(ev) != callID {
				continue
			}
			if ev.EventType() == typ {
				return nil
			}
			switch v := ev.(type) {
			case signaling.CallCancelled:
				return loadError("call cancelled (" + string(v.Reason) + ")")
			case signaling.CallEnded:
				return loadError("call ended early (" + string(v.Reason) + ")")
			}
		case <-ctx.Done():
			return loadError("no " + typ + " within the call timeout")
		}
	}
}

func offlineWhy(err error) string {
	switch {
	case errors.Is(err, signaling.ErrKicked):
		return "kicked"
	case errors.Is(err, signaling.ErrSessionExpired):
		return "ticket expired"
	case errors.Is(err, signaling.ErrClosed):
		return "closed"
	}
	var se *signaling.Error
	if errors.As(err, &se) {
		return se.Code.String()
	}
	return "connection lost"
}

// pushCallID is the call a push is about, or "".
func pushCallID(ev signaling.Event) string {
	switch v := ev.(type) {
	case signaling.IncomingCall:
		return v.CallID
	case signaling.CallBegan:
		return v.CallID
	case signaling.CallEnded:
		return v.CallID
	case signaling.CallCancelled:
		return v.CallID
	case signaling.UserJoined:
		return v.CallID
	case signaling.UserLeft:
		return v.CallID
	case signaling.UserRejected:
		return v.CallID
	case signaling.UserNoResponse:
		return v.CallID
	case signaling.UserLineBusy:
		return v.CallID
	case signaling.UserInvited:
		return v.CallID
	case signaling.UserAway:
		return v.CallID
	case signaling.UserBack:
		return v.CallID
	case signaling.MediaChanged:
		return v.CallID
	case signaling.Relayed:
		return v.CallID
	}
	return ""
}

// failReason turns a failure into a short phrase to count by: the step
// and the kind of failure, never anything that varies per call.
func failReason(step string, err error) string {
	var le loadError
	var se *signaling.Error
	var ee *engine.Error
	switch {
	case errors.As(err, &le):
		return step + ": " + string(le)
	case errors.As(err, &se):
		return fmt.Sprintf("%s: %s (%d)", step, se.Code, int(se.Code))
	case errors.Is(err, context.DeadlineExceeded):
		return step + ": no reply within the call timeout"
	case errors.Is(err, signaling.ErrUnreachable):
		return step + ": server unreachable"
	case errors.Is(err, signaling.ErrConnectionLost):
		return step + ": connection lost"
	case errors.Is(err, signaling.ErrKicked):
		return step + ": kicked offline"
	case errors.Is(err, signaling.ErrClosed), errors.Is(err, engine.ErrClosed):
		return step + ": client closed"
	case errors.As(err, &ee):
		return fmt.Sprintf("%s: engine error %d", step, ee.Code)
	}
	return step + ": " + err.Error()
}

// recover gets a pair back to idle after a failed call: both hang up (the
// call may be ringing or connected on the server), then check with the
// server that neither is in a call any more. It reports whether the pair
// can go on.
func (r *loadRun) recover(a, b *loadUser, callID string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	if r.cfg.Media {
		for _, u := range []*loadUser{a, b} {
			_ = u.eng.Hangup(ctx)
		}
		// Late events of the failed call (onCallCancelled, onCallEnd)
		// carry no call id to tell them from the next call's: let them
		// come, and drop them.
		deadline := time.After(time.Second)
		for {
			select {
			case <-a.evs:
			case <-b.evs:
			case <-deadline:
				return a.eng.Idle() && b.eng.Idle()
			}
		}
	}
	for _, u := range []*loadUser{a, b} {
		if callID != "" {
			_ = u.sig.Hangup(ctx, callID)
		}
		info, err := u.sig.Sync(ctx)
		if err != nil || info != nil {
			return false
		}
	}
	return true
}

// loadRecorder gathers the results of every call.
type loadRecorder struct {
	mu         sync.Mutex
	started    time.Time
	lastEnd    time.Time
	attempted  int
	completed  int
	failedBy   map[string]int
	notPlacedN int
	inFlight   int
	peak       int
	req        map[string][]time.Duration
	setup      []time.Duration
	audioSetup []time.Duration
	audio      AudioHealth
	warnings   []string
}

func newLoadRecorder() loadRecorder {
	return loadRecorder{failedBy: map[string]int{}, req: map[string][]time.Duration{}}
}

func (rec *loadRecorder) start(t time.Time) {
	rec.mu.Lock()
	rec.started, rec.lastEnd = t, t
	rec.mu.Unlock()
}

func (rec *loadRecorder) begin() {
	rec.mu.Lock()
	rec.attempted++
	rec.inFlight++
	rec.peak = max(rec.peak, rec.inFlight)
	rec.mu.Unlock()
}

func (rec *loadRecorder) notPlaced() {
	rec.mu.Lock()
	rec.notPlacedN++
	rec.mu.Unlock()
}

func (rec *loadRecorder) inFlightNow() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.inFlight
}

func (rec *loadRecorder) end(res callResult) {
	now := time.Now()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.inFlight--
	rec.lastEnd = now
	for _, x := range res.rtts {
		rec.req[x.what] = append(rec.req[x.what], x.d)
	}
	if a := res.audio; a != nil {
		rec.audio.Calls += a.Calls
		rec.audio.Received += a.Received
		rec.audio.Lost += a.Lost
		rec.audio.FECRecovered += a.FECRecovered
		rec.audio.Late += a.Late
		rec.audio.Concealed += a.Concealed
		rec.audio.DecodeErrors += a.DecodeErrors
		rec.audio.CallsWithoutAudio += a.CallsWithoutAudio
	}
	if res.err != nil {
		rec.failedBy[res.reason]++
		return
	}
	rec.completed++
	rec.setup = append(rec.setup, res.setup)
	if res.audioSetup > 0 {
		rec.audioSetup = append(rec.audioSetup, res.audioSetup)
	}
}

func (rec *loadRecorder) logProgress(log *slog.Logger, elapsed time.Duration) {
	rec.mu.Lock()
	failed := 0
	for _, n := range rec.failedBy {
		failed += n
	}
	args := []any{"t", elapsed.Round(time.Second), "attempted", rec.attempted, "completed", rec.completed,
		"failed", failed, "notPlaced", rec.notPlacedN, "inFlight", rec.inFlight}
	rec.mu.Unlock()
	log.Info("progress", args...)
}

// noteLoggedIn records the memory of both processes with everyone logged
// in and no call yet.
func (r *loadRun) noteLoggedIn() {
	r.procs.markLoggedIn()
}

func (r *loadRun) noteCallsDone() {
	r.procs.markEnd()
}

func (r *loadRun) report() *Report {
	rec := &r.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rep := &Report{
		Server: strings.Join(r.cfg.urls(), ","), Users: r.cfg.Users, Pairs: len(r.pairs), Media: r.cfg.Media,
		OfferedRate: r.cfg.CallsPerSec, Duration: r.cfg.Duration.Seconds(), HoldSec: r.cfg.Hold.Seconds(),
		LoggedIn: len(r.users), LoginFailed: r.loginFailed, LoginSec: r.loginWall.Seconds(),
		Login:     PercentilesOf(r.loginTimes),
		Attempted: rec.attempted, Completed: rec.completed, NotPlaced: rec.notPlacedN,
		PeakConcurrent: rec.peak,
		Requests:       map[string]Percentiles{},
		Setup:          PercentilesOf(rec.setup),
		Warnings:       rec.warnings,
	}
	if len(r.loginFailedBy) > 0 {
		rep.FailedBy = map[string]int{}
		for k, n := range r.loginFailedBy {
			rep.FailedBy[k] = n
		}
	}
	for k, n := range rec.failedBy {
		if rep.FailedBy == nil {
			rep.FailedBy = map[string]int{}
		}
		rep.FailedBy[k] += n
		rep.Failed += n
	}
	if d := rec.lastEnd.Sub(rec.started); d > 0 {
		rep.AchievedRate = float64(rec.completed) / d.Seconds()
	}
	var all []time.Duration
	keys := make([]string, 0, len(rec.req))
	for k := range rec.req {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		all = append(all, rec.req[k]...)
		rep.Requests[k] = PercentilesOf(rec.req[k])
	}
	rep.Signaling = PercentilesOf(all)
	if r.cfg.Media {
		p := PercentilesOf(rec.audioSetup)
		rep.AudioSetup = &p
		a := rec.audio
		rep.Audio = &a
	}
	rep.Process, rep.ServerProcess = r.procs.stats()
	rep.CPUs = runtime.NumCPU()
	rep.MachineBusy = r.procs.machineBusy()
	r.procs.mu.Lock()
	rep.LoadAvg = r.procs.loadAvg
	r.procs.mu.Unlock()
	return rep
}
