package headless

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// headlessProc is Run on pipes, as a script would drive the binary.
type headlessProc struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan map[string]any
	raw   chan string
	done  chan error
}

func startHeadless(t *testing.T, s *calltest.Server, user string, edit func(*engine.Config)) *headlessProc {
	t.Helper()
	cfg := s.Config(user)
	if edit != nil {
		edit(&cfg)
	}
	e, err := engine.New(cfg)
	calltest.Must(t, "new", err)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &headlessProc{t: t, in: inW, lines: make(chan map[string]any, 1000), raw: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		h.done <- Run(context.Background(), e, inR, outW)
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("%s: stdout line is not JSON: %q", user, sc.Text())
				continue
			}
			h.raw <- sc.Text()
			h.lines <- m
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-h.done:
		case <-time.After(calltest.Wait):
			t.Errorf("%s: headless did not end", user)
		}
		inR.Close()
	})
	return h
}

func (h *headlessProc) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		h.t.Fatal(err)
	}
}

// next waits for a line with key == val.
func (h *headlessProc) next(key, val string) map[string]any {
	h.t.Helper()
	m, _ := h.nextAfter(key, val)
	return m
}

// nextAfter waits for a line with key == val and also returns the lines
// before it.
func (h *headlessProc) nextAfter(key, val string) (map[string]any, []map[string]any) {
	h.t.Helper()
	deadline := time.After(calltest.Wait)
	var before []map[string]any
	for {
		select {
		case m, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("output ended before %s=%s", key, val)
			}
			if m[key] == val {
				return m, before
			}
			before = append(before, m)
		case <-deadline:
			h.t.Fatalf("no line with %s=%s", key, val)
		}
	}
}

func TestHeadless(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice := startHeadless(t, s, "alice", nil)
	bob := startHeadless(t, s, "bob", func(c *engine.Config) { c.AutoAnswer = true })
	if r := alice.next("response", "login"); r["ok"] != true || r["userId"] != "alice" {
		t.Fatalf("login %v", r)
	}
	bob.next("response", "login")

	alice.send("dance")
	if r := alice.next("response", "dance"); r["ok"] != false || r["code"] != float64(engine.CodeInvalid) || !strings.Contains(r["message"].(string), "unknown command") {
		t.Fatalf("bad command reply %v", r)
	}
	alice.send("accept")
	if r := alice.next("response", "accept"); r["ok"] != false || r["code"] != float64(engine.CodeWrongState) {
		t.Fatalf("accept with no call %v", r)
	}
	alice.send(`call bob --user-data "hello there" --timeout 20`)
	if r := alice.next("response", "call"); r["ok"] != true {
		t.Fatalf("call %v", r)
	}
	rec := bob.next("event", "onCallReceived")
	if rec["callerId"] != "alice" || rec["userData"] != "hello there" {
		t.Fatalf("onCallReceived %v", rec)
	}
	begin := alice.next("event", "onCallBegin")
	if begin["callRole"] != float64(1) || begin["roomId"].(map[string]any)["strRoomId"] == "" {
		t.Fatalf("onCallBegin %v", begin)
	}
	bob.next("event", "onCallBegin")
	alice.next("event", "onUserVoiceVolumeChanged")
	alice.send("mute")
	alice.next("response", "mute")
	bob.next("event", "onUserAudioAvailable")
	alice.send("hangup")
	alice.next("response", "hangup")
	end := bob.next("event", "onCallEnd")
	if end["callRole"] != float64(2) {
		t.Fatalf("onCallEnd %v", end)
	}
	alice.send("quit")
	alice.next("response", "quit")
	if err := <-alice.done; err != nil {
		t.Fatalf("alice ended with %v", err)
	}
	alice.done <- nil
	bob.in.Close() // EOF means quit
	if err := <-bob.done; err != nil {
		t.Fatalf("bob ended with %v", err)
	}
	bob.done <- nil
}

func TestHeadlessLoginFailure(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	h := startHeadless(t, s, "alice", func(c *engine.Config) { c.UserSig = "garbage" })
	r := h.next("response", "login")
	if r["ok"] != false || r["code"] != float64(2001) {
		t.Fatalf("login %v", r)
	}
	if err := <-h.done; err == nil {
		t.Fatal("Run returned nil after a failed login")
	}
	h.done <- nil
}

// TestHeadlessResponseComesBeforeItsEvents: the login response is the first
// line, and each command's response comes before the events it caused.
func TestHeadlessResponseComesBeforeItsEvents(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice := startHeadless(t, s, "alice", nil)
	bob := startHeadless(t, s, "bob", func(c *engine.Config) { c.AutoAnswer = true })
	for _, h := range []*headlessProc{alice, bob} {
		if _, before := h.nextAfter("response", "login"); len(before) != 0 {
			t.Fatalf("lines before the login response: %v", before)
		}
	}
	// Each command, and the event of its own that must not come first.
	for _, step := range []struct{ cmd, event string }{
		{"mute", "onUserAudioAvailable"},
		{"unmute", "onUserAudioAvailable"},
		{"call bob", "onCallBegin"},
		{"hangup", "onCallEnd"},
	} {
		alice.send(step.cmd)
		r, before := alice.nextAfter("response", strings.Fields(step.cmd)[0])
		if r["ok"] != true {
			t.Fatalf("%s: %v", step.cmd, r)
		}
		for _, m := range before {
			if m["event"] == step.event {
				t.Fatalf("%s: %s came before the response: %v", step.cmd, step.event, before)
			}
		}
		alice.next("event", step.event)
	}
}
