// Package calltest runs real calls for tests: a call server on a loopback
// port, real WebSocket clients, real engines with real pion peers and real
// Opus, and a recorder of each engine's events to wait on. Audio sources
// and sinks are synthetic (tone:, wav:, none on the null backend), so no
// sound card is needed.
//
// The engine's own tests, the headless front end's, the bots' and the load
// test's share it.
package calltest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"softphone/audio"
	"softphone/engine"
	"softphone/internal/testenv"
	"softphone/signaling"
)

// The test server's login: its secret key and SDKAppID.
const (
	Key = "engine-test-key"
	App = 1400000000
)

// Wait bounds every wait for an event: generous, for a shared two-core
// machine under -race. Passing tests never wait that long.
const Wait = 20 * time.Second

// Server is a real call server on a loopback port, shut down when the test
// ends.
type Server struct {
	t   testing.TB
	Srv *signaling.Server
	URL string
	// Clock is the server's manual clock (NewManualServer), else nil.
	Clock *signaling.ManualClock

	cfg  signaling.Config
	addr string
	mu   sync.Mutex
	done chan error // Serve's result; nil while stopped
}

// NewServer starts a server with the real clock. edit may change its
// configuration.
func NewServer(t testing.TB, edit func(*signaling.Config)) *Server {
	t.Helper()
	cfg := signaling.Config{SecretKey: Key, SDKAppID: App}
	if edit != nil {
		edit(&cfg)
	}
	s := &Server{t: t, cfg: cfg} // Start picks the address; a restart keeps it
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// External is a call server that the test runs by other means (a child
// process) at url, with this package's key and SDKAppID: Ticket, Config
// and Engine work with it.
func External(t testing.TB, url string) *Server { return &Server{t: t, URL: url} }

// Start starts a new server with the configuration of the first, on the
// same address once one was picked (as a restarted server would).
func (s *Server) Start() {
	s.t.Helper()
	srv, err := signaling.NewServer(s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	ln := s.listen()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	s.mu.Lock()
	s.Srv, s.done, s.addr = srv, done, ln.Addr().String()
	s.URL = signaling.WebSocketURL(ln.Addr(), false)
	s.mu.Unlock()
}

// listen takes a port below the ephemeral range the first time, so no
// outgoing connection takes it while the server is down between Stop and
// Start, and that same address after.
func (s *Server) listen() net.Listener {
	s.t.Helper()
	if s.addr == "" {
		return testenv.ListenLoopback(s.t)
	}
	deadline := time.Now().Add(Wait)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			s.t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the old server may still be letting go of the port
	}
}

// Stop shuts the server down (gracefully: calls that have begun live on
// in their call tokens). Start brings up the next one.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, done := s.Srv, s.done
	s.done = nil
	s.mu.Unlock()
	if done == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	_ = srv.Shutdown(ctx)
	<-done
}

// NewManualServer starts a server whose timers (invite timeout, grace
// period, ticket expiry) move only with Advance.
func NewManualServer(t testing.TB, edit func(*signaling.Config)) *Server {
	t.Helper()
	clock := signaling.NewManualClock(time.Now())
	s := NewServer(t, func(c *signaling.Config) {
		c.Clock = clock
		if edit != nil {
			edit(c)
		}
	})
	s.Clock = clock
	return s
}

// Ticket mints a userSig for user, valid for life from the server's now.
func (s *Server) Ticket(user string, life time.Duration) string {
	s.t.Helper()
	now := time.Now()
	if s.Clock != nil {
		now = s.Clock.Now()
	}
	sig, err := signaling.Sign(Key, App, user, life, now)
	if err != nil {
		s.t.Fatal(err)
	}
	return sig
}

// Advance moves the manual clock and lets the server act on it.
func (s *Server) Advance(d time.Duration) {
	s.t.Helper()
	if s.Clock == nil {
		s.t.Fatal("Advance needs NewManualServer")
	}
	s.Clock.Advance(d)
}

// DebugLog, when SOFTPHONE_TEST_LOG is set, sends logs to stderr; else it
// is nil (the engine discards its logs).
func DebugLog() *slog.Logger {
	if os.Getenv("SOFTPHONE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Config is an engine configuration for user on s: a fresh ticket, a
// 440 Hz tone microphone, no speaker, the null audio backend and quick
// reconnects.
func (s *Server) Config(user string) engine.Config {
	return engine.Config{
		ServerURL:     s.URL,
		UserID:        user,
		UserSig:       s.Ticket(user, time.Hour),
		Mic:           "tone:440",
		Speaker:       "none",
		AudioBackends: []audio.Backend{audio.BackendNull},
		Logger:        DebugLog(),
		ReconnectMin:  50 * time.Millisecond,
		ReconnectMax:  500 * time.Millisecond,
	}
}

// Engine is an engine whose events a goroutine records, for tests to wait
// on. It is closed when the test ends.
type Engine struct {
	*engine.Engine
	T testing.TB

	mu     sync.Mutex
	events []engine.Event
	cursor int           // next event Expect looks at
	more   chan struct{} // closed and replaced at each new event
	done   chan struct{}
}

// Engine starts and logs in user with s.Config(user), changed by edit.
func (s *Server) Engine(user string, edit func(*engine.Config)) *Engine {
	s.t.Helper()
	cfg := s.Config(user)
	if edit != nil {
		edit(&cfg)
	}
	e, err := engine.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	te := Record(s.t, e)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := e.Login(ctx); err != nil {
		s.t.Fatalf("%s: login: %v", user, err)
	}
	return te
}

// Record records e's events from now on and closes e when the test ends.
func Record(t testing.TB, e *engine.Engine) *Engine {
	te := &Engine{Engine: e, T: t, more: make(chan struct{}), done: make(chan struct{})}
	go te.record()
	t.Cleanup(te.End)
	return te
}

func (te *Engine) record() {
	defer close(te.done)
	for ev := range te.Events() {
		te.mu.Lock()
		te.events = append(te.events, ev)
		close(te.more)
		te.more = make(chan struct{})
		te.mu.Unlock()
	}
}

// changed returns a channel closed at the next event.
func (te *Engine) changed() <-chan struct{} {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.more
}

// End closes the engine and waits until its last events are recorded. It
// may be called before the test's end (which calls it again).
func (te *Engine) End() {
	if err := te.Close(); err != nil {
		te.T.Errorf("%s: close: %v", te.UserID(), err)
	}
	<-te.done
}

// Expect waits for the next event of type T that matches (nil: any),
// skipping other events. It fails the test after Wait.
func Expect[T engine.Event](te *Engine, match func(T) bool) T {
	te.T.Helper()
	deadline := time.After(Wait)
	for {
		te.mu.Lock()
		for te.cursor < len(te.events) {
			ev := te.events[te.cursor]
			te.cursor++
			if v, ok := ev.(T); ok && (match == nil || match(v)) {
				te.mu.Unlock()
				return v
			}
		}
		more := te.more
		te.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			var zero T
			te.T.Fatalf("%s: no %s arrived; events so far:\n%s", te.UserID(), zero.EventName(), te.Dump())
		}
	}
}

// Last returns the latest event of type T recorded so far.
func Last[T engine.Event](te *Engine) (T, bool) {
	te.mu.Lock()
	defer te.mu.Unlock()
	for i := len(te.events) - 1; i >= 0; i-- {
		if v, ok := te.events[i].(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// ExpectEvent waits for an event equal to want (reflect.DeepEqual),
// skipping others.
func (te *Engine) ExpectEvent(want engine.Event) {
	te.T.Helper()
	Expect(te, func(ev engine.Event) bool { return reflect.DeepEqual(ev, want) })
}

// CallStateEvents returns the call-state events so far, in order, in
// Brief form.
func (te *Engine) CallStateEvents() []string {
	te.mu.Lock()
	defer te.mu.Unlock()
	var out []string
	for _, ev := range te.events {
		if engine.IsLossy(ev) {
			continue
		}
		out = append(out, Brief(ev))
	}
	return out
}

// CallEvents returns the call-state events without the device and
// connection events of logging in.
func (te *Engine) CallEvents() []string {
	var out []string
	for _, s := range te.CallStateEvents() {
		switch s {
		case "onAudioDeviceChanged", "onConnectionChanged(offline)", "onConnectionChanged(connecting)", "onConnectionChanged(connected)":
			continue
		}
		out = append(out, s)
	}
	return out
}

// Brief names an event with its main field, e.g. "onUserJoin(bob)".
func Brief(ev engine.Event) string {
	switch v := ev.(type) {
	case engine.CallCancelled:
		return "onCallCancelled(" + v.CallerID + ")"
	case engine.UserJoin:
		return "onUserJoin(" + v.UserID + ")"
	case engine.UserLeave:
		return "onUserLeave(" + v.UserID + ")"
	case engine.UserReject:
		return "onUserReject(" + v.UserID + ")"
	case engine.UserNoResponse:
		return "onUserNoResponse(" + v.UserID + ")"
	case engine.UserLineBusy:
		return "onUserLineBusy(" + v.UserID + ")"
	case engine.UserAudioAvailable:
		return fmt.Sprintf("onUserAudioAvailable(%s,%v)", v.UserID, v.IsAudioAvailable)
	case engine.UserVideoAvailable:
		return fmt.Sprintf("onUserVideoAvailable(%s,%v)", v.UserID, v.IsVideoAvailable)
	case engine.CallBegin:
		return fmt.Sprintf("onCallBegin(%v)", v.CallRole)
	case engine.CallEnd:
		return fmt.Sprintf("onCallEnd(%v)", v.CallRole)
	case engine.CallReceived:
		return "onCallReceived(" + v.CallerID + ")"
	case engine.CallMediaTypeChanged:
		return fmt.Sprintf("onCallMediaTypeChanged(%v→%v)", v.OldCallMediaType, v.NewCallMediaType)
	case engine.ConnectionChanged:
		return "onConnectionChanged(" + v.State.String() + ")"
	case engine.ErrorEvent:
		return fmt.Sprintf("onError(%d)", v.Code)
	}
	return ev.EventName()
}

// Dump lists the call-state events so far, numbered, for a failure message.
func (te *Engine) Dump() string {
	var b strings.Builder
	for i, s := range te.CallStateEvents() {
		fmt.Fprintf(&b, "  %2d %s\n", i, s)
	}
	return b.String()
}

// Has reports whether the call-state events include want (Brief form).
func (te *Engine) Has(want string) bool { return te.Count(want) > 0 }

// Count counts the call-state events equal to want (Brief form).
func (te *Engine) Count(want string) int {
	n := 0
	for _, s := range te.CallStateEvents() {
		if s == want {
			n++
		}
	}
	return n
}

// WaitHas waits until the call-state events include want (Brief form),
// wherever it is in the stream.
func (te *Engine) WaitHas(want string) { te.T.Helper(); te.WaitCount(want, 1) }

// WaitCount waits until want (Brief form) occurs n times among the
// call-state events.
func (te *Engine) WaitCount(want string, n int) {
	te.T.Helper()
	deadline := time.After(Wait)
	for {
		more := te.changed()
		if te.Count(want) >= n {
			return
		}
		select {
		case <-more:
		case <-deadline:
			te.T.Fatalf("%s: %s %d times, want %d; events so far:\n%s", te.UserID(), want, te.Count(want), n, te.Dump())
		}
	}
}

// Settle waits until the call events (CallEvents) are exactly want.
func (te *Engine) Settle(want ...string) {
	te.T.Helper()
	deadline := time.After(Wait)
	for {
		more := te.changed()
		got := te.CallEvents()
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) {
			te.T.Fatalf("%s: events\n got %q\nwant %q", te.UserID(), got, want)
		}
		select {
		case <-more:
		case <-deadline:
			te.T.Fatalf("%s: events\n got %q\nwant %q", te.UserID(), got, want)
		}
	}
}

// VolumeOf waits until a volume event shows user above min, and returns
// that volume.
func (te *Engine) VolumeOf(user string, min int) int {
	te.T.Helper()
	v := Expect(te, func(v engine.UserVoiceVolumeChanged) bool { return v.VolumeMap[user] > min })
	return v.VolumeMap[user]
}

// Connect makes a 1:1 call from a to b and waits until audio flows both
// ways.
func Connect(t testing.TB, a, b *Engine) {
	t.Helper()
	Must(t, "call", a.Call(Ctx(t), []string{b.UserID()}, engine.CallParams{}))
	Expect(b, func(engine.CallReceived) bool { return true })
	Must(t, "accept", b.Accept(Ctx(t)))
	Expect(a, func(engine.CallBegin) bool { return true })
	Expect(b, func(engine.CallBegin) bool { return true })
	a.WaitHas("onUserAudioAvailable(" + b.UserID() + ",true)")
	b.WaitHas("onUserAudioAvailable(" + a.UserID() + ",true)")
}

// Ctx is a context that ends after Wait or with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}

// Must fails the test on err.
func Must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ReadWAV reads a recording made with a wav: speaker (48 kHz mono PCM).
func ReadWAV(t testing.TB, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, info, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if info.SampleRate != audio.SampleRate {
		t.Fatalf("%s: %d Hz, want %d", path, info.SampleRate, audio.SampleRate)
	}
	return pcm
}
