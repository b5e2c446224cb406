package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// fakePhone is a test double of the engine's API surface: it records every
// action, can fail or block chosen ones, and hands the test the event
// channel. The real engine replaces it in the end-to-end test.
type fakePhone struct {
	user, server string
	maxCallSize  int
	events       chan engine.Event

	mu      sync.Mutex
	actions []string
	errs    map[string]error         // method name -> error to return
	blocks  map[string]chan struct{} // method name -> wait for close (or ctx)
	did     chan string              // one entry per action, for tests that wait
}

func newFakePhone() *fakePhone {
	return &fakePhone{
		user:   "alice",
		server: "ws://127.0.0.1:7000",
		events: make(chan engine.Event, 64),
		// The server's default; a test may set another before newModel.
		maxCallSize: 9,
		errs:        map[string]error{},
		blocks:      map[string]chan struct{}{},
		did:         make(chan string, 256),
	}
}

func (f *fakePhone) record(ctx context.Context, name, detail string) error {
	f.mu.Lock()
	entry := name
	if detail != "" {
		entry += " " + detail
	}
	f.actions = append(f.actions, entry)
	err, block := f.errs[name], f.blocks[name]
	f.mu.Unlock()
	f.did <- entry
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", name, ctx.Err())
		}
	}
	return err
}

func (f *fakePhone) failWith(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[name] = err
}

func (f *fakePhone) blockOn(name string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.blocks[name] = ch
	return ch
}

func (f *fakePhone) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

// waitAction waits (generously) for the next action and returns it.
func (f *fakePhone) waitAction(t *testing.T) string {
	t.Helper()
	select {
	case a := <-f.did:
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("no engine action within 10s; so far: %q", f.recorded())
		return ""
	}
}

func (f *fakePhone) Events() <-chan engine.Event { return f.events }

func (f *fakePhone) Call(ctx context.Context, ids []string, p engine.CallParams) error {
	return f.record(ctx, "Call", strings.Join(ids, ",")+" "+p.MediaType.String())
}
func (f *fakePhone) Accept(ctx context.Context) error { return f.record(ctx, "Accept", "") }
func (f *fakePhone) Reject(ctx context.Context) error { return f.record(ctx, "Reject", "") }
func (f *fakePhone) Hangup(ctx context.Context) error { return f.record(ctx, "Hangup", "") }
func (f *fakePhone) Invite(ctx context.Context, ids []string) error {
	return f.record(ctx, "Invite", strings.Join(ids, ","))
}
func (f *fakePhone) SwitchMediaType(ctx context.Context, t engine.MediaType) error {
	return f.record(ctx, "SwitchMediaType", t.String())
}
func (f *fakePhone) SetMicMuted(muted bool) error {
	return f.record(context.Background(), "SetMicMuted", fmt.Sprint(muted))
}
func (f *fakePhone) UserID() string    { return f.user }
func (f *fakePhone) ServerURL() string { return f.server }
func (f *fakePhone) MaxCallSize() int  { return f.maxCallSize }

var _ Phone = (*fakePhone)(nil)

// ---- driving the model directly --------------------------------------------

// t0 is the fixed clock of the Update-level tests and golden files.
var t0 = time.Date(2026, 3, 14, 15, 4, 5, 0, time.UTC)

// fakeClock is the injected clock: tests move it by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// timerMsg stands for a timer the model scheduled: the test sees it instead
// of sleeping, and delivers msg itself when it wants time to pass.
type timerMsg struct {
	d   time.Duration
	msg tea.Msg
}

// harness drives a Model the way the program would, synchronously.
type harness struct {
	t     *testing.T
	m     *Model
	phone *fakePhone
	clock *fakeClock
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, newFakePhone())
}

// newHarnessWith is newHarness with a phone set up beforehand (its call
// size, say).
func newHarnessWith(t *testing.T, phone *fakePhone) *harness {
	t.Helper()
	h := &harness{t: t, phone: phone, clock: &fakeClock{now: t0}}
	h.m = newModel(context.Background(), phone, Options{LogPath: "/home/alice/.local/state/softphone/softphone.log"})
	h.m.now = h.clock.Now
	h.m.after = func(d time.Duration, msg tea.Msg) tea.Cmd {
		return func() tea.Msg { return timerMsg{d: d, msg: msg} }
	}
	h.m.width, h.m.height = 80, 24
	return h
}

// send delivers msg to Update and runs the returned commands (engine actions
// run against the fake phone), returning the messages they produced. Timers
// come back as timerMsg, unexecuted.
func (h *harness) send(msg tea.Msg) []tea.Msg {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	return runCmd(cmd)
}

// sendAll delivers msg and then feeds every produced action result back,
// until only timers, bells and quits remain; those are returned.
func (h *harness) sendAll(msg tea.Msg) []tea.Msg {
	h.t.Helper()
	var rest []tea.Msg
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, out := range h.send(next) {
			if _, ok := out.(actionResultMsg); ok {
				queue = append(queue, out)
				continue
			}
			rest = append(rest, out)
		}
	}
	return rest
}

// press types keys; each is a key name ("enter", "esc", "ctrl+c") or one
// character. Action results are fed back.
func (h *harness) press(keys ...string) []tea.Msg {
	h.t.Helper()
	var out []tea.Msg
	for _, k := range keys {
		out = append(out, h.sendAll(keyMsg(k))...)
	}
	return out
}

// typeText types each rune of s.
func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.sendAll(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// event delivers engine events as the bridge would.
func (h *harness) event(evs ...engine.Event) []tea.Msg {
	h.t.Helper()
	var out []tea.Msg
	for _, ev := range evs {
		out = append(out, h.sendAll(ev)...)
	}
	return out
}

// screen is the current frame without styles.
func (h *harness) screen() string { return stripANSI(h.m.render()) }

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	if len(r) != 1 {
		panic("keyMsg: unknown key " + k)
	}
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// runCmd executes cmd and everything it batches, returning the messages.
func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	switch msg := msg.(type) {
	case nil:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, runCmd(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

// has reports whether msgs holds a message of type T.
func has[T any](msgs []tea.Msg) bool {
	for _, m := range msgs {
		if _, ok := m.(T); ok {
			return true
		}
	}
	return false
}

// rang reports whether msgs rings the terminal bell.
func rang(msgs []tea.Msg) bool {
	for _, m := range msgs {
		if r, ok := m.(tea.RawMsg); ok && r.Msg == "\a" {
			return true
		}
	}
	return false
}
