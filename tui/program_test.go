package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"softphone/engine"
	"softphone/internal/testenv"
)

// vterm is a virtual terminal for the program: a real VT emulator parses
// every byte the program writes (so the test reads the screen a user would
// see, not the diff the renderer sent), answers the program's queries, and
// carries the test's key presses to the program's input.
type vterm struct {
	mu  sync.Mutex
	em  *vt.Emulator
	raw bytes.Buffer
}

func newVterm(w, h int) *vterm {
	em := vt.NewEmulator(w, h)
	// The program's input is not a tty, so Bubble Tea expects the tty's
	// output processing to turn "\n" into "\r\n" (ONLCR), as a pty in
	// cooked output mode does; newline mode is that in the emulator.
	em.WriteString(ansi.SetModeLineFeedNewLine)
	return &vterm{em: em}
}

func (v *vterm) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.raw.Write(p)
	return v.em.Write(p)
}

// Read is the program's input: keys and the terminal's replies.
func (v *vterm) Read(p []byte) (int, error) { return v.em.Read(p) }

// screen is the text on the terminal now.
func (v *vterm) screen() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.em.String()
}

// output is every byte the program wrote.
func (v *vterm) output() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.raw.String()
}

func (v *vterm) typeKeys(s string) error {
	_, err := io.WriteString(v.em.InputPipe(), s)
	return err
}

// hangUp closes the terminal's input, as a closed terminal would.
func (v *vterm) hangUp() { v.em.InputPipe().(*io.PipeWriter).Close() }

// term is a running program on a virtual terminal.
type term struct {
	t     *testing.T
	phone *fakePhone
	vt    *vterm
	logs  *testenv.Buffer
	done  chan error
}

// startProgram runs the real program (Run's code path) on an 80x24 virtual
// terminal. wrap, if not nil, wraps the phone's model (to plant faults).
func startProgram(t *testing.T, ctx context.Context, wrap func(*Model) phoneModel, extra ...tea.ProgramOption) *term {
	t.Helper()
	tm := &term{t: t, phone: newFakePhone(), vt: newVterm(80, 24), logs: &testenv.Buffer{}, done: make(chan error, 1)}
	opts := Options{
		LogPath: "/tmp/softphone-test.log",
		Logger:  slog.New(slog.NewTextHandler(tm.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Input:   tm.vt,
		Output:  tm.vt,
		Environ: []string{"TERM=xterm-256color"},
	}.withDefaults()
	extra = append([]tea.ProgramOption{tea.WithWindowSize(80, 24), tea.WithoutSignals()}, extra...)
	ctx, cancel := context.WithCancel(ctx)
	m := newModel(ctx, tm.phone, opts)
	var pm phoneModel = m
	if wrap != nil {
		pm = wrap(m)
	}
	go func() {
		defer cancel()
		tm.done <- runModel(ctx, tm.phone, pm, opts, extra...)
	}()
	t.Cleanup(func() {
		cancel()
		tm.vt.hangUp()
	})
	return tm
}

func (tm *term) press(s string) {
	tm.t.Helper()
	if err := tm.vt.typeKeys(s); err != nil {
		tm.t.Fatalf("typing %q: %v", s, err)
	}
}

// waitScreen waits (generously) until the terminal shows every part.
func (tm *term) waitScreen(parts ...string) {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		text := tm.vt.screen()
		missing := ""
		for _, p := range parts {
			if !strings.Contains(text, p) {
				missing = p
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("screen never showed %q; it shows:\n%s", missing, text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (tm *term) wait() error {
	tm.t.Helper()
	select {
	case err := <-tm.done:
		return err
	case <-time.After(15 * time.Second):
		tm.t.Fatal("the program did not end within 15s")
		return nil
	}
}

func (tm *term) send(evs ...engine.Event) {
	for _, ev := range evs {
		tm.phone.events <- ev
	}
}

// TestProgramScriptedCall runs the real program for a whole 1:1 call: dial
// by keys, connect, meters, hang up, quit. It checks the bytes written:
// the alternate screen is entered and left, the screens appeared, and no
// line was ever wrapped.
func TestProgramScriptedCall(t *testing.T) {
	tm := startProgram(t, context.Background(), nil)
	tm.send(engine.ConnectionChanged{State: engine.ConnConnected},
		engine.AudioDeviceChanged{Mic: "Test Mic", Speaker: "Test Speaker"})
	tm.waitScreen("connected", "Test Mic", "Ready.")

	tm.press("c")
	tm.waitScreen("Call who?")
	tm.press("bob\r")
	if a := tm.phone.waitAction(t); a != "Call bob voice" {
		t.Fatalf("action = %q", a)
	}
	tm.waitScreen("Calling bob")

	tm.send(engine.CallBegin{CallMediaType: engine.MediaVoice, CallRole: engine.RoleCaller},
		engine.UserJoin{UserID: "bob"},
		engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{"alice": 64, "bob": 31}},
		engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{"alice": engine.QualityExcellent, "bob": engine.QualityGood}})
	tm.waitScreen("In call", "alice (you)", "64", "31", "Excellent", "Good")

	tm.press("h")
	if a := tm.phone.waitAction(t); a != "Hangup" {
		t.Fatalf("action = %q", a)
	}
	tm.waitScreen("Recent calls", "completed")
	tm.press("q")
	if err := tm.wait(); err != nil {
		t.Fatalf("Run = %v, want nil after q", err)
	}
	out := tm.vt.output()
	if !strings.Contains(out, ansi.SetModeAltScreenSaveCursor) || !strings.Contains(out, ansi.ResetModeAltScreenSaveCursor) {
		t.Error("the alternate screen was not entered and left")
	}
	if i := strings.LastIndex(out, ansi.ResetModeAltScreenSaveCursor); i >= 0 && strings.TrimSpace(ansi.Strip(out[i:])) != "" {
		t.Errorf("text was drawn after the alternate screen was left: %q", out[i:])
	}
	if n := bells(out); n != 0 {
		t.Errorf("the bell rang %d times without an incoming call", n)
	}
}

// TestProgramSlowEngineDoesNotFreezeKeys blocks Accept inside the engine
// and checks that keys and events still reach the screen meanwhile.
func TestProgramSlowEngineDoesNotFreezeKeys(t *testing.T) {
	tm := startProgram(t, context.Background(), nil)
	release := tm.phone.blockOn("Accept")
	tm.send(engine.CallReceived{CallerID: "bob", CallMediaType: engine.MediaVoice})
	tm.waitScreen("bob is calling you")
	tm.press("a")
	if a := tm.phone.waitAction(t); a != "Accept" {
		t.Fatalf("action = %q", a)
	}
	// Accept is stuck in the engine; the UI must still answer.
	tm.press("?")
	tm.waitScreen("Log file: /tmp/softphone-test.log")
	tm.send(engine.ConnectionChanged{State: engine.ConnReconnecting})
	tm.waitScreen("reconnecting")
	close(release)
	tm.send(engine.CallBegin{CallRole: engine.RoleCalled})
	tm.waitScreen("In call")
	tm.press("q")
	tm.waitScreen("Hang up and quit?")
	tm.press("y")
	if a := tm.phone.waitAction(t); a != "Hangup" {
		t.Fatalf("action = %q, want Hangup before quitting", a)
	}
	if err := tm.wait(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := tm.phone.recorded(); strings.Join(got, ",") != "Accept,Hangup" {
		t.Errorf("engine actions = %q, want Accept then one Hangup", got)
	}
	if bells(tm.vt.output()) == 0 {
		t.Error("no terminal bell for the incoming call")
	}
}

func TestProgramCancelledContextHangsUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tm := startProgram(t, ctx, nil)
	tm.press("c")
	tm.press("bob\r")
	tm.phone.waitAction(t)
	tm.send(engine.CallBegin{CallRole: engine.RoleCaller})
	tm.waitScreen("In call")
	cancel()
	if err := tm.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if a := tm.phone.waitAction(t); a != "Hangup" {
		t.Fatalf("action after cancel = %q, want Hangup", a)
	}
}

func TestProgramEngineStopReturnsItsError(t *testing.T) {
	tm := startProgram(t, context.Background(), nil)
	close(tm.phone.events)
	tm.waitScreen("The phone engine stopped")
	tm.press("q")
	if err := tm.wait(); !errors.Is(err, ErrEngineStopped) {
		t.Fatalf("Run = %v, want ErrEngineStopped", err)
	}
}

func TestProgramKickedReturnsItsError(t *testing.T) {
	tm := startProgram(t, context.Background(), nil)
	tm.send(engine.KickedOffline{})
	tm.waitScreen("Signed in elsewhere")
	tm.press("q")
	if err := tm.wait(); !errors.Is(err, ErrKickedOffline) {
		t.Fatalf("Run = %v, want ErrKickedOffline", err)
	}
}

// panicky is the phone's model with a bug planted: it panics in Update on
// "x", or in View once armed.
type panicky struct {
	*Model
	inView bool
}

func (p *panicky) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "x" {
		if p.inView {
			p.Model.hint = "armed"
			return p, nil
		}
		panic("planted bug in Update")
	}
	_, cmd := p.Model.Update(msg)
	return p, cmd
}

func (p *panicky) View() tea.View {
	if p.Model.hint == "armed" {
		panic("planted bug in View")
	}
	return p.Model.View()
}

// TestProgramPanicRestoresTerminal plants a panic in Update and in View and
// checks that the user gets the terminal back, a short error, and no Go
// stack trace on the screen or on stderr; the stack goes to the log.
func TestProgramPanicRestoresTerminal(t *testing.T) {
	for _, inView := range []bool{false, true} {
		name := "Update"
		if inView {
			name = "View"
		}
		t.Run(name, func(t *testing.T) {
			stderr := captureStderr(t)
			tm := startProgram(t, context.Background(), func(m *Model) phoneModel { return &panicky{Model: m, inView: inView} })
			tm.press("c")
			tm.press("bob\r")
			tm.phone.waitAction(t)
			tm.send(engine.CallBegin{CallRole: engine.RoleCaller})
			tm.waitScreen("In call")
			tm.press("x")
			err := tm.wait()
			if !errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), "planted bug in "+name) ||
				!strings.Contains(err.Error(), "/tmp/softphone-test.log") {
				t.Fatalf("Run = %v, want a short internal error naming the log", err)
			}
			if strings.Contains(err.Error(), "goroutine") {
				t.Fatalf("the error carries a stack trace: %v", err)
			}
			out := tm.vt.output()
			if !strings.Contains(out, ansi.ResetModeAltScreenSaveCursor) {
				t.Error("the alternate screen was not left")
			}
			for _, s := range []string{"goroutine ", "panic(", ".go:"} {
				if strings.Contains(out, s) {
					t.Errorf("terminal output shows %q of a stack trace", s)
				}
			}
			if got := stderr(); got != "" {
				t.Errorf("stderr got %q", got)
			}
			if logs := tm.logs.String(); !strings.Contains(logs, "planted bug") || !strings.Contains(logs, "goroutine") {
				t.Errorf("the log lacks the panic and its stack:\n%s", logs)
			}
			// The call was up: leaving still hangs it up.
			if a := tm.phone.waitAction(t); a != "Hangup" {
				t.Errorf("action after the crash = %q, want Hangup", a)
			}
		})
	}
}

// TestActionPanicBecomesAnError: a panic inside the engine, in an action's
// goroutine, shows as an error and the program goes on.
func TestActionPanicBecomesAnError(t *testing.T) {
	h := newHarness(t)
	var logs testenv.Buffer
	h.m.logger = slog.New(slog.NewTextHandler(&logs, nil))
	h.m.phone = panicPhone{h.phone}
	h.dial("bob")
	h.wantState(stateIdle)
	h.wantScreen("Call failed: internal error in the engine")
	if !strings.Contains(logs.String(), "engine exploded") {
		t.Errorf("the log lacks the panic: %s", logs.String())
	}
}

type panicPhone struct{ *fakePhone }

func (panicPhone) Call(context.Context, []string, engine.CallParams) error { panic("engine exploded") }

// captureStderr swaps os.Stderr for a pipe until the test ends and returns
// a function reading what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stderr
	os.Stderr = w
	var buf testenv.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&buf, r)
		close(copied)
	}()
	restore := sync.OnceFunc(func() {
		os.Stderr = orig
		w.Close()
		<-copied
		r.Close()
	})
	t.Cleanup(restore)
	return func() string {
		restore()
		return buf.String()
	}
}

// TestProgramWithoutColour runs with the ASCII profile (what NO_COLOR
// selects) and checks that no colour reaches the terminal while every state
// word does.
func TestProgramWithoutColour(t *testing.T) {
	tm := startProgram(t, context.Background(), nil, tea.WithColorProfile(colorprofile.ASCII))
	tm.send(engine.ConnectionChanged{State: engine.ConnConnected})
	tm.press("c")
	tm.press("bob\r")
	tm.phone.waitAction(t)
	tm.send(engine.CallBegin{CallRole: engine.RoleCaller},
		engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{"bob": 50}},
		engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{"bob": engine.QualityBad}})
	tm.press("m")
	tm.phone.waitAction(t)
	tm.waitScreen("connected", "MIC MUTED", "Bad", "50", "muted")
	tm.press("q")
	tm.press("y")
	tm.wait()
	if sgr := colourSGRs(tm.vt.output()); len(sgr) > 0 {
		t.Fatalf("colour codes under the ASCII profile: %q", sgr)
	}
}

// TestStylesUseOnlyBasicColours: every colour the phone draws is one of the
// 16 basic ANSI colours, so 16-colour terminals show exactly what was meant.
func TestStylesUseOnlyBasicColours(t *testing.T) {
	for _, sc := range scenes {
		h := newHarness(t)
		sc.setup(h)
		for _, seq := range sgrSequences(h.m.render()) {
			for _, p := range strings.Split(seq, ";") {
				if p == "38" || p == "48" || p == "58" {
					t.Fatalf("%s: extended colour in %q", sc.name, seq)
				}
			}
		}
	}
}

// sgrSequences returns the parameter strings of every SGR sequence in s.
func sgrSequences(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return out
		}
		s = s[i+2:]
		j := strings.IndexFunc(s, func(r rune) bool { return r >= 0x40 && r <= 0x7e })
		if j < 0 {
			return out
		}
		if s[j] == 'm' {
			out = append(out, s[:j])
		}
		s = s[j+1:]
	}
}

// colourSGRs returns the SGR sequences of s that set a colour.
func colourSGRs(s string) []string {
	var out []string
	for _, seq := range sgrSequences(s) {
		for _, p := range strings.Split(seq, ";") {
			if n := atoiOr(p, -1); n >= 30 && n <= 49 && n != 39 && n != 49 || n >= 90 && n <= 107 {
				out = append(out, seq)
				break
			}
		}
	}
	return out
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// bells counts terminal bells in out: BEL characters that do not end an
// OSC sequence (such as the window title).
func bells(out string) int {
	n := 0
	for i := 0; i < len(out); i++ {
		switch {
		case strings.HasPrefix(out[i:], "\x1b]"):
			end := strings.IndexAny(out[i:], "\a\x9c")
			if st := strings.Index(out[i:], "\x1b\\"); st >= 0 && (end < 0 || st < end) {
				end = st + 1
			}
			if end < 0 {
				return n
			}
			i += end
		case out[i] == '\a':
			n++
		}
	}
	return n
}

// ---- bridge ----------------------------------------------------------------

func TestBridgeDeliversEverythingInOrder(t *testing.T) {
	events := make(chan engine.Event, 8)
	done := make(chan struct{})
	var got []tea.Msg
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		bridge(events, done, func(m tea.Msg) {
			got = append(got, m) // a slow program: the bridge must wait, not drop
			runtime.Gosched()
		})
	}()
	const n = 2000
	for i := range n {
		events <- engine.UserJoin{UserID: string(rune('a' + i%26))}
	}
	close(events)
	<-finished
	if len(got) != n+1 {
		t.Fatalf("delivered %d messages, want %d events and the stop", len(got), n+1)
	}
	for i := range n {
		if got[i].(engine.UserJoin).UserID != string(rune('a'+i%26)) {
			t.Fatalf("message %d out of order", i)
		}
	}
	if _, ok := got[n].(engineStoppedMsg); !ok {
		t.Fatalf("last message = %T, want engineStoppedMsg", got[n])
	}
}

func TestBridgeStopsWhenTheProgramEnds(t *testing.T) {
	events := make(chan engine.Event)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		bridge(events, done, func(tea.Msg) {})
	}()
	close(done)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge outlived the program")
	}
}

// TestRunLeavesNoGoroutines: after Run returns (and the terminal input is
// closed, as a real terminal's would be at exit), nothing it started runs.
func TestRunLeavesNoGoroutines(t *testing.T) {
	running := testenv.Running()
	tm := startProgram(t, context.Background(), nil)
	tm.send(engine.CallReceived{CallerID: "bob"})
	tm.waitScreen("bob is calling you")
	tm.press("a")
	tm.phone.waitAction(t)
	tm.send(engine.CallBegin{CallRole: engine.RoleCalled})
	tm.waitScreen("In call")
	tm.press("q")
	tm.press("y")
	if err := tm.wait(); err != nil {
		t.Fatal(err)
	}
	tm.vt.hangUp()
	running.Check(t) // pending ticks (≤3 s) end too
}

func TestRunRejectsNilPhone(t *testing.T) {
	if err := Run(context.Background(), nil, Options{}); err == nil {
		t.Fatal("Run(nil phone) = nil")
	}
}

// TestRunDrawsOnANonTerminalOutput: through Run itself (no test-only
// program options), an Output that is not a terminal gets a screen of the
// size Options says, or 80x24 when it says nothing. Before Width and
// Height existed such an Output (the demo's in-process test, an SSH
// channel) stayed blank.
func TestRunDrawsOnANonTerminalOutput(t *testing.T) {
	for _, tc := range []struct{ w, h, wantW int }{{60, 20, 60}, {0, 0, 80}} {
		vt := newVterm(100, 30)
		phone := newFakePhone()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, phone, Options{Input: vt, Output: vt, Width: tc.w, Height: tc.h, Environ: []string{"TERM=xterm-256color"}})
		}()
		phone.events <- engine.ConnectionChanged{State: engine.ConnConnected}
		deadline := time.Now().Add(15 * time.Second)
		rule := strings.Repeat("─", tc.wantW)
		for !strings.Contains(vt.screen(), "Ready.") || !strings.Contains(vt.screen(), rule+"\n") {
			if time.Now().After(deadline) {
				t.Fatalf("%dx%d: the screen shows:\n%s", tc.w, tc.h, vt.screen())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		vt.hangUp()
	}
}
