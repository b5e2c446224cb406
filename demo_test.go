package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"softphone/internal/testenv"
	"softphone/signaling"
)

// The in-process demo test runs `softphone demo` through run(), with a
// virtual terminal instead of the process's own, so it can check what tmux
// cannot: that nothing the demo started is left running once it returns.

// vterm is a virtual terminal: a VT emulator parses what the program writes
// and carries key presses to its input.
type vterm struct {
	mu sync.Mutex
	em *vt.Emulator
}

func newVterm(w, h int) *vterm {
	em := vt.NewEmulator(w, h)
	// The input is not a tty, so Bubble Tea expects the tty's "\n" to
	// "\r\n" translation; newline mode is that in the emulator.
	em.WriteString(ansi.SetModeLineFeedNewLine)
	return &vterm{em: em}
}

func (v *vterm) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.em.Write(p)
}

func (v *vterm) Read(p []byte) (int, error) { return v.em.Read(p) }

func (v *vterm) screen() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.em.String()
}

func (v *vterm) press(t *testing.T, keys string) {
	t.Helper()
	if _, err := io.WriteString(v.em.InputPipe(), keys); err != nil {
		t.Fatalf("typing %q: %v", keys, err)
	}
}

// hangUp closes the terminal's input, as a closed terminal's would be.
func (v *vterm) hangUp() { v.em.InputPipe().(*io.PipeWriter).Close() }

// e2eWait bounds every wait of the end-to-end tests: generous, for a
// loaded 2-core machine under -race.
const e2eWait = 30 * time.Second

// waitFor polls screen() until every part shows, or fails with what it
// shows instead.
func waitFor(t testing.TB, what string, screen func() string, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		s := screen()
		missing := ""
		for _, p := range parts {
			if !strings.Contains(s, p) {
				missing = p
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; it shows:\n%s", what, missing, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// meterRow matches a participant row of the call screen: the name (with
// "(you)" for this user), the meter bar and its number.
var meterRow = regexp.MustCompile(`(?m)^\S?\s*([A-Za-z0-9_-]+)(?: \(you\))?\s+[█▏▎▍▌▋▊▉·]+\s+(\d+)\s`)

// volumes reads every participant's meter value off a call screen.
func volumes(screen string) map[string]int {
	out := map[string]int{}
	for _, m := range meterRow.FindAllStringSubmatch(screen, -1) {
		n := 0
		for _, c := range m[2] {
			n = n*10 + int(c-'0')
		}
		out[m[1]] = n
	}
	return out
}

// waitVolume waits until user's meter on the screen satisfies ok.
func waitVolume(t testing.TB, what string, screen func() string, user string, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		s := screen()
		if v, found := volumes(s)[user]; found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s's meter never got there; the screen:\n%s", what, user, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDemoStartsAndStopsCleanly runs the whole demo in this process: alice
// calls, a answers, her meter moves, h hangs up, q quits; then the key is
// gone, the log has the bots' lines and not one goroutine is left (checked exactly).
func TestDemoStartsAndStopsCleanly(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	testenv.NoLeaks(t)
	term := newVterm(80, 24)
	defer term.hangUp()
	logPath := filepath.Join(t.TempDir(), "demo.log")
	var stderr testenv.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"demo", "--mic", "tone:440", "--speaker", "none", "--log-file", logPath, "--alice-after", "300ms"}, term, term, &stderr)
	}()

	waitFor(t, "the demo", term.screen, "Ready.", "press c, type echo")
	// Another softphone logs in with a ticket minted from the printed key.
	m := regexp.MustCompile(`call server on (\S+) .*\n.*secret key is in (\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("the server and key were not printed; stderr:\n%s", stderr.String())
	}
	url, keyPath := m[1], m[2]
	var sig strings.Builder
	if c := run([]string{"usersig", "--secret-key-file", keyPath, "--user", "bob"}, nil, &sig, io.Discard); c != 0 {
		t.Fatalf("usersig with the demo's key: exit %d", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	bob, err := signaling.Dial(ctx, signaling.ClientConfig{URL: url, UserID: "bob", UserSig: strings.TrimSpace(sig.String())})
	if err != nil {
		t.Fatalf("bob logs in to the demo's server: %v", err)
	}
	bob.Close()
	waitFor(t, "the demo", term.screen, "alice is calling you", "a accept")
	term.press(t, "a")
	waitFor(t, "the demo", term.screen, "In call", "me (you)", "alice")
	// Her voice rises and falls: the meter shows both.
	waitVolume(t, "the demo", term.screen, "alice", func(v int) bool { return v >= 40 })
	waitVolume(t, "the demo", term.screen, "alice", func(v int) bool { return v < 15 })
	term.press(t, "h")
	waitFor(t, "the demo", term.screen, "Ready.", "alice", "completed")
	term.press(t, "q")
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d; stderr:\n%s", c, stderr.String())
		}
	case <-time.After(e2eWait):
		t.Fatal("the demo did not quit")
	}
	term.hangUp()

	if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
		t.Errorf("the demo's key %s is still there (%v)", keyPath, err)
	}
	log, _ := os.ReadFile(logPath)
	for _, want := range []string{"user=alice", "user=echo", "component=server", "bot: calling"} {
		if !bytes.Contains(log, []byte(want)) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

func TestDemoFlags(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, args := range [][]string{
		{"--user", "echo"},
		{"--user", "alice"},
		{"--user", "no spaces"},
		{"--log-level", "loud"},
		{"extra"},
	} {
		var stderr strings.Builder
		if c := run(append([]string{"demo"}, args...), strings.NewReader(""), io.Discard, &stderr); c != 2 {
			t.Errorf("demo %q: exit %d, want 2; stderr %q", args, c, stderr.String())
		}
	}
	var stderr strings.Builder
	if c := run([]string{"demo", "--listen", "256.0.0.1:1"}, strings.NewReader(""), io.Discard, &stderr); c != 1 || !strings.Contains(stderr.String(), "listen on 256.0.0.1:1") {
		t.Errorf("bad --listen: exit %d, stderr %q", c, stderr.String())
	}
}

func TestDemoURLs(t *testing.T) {
	local, public := demoURLs(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7880})
	if local != "ws://127.0.0.1:7880/ws" || public != local {
		t.Errorf("loopback: %s %s", local, public)
	}
	local, public = demoURLs(&net.TCPAddr{IP: net.IPv4zero, Port: 7880})
	if local != "ws://127.0.0.1:7880/ws" {
		t.Errorf("every interface: the demo's own clients dial %s", local)
	}
	if !regexp.MustCompile(`^ws://[0-9.]+:7880/ws$`).MatchString(public) || strings.Contains(public, "0.0.0.0") {
		t.Errorf("every interface: others are told %s", public)
	}
}
