package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"softphone/audio"
	"softphone/signaling"
)

// The engine tests run a real call server on a loopback port, real
// signaling clients over real WebSockets, real pion peer connections and
// real Opus. Audio sources and sinks are synthetic (tone:, wav:, none), so no
// sound card is needed.

const (
	testKey = "engine-test-key"
	testApp = 1400000000
	wait    = 20 * time.Second // generous: shared 2-core machine, -race
)

type testServer struct {
	t     testing.TB
	srv   *signaling.Server
	url   string
	clock *signaling.ManualClock // nil: the real clock
}

// newManualServer starts a server whose timers (invite timeout, grace
// period, ticket expiry) move only with clock.Advance.
func newManualServer(t testing.TB, edit func(*signaling.Config)) *testServer {
	clock := signaling.NewManualClock(time.Now())
	s := newTestServer(t, func(c *signaling.Config) {
		c.Clock = clock
		if edit != nil {
			edit(c)
		}
	})
	s.clock = clock
	return s
}

func newTestServer(t testing.TB, edit func(*signaling.Config)) *testServer {
	t.Helper()
	cfg := signaling.Config{SecretKey: testKey, SDKAppID: testApp}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := signaling.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return &testServer{t: t, srv: srv, url: signaling.WebSocketURL(ln.Addr(), false)}
}

func (s *testServer) ticket(user string, life time.Duration) string {
	s.t.Helper()
	now := time.Now()
	if s.clock != nil {
		now = s.clock.Now()
	}
	sig, err := signaling.Sign(testKey, testApp, user, life, now)
	if err != nil {
		s.t.Fatal(err)
	}
	return sig
}

// testEngine is an engine whose events a goroutine records.
type testEngine struct {
	*Engine
	t testing.TB

	mu     sync.Mutex
	events []Event
	cursor int // next event expect looks at
	more   chan struct{}
	done   chan struct{}
}

// debugLog, when SOFTPHONE_TEST_LOG is set, sends engine logs to stderr.
func debugLog() *slog.Logger {
	if os.Getenv("SOFTPHONE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// advance moves the manual clock and lets the server act on it.
func (s *testServer) advance(d time.Duration) {
	s.t.Helper()
	if s.clock == nil {
		s.t.Fatal("advance needs newManualServer")
	}
	s.clock.Advance(d)
}

// engine starts and logs in user with a 440 Hz tone mic and no speaker,
// unless edit says otherwise.
func (s *testServer) engine(user string, edit func(*Config)) *testEngine {
	s.t.Helper()
	cfg := Config{
		ServerURL:     s.url,
		UserID:        user,
		UserSig:       s.ticket(user, time.Hour),
		Mic:           "tone:440",
		Speaker:       "none",
		AudioBackends: []audio.Backend{audio.BackendNull},
		Logger:        debugLog(),
		ReconnectMin:  50 * time.Millisecond,
		ReconnectMax:  500 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	te := &testEngine{Engine: e, t: s.t, more: make(chan struct{}, 1), done: make(chan struct{})}
	go te.record()
	s.t.Cleanup(func() { te.close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.Login(ctx); err != nil {
		s.t.Fatalf("%s: login: %v", user, err)
	}
	return te
}

func (te *testEngine) record() {
	defer close(te.done)
	for ev := range te.Events() {
		te.mu.Lock()
		te.events = append(te.events, ev)
		te.mu.Unlock()
		select {
		case te.more <- struct{}{}:
		default:
		}
	}
}

func (te *testEngine) close() {
	if err := te.Close(); err != nil {
		te.t.Errorf("%s: close: %v", te.UserID(), err)
	}
	<-te.done
}

// expect waits for the next event of type T that matches (nil: any),
// skipping other events. It fails the test after wait.
func expect[T Event](te *testEngine, match func(T) bool) T {
	te.t.Helper()
	deadline := time.After(wait)
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
		te.mu.Unlock()
		select {
		case <-te.more:
		case <-deadline:
			var zero T
			te.t.Fatalf("%s: no %s arrived; events so far:\n%s", te.UserID(), zero.EventName(), te.dump())
		}
	}
}

// expectIn waits for an event like want (compared with reflect.DeepEqual).
func (te *testEngine) expectEvent(want Event) {
	te.t.Helper()
	deadline := time.After(wait)
	for {
		te.mu.Lock()
		for te.cursor < len(te.events) {
			ev := te.events[te.cursor]
			te.cursor++
			if reflect.DeepEqual(ev, want) {
				te.mu.Unlock()
				return
			}
		}
		te.mu.Unlock()
		select {
		case <-te.more:
		case <-deadline:
			te.t.Fatalf("%s: no %#v arrived; events so far:\n%s", te.UserID(), want, te.dump())
		}
	}
}

// callState returns the call-state events so far, in order, as names with
// their main field, e.g. "onUserJoin(bob)".
func (te *testEngine) callStateEvents() []string {
	te.mu.Lock()
	defer te.mu.Unlock()
	var out []string
	for _, ev := range te.events {
		if IsLossy(ev) {
			continue
		}
		out = append(out, brief(ev))
	}
	return out
}

func brief(ev Event) string {
	switch v := ev.(type) {
	case CallCancelled:
		return "onCallCancelled(" + v.CallerID + ")"
	case UserJoin:
		return "onUserJoin(" + v.UserID + ")"
	case UserLeave:
		return "onUserLeave(" + v.UserID + ")"
	case UserReject:
		return "onUserReject(" + v.UserID + ")"
	case UserNoResponse:
		return "onUserNoResponse(" + v.UserID + ")"
	case UserLineBusy:
		return "onUserLineBusy(" + v.UserID + ")"
	case UserAudioAvailable:
		return fmt.Sprintf("onUserAudioAvailable(%s,%v)", v.UserID, v.IsAudioAvailable)
	case UserVideoAvailable:
		return fmt.Sprintf("onUserVideoAvailable(%s,%v)", v.UserID, v.IsVideoAvailable)
	case CallBegin:
		return fmt.Sprintf("onCallBegin(%v)", v.CallRole)
	case CallEnd:
		return fmt.Sprintf("onCallEnd(%v)", v.CallRole)
	case CallReceived:
		return "onCallReceived(" + v.CallerID + ")"
	case CallMediaTypeChanged:
		return fmt.Sprintf("onCallMediaTypeChanged(%v→%v)", v.OldCallMediaType, v.NewCallMediaType)
	case ConnectionChanged:
		return "onConnectionChanged(" + v.State.String() + ")"
	case ErrorEvent:
		return fmt.Sprintf("onError(%d)", v.Code)
	}
	return ev.EventName()
}

func (te *testEngine) dump() string {
	var b strings.Builder
	for i, s := range te.callStateEvents() {
		fmt.Fprintf(&b, "  %2d %s\n", i, s)
	}
	return b.String()
}

// has reports whether the call-state events include want (brief form).
func (te *testEngine) has(want string) bool {
	for _, s := range te.callStateEvents() {
		if s == want {
			return true
		}
	}
	return false
}

// count counts the call-state events equal to want (brief form).
func (te *testEngine) count(want string) int {
	n := 0
	for _, s := range te.callStateEvents() {
		if s == want {
			n++
		}
	}
	return n
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// must fails the test on err.
func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// volumeOf waits until a volume event shows user above min.
func volumeOf(te *testEngine, user string, min int) int {
	te.t.Helper()
	v := expect(te, func(v UserVoiceVolumeChanged) bool { return v.VolumeMap[user] > min })
	return v.VolumeMap[user]
}

// leakCheck records the goroutine count and checks at cleanup that it came
// back (pion keeps a few process-wide goroutines, hence the slack).
func leakCheck(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { waitGoroutines(t, before+4) })
}

// waitHas waits until the call-state events include want (brief form),
// wherever it is in the stream.
func (te *testEngine) waitHas(want string) {
	te.t.Helper()
	deadline := time.Now().Add(wait)
	for !te.has(want) {
		if time.Now().After(deadline) {
			te.t.Fatalf("%s: no %s; events so far:\n%s", te.UserID(), want, te.dump())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
