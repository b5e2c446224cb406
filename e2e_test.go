package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"softphone/audio"
	"softphone/internal/calltest"
	"softphone/internal/procstat"
	"softphone/internal/testenv"
	"softphone/signaling"
)

// The terminal end-to-end tests run the real softphone binary in tmux, as a
// user would: a real server, real clients in real terminals, keys sent with
// send-keys and screens read with capture-pane. Each test has a tmux server
// of its own (its own socket), killed at the end with everything in it.

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// softphoneBinary builds the command once per test run (without -race: the
// tests measure and watch it, they do not need its races found twice).
func softphoneBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "softphone-e2e-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "softphone")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// tmuxServer is a private tmux server.
type tmuxServer struct {
	t      testing.TB
	socket string
	conf   string
}

// newTmux starts nothing yet: the server starts with the first session. It
// skips the test when tmux is missing.
func newTmux(t testing.TB) *tmuxServer {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed: the terminal end-to-end tests need it (make test installs it)")
	}
	conf := filepath.Join(t.TempDir(), "tmux.conf")
	// remain-on-exit keeps a finished program's pane, so its exit status
	// and last words can be read.
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g default-terminal xterm-256color\nset -g history-limit 100000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The socket lives in the test's temporary directory, so it goes
	// with it (tmux leaves it behind after kill-server).
	x := &tmuxServer{t: t, socket: filepath.Join(filepath.Dir(conf), "tmux.sock"), conf: conf}
	t.Cleanup(func() { x.cmd("kill-server") })
	return x
}

func (x *tmuxServer) cmd(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-S", x.socket, "-f", x.conf}, args...)...).CombinedOutput()
	return string(out), err
}

func (x *tmuxServer) must(args ...string) string {
	x.t.Helper()
	out, err := x.cmd(args...)
	if err != nil {
		x.t.Fatalf("tmux %q: %v: %s", args, err, out)
	}
	return out
}

// pane is one program in its own tmux session, on an 80x24 terminal.
type pane struct {
	x    *tmuxServer
	name string
	log  string // the program's log file, shown when a wait fails
}

// start runs argv in a new session. env adds to the test's environment.
func (x *tmuxServer) start(name, log string, env []string, argv ...string) *pane {
	x.t.Helper()
	args := []string{"new-session", "-d", "-s", name, "-x", "80", "-y", "24"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	x.must(append(append(args, "--"), argv...)...)
	return &pane{x: x, name: name, log: log}
}

func (p *pane) screen() string {
	out, err := p.x.cmd("capture-pane", "-p", "-t", p.name)
	if err != nil {
		return "(capture-pane failed: " + err.Error() + ": " + out + ")"
	}
	return out
}

// keys sends key names (Enter, Escape) or, with literal, text.
func (p *pane) keys(literal bool, keys ...string) {
	p.x.t.Helper()
	args := []string{"send-keys", "-t", p.name}
	if literal {
		args = append(args, "-l")
	}
	p.x.must(append(args, keys...)...)
}

func (p *pane) press(k string) { p.x.t.Helper(); p.keys(true, k) }

// waitFor waits for every part on the pane's screen; on failure it shows
// the screen and the end of the program's log.
func (p *pane) waitFor(parts ...string) string {
	p.x.t.Helper()
	return waitFor(p.x.t, p.describe(), p.screen, parts...)
}

func (p *pane) describe() string {
	d := "pane " + p.name
	if b, err := os.ReadFile(p.log); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		d += " (log tail:\n  " + strings.Join(lines[max(0, len(lines)-15):], "\n  ") + "\n)"
	}
	return d
}

// pid is the process running in the pane.
func (p *pane) pid() int {
	p.x.t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(p.x.must("display-message", "-p", "-t", p.name, "#{pane_pid}")))
	if err != nil {
		p.x.t.Fatal(err)
	}
	return n
}

// waitExit waits for the program to end and returns its exit status.
func (p *pane) waitExit() int {
	p.x.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		if code, done := p.exited(); done {
			return code
		}
		if time.Now().After(deadline) {
			// A Go program dumps its goroutines on SIGQUIT: the test's
			// report then says where it hangs.
			pid := p.pid()
			syscall.Kill(pid, syscall.SIGQUIT)
			time.Sleep(2 * time.Second)
			dump, _ := p.x.cmd("capture-pane", "-p", "-J", "-S", "-", "-t", p.name)
			p.x.t.Fatalf("%s did not exit; after SIGQUIT its terminal shows:\n%s", p.describe(), dump)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited reports whether the pane's program has ended, and its status.
func (p *pane) exited() (int, bool) {
	p.x.t.Helper()
	pid := p.pid()
	out := strings.Fields(p.x.must("display-message", "-p", "-t", p.name, "#{pane_dead} #{pane_dead_status}"))
	if len(out) == 2 && out[0] == "1" {
		n, _ := strconv.Atoi(out[1])
		return n, true
	}
	// tmux 3.3 sometimes sees the terminal close but leaves the process
	// unreaped (a zombie, no status yet); the kernel still has its exit
	// code.
	if code, ok := procstat.ZombieExitCode(pid); ok && len(out) >= 1 && out[0] == "1" {
		return code, true
	}
	return 0, false
}

// serveProcess runs `softphone serve` on a free loopback port and returns
// its URL; it is stopped with SIGTERM at the end of the test. wrap, if any,
// prefixes the command (ip netns exec NS, to run it in a namespace).
func serveProcess(t testing.TB, bin, keyFile string, wrap ...string) string {
	t.Helper()
	argv := append(wrap, bin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--secret-key-file", keyFile, "--log-level", "warn")
	return startServe(t, argv).url
}

// serveProc is a `softphone serve` child process.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *testenv.Buffer
	exited chan error
}

// startServe runs argv (a softphone serve command line, maybe wrapped) and
// waits for its banner. At the end of the test it is stopped with SIGTERM
// if it still runs.
func startServe(t testing.TB, argv []string) *serveProc {
	t.Helper()
	return launchServe(t, argv)()
}

// launchServe starts argv and returns the wait for its banner: nodes of a
// cluster print theirs only once the others are up.
func launchServe(t testing.TB, argv []string) (banner func() *serveProc) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, stderr: &testenv.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(e2eWait):
			cmd.Process.Kill()
			<-p.exited
			t.Errorf("softphone serve ignored SIGTERM; stderr:\n%s", p.stderr.String())
		}
		p.exited <- nil // for a second cleanup
	})
	return func() *serveProc {
		t.Helper()
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			t.Fatalf("softphone serve printed no banner; stderr:\n%s", p.stderr.String())
		}
		m := regexp.MustCompile(`listening on (ws://\S+)`).FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("banner %q", sc.Text())
		}
		go func() { // keep the pipe drained
			for sc.Scan() {
			}
		}()
		p.url = m[1]
		return p
	}
}

// writeKey writes a fresh secret key for a test server.
func writeKey(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret.key")
	if _, err := signaling.GenerateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientArgs are the flags of a TUI client logged in to url as user.
func clientArgs(bin, url, key, user, mic, log string) []string {
	return []string{bin, "--server", url, "--user", user, "--secret-key-file", key,
		"--mic", mic, "--speaker", "none", "--log-file", log}
}

// checkLog fails the test if a program's log shows a panic.
func checkLog(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("log %s: %v", path, err)
		return
	}
	if bytes.Contains(b, []byte("panic")) {
		t.Errorf("log %s mentions a panic:\n%s", path, b)
	}
}

// TestE2ECallBetweenTwoTerminals is issue 5's end-to-end test: a real
// server and two real clients in two terminals. alice presses c, types
// bob, enter; bob's screen shows the call and he presses a; both screens
// show the call with both people and live meters (mute moves alice's meter
// to 0 on both screens and back); alice presses h; both are idle with the
// call in the recent list; q quits both with status 0.
func TestE2ECallBetweenTwoTerminals(t *testing.T) {
	x := newTmux(t)
	bin := softphoneBinary(t)
	dir := t.TempDir()
	key := writeKey(t)
	url := serveProcess(t, bin, key)
	env := []string{"XDG_STATE_HOME=" + dir}
	a := x.start("alice", filepath.Join(dir, "alice.log"), env, clientArgs(bin, url, key, "alice", "tone:440", filepath.Join(dir, "alice.log"))...)
	b := x.start("bob", filepath.Join(dir, "bob.log"), env, clientArgs(bin, url, key, "bob", "tone:660", filepath.Join(dir, "bob.log"))...)
	a.waitFor("alice @ "+url, "● connected", "Ready.")
	b.waitFor("bob @ "+url, "● connected", "Ready.")

	a.press("c")
	a.waitFor("Call who?")
	a.press("bob")
	a.keys(false, "Enter")
	a.waitFor("Calling bob")
	b.waitFor("alice is calling you", "a accept")
	b.press("a")

	first := a.waitFor("In call", "alice (you)", "bob")
	b.waitFor("In call", "bob (you)", "alice")
	t.Logf("alice's screen as the call began:\n%s", first)
	// Live meters: each tone shows on both screens...
	for _, p := range []*pane{a, b} {
		for _, user := range []string{"alice", "bob"} {
			waitVolume(t, p.describe(), p.screen, user, func(v int) bool { return v > 30 })
		}
	}
	// ...and they follow the sound: alice mutes, her meter falls to 0 on
	// both screens while bob's stays up, then comes back.
	a.press("m")
	a.waitFor("muted")
	for _, p := range []*pane{a, b} {
		waitVolume(t, p.describe(), p.screen, "alice", func(v int) bool { return v == 0 })
	}
	if v := volumes(b.screen())["bob"]; v <= 30 {
		t.Errorf("bob's meter fell to %d when alice muted", v)
	}
	a.press("m")
	for _, p := range []*pane{a, b} {
		waitVolume(t, p.describe(), p.screen, "alice", func(v int) bool { return v > 30 })
	}

	a.press("h")
	a.waitFor("Ready.", "Recent calls", "bob", "completed")
	b.waitFor("Ready.", "Recent calls", "alice", "completed")
	outA := regexp.MustCompile(`→ out\s+bob\s+voice\s+completed`)
	inB := regexp.MustCompile(`← in\s+alice\s+voice\s+completed`)
	if s := a.screen(); !outA.MatchString(s) {
		t.Errorf("alice's recent list lacks the call:\n%s", s)
	}
	if s := b.screen(); !inB.MatchString(s) {
		t.Errorf("bob's recent list lacks the call:\n%s", s)
	}

	for _, p := range []*pane{a, b} {
		p.press("q")
		if code := p.waitExit(); code != 0 {
			t.Errorf("%s exited with %d:\n%s", p.name, code, p.screen())
		}
		checkLog(t, p.log)
	}
}

// TestE2EDemo is issue 6's demo test, on the real binary in a terminal:
// alice calls, a answers, her meter and network quality show, h ends it; a
// call to echo returns the user's own 440 Hz tone to the speaker (a WAV
// recording) about half a second after the call connected; q quits with
// status 0 and the demo's key is gone.
func TestE2EDemo(t *testing.T) {
	x := newTmux(t)
	bin := softphoneBinary(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "demo.log")
	wav := filepath.Join(dir, "me.wav")
	d := x.start("demo", log, []string{"XDG_STATE_HOME=" + dir},
		bin, "demo", "--mic", "tone:440", "--speaker", "wav:"+wav, "--log-file", log, "--alice-after", "1s", "--alice-again", "1h")

	d.waitFor("me @ ws://127.0.0.1:", "● connected", "press c, type echo", "--secret-key-file")
	d.waitFor("alice is calling you", "a accept")
	d.press("a")
	d.waitFor("In call", "me (you)", "alice")
	waitVolume(t, d.describe(), d.screen, "alice", func(v int) bool { return v >= 40 })
	waitVolume(t, d.describe(), d.screen, "alice", func(v int) bool { return v < 15 })
	waitFor(t, d.describe(), func() string {
		if regexp.MustCompile(`alice\s+[█▏▎▍▌▋▊▉·]+\s+\d+\s+(Excellent|Good)`).MatchString(d.screen()) {
			return "quality shown"
		}
		return d.screen()
	}, "quality shown")
	d.press("h")
	d.waitFor("Ready.", "alice", "completed")

	d.press("c")
	d.waitFor("Call who?")
	d.press("echo")
	d.keys(false, "Enter")
	d.waitFor("In call", "echo")
	waitVolume(t, d.describe(), d.screen, "echo", func(v int) bool { return v > 30 })
	d.waitFor("In call · voice · 00:03")
	d.press("h")
	d.waitFor("Ready.", "echo", "completed")
	d.press("q")
	if code := d.waitExit(); code != 0 {
		t.Fatalf("the demo exited with %d:\n%s", code, d.screen())
	}
	// The alternate screen is gone: what the demo printed before it shows.
	after, _ := x.cmd("capture-pane", "-p", "-J", "-S", "-", "-t", d.name)
	m := regexp.MustCompile(`secret key is in (\S+)`).FindStringSubmatch(after)
	if m == nil || !strings.Contains(after, "call server on ws://127.0.0.1:") {
		t.Fatalf("the demo did not say where its server and key are:\n%s", after)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's key %s is still there (%v)", m[1], err)
	}
	checkLog(t, log)

	delay := echoDelay(t, log, wav)
	t.Logf("the echo of my tone came back %v after the call to echo connected", delay)
	// 0.5 s in the bot, plus media set-up and two jitter buffers.
	if delay < audio.EchoDelay-50*time.Millisecond || delay > 1500*time.Millisecond {
		t.Errorf("echo after %v, want about %v", delay, audio.EchoDelay)
	}
}

// logTime reads the time of the first log line (slog text format) after
// skip matches of all of parts.
func logTime(t *testing.T, log []byte, skip int, parts ...string) time.Time {
	t.Helper()
	for _, line := range strings.Split(string(log), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if !ok {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		m := regexp.MustCompile(`^time=(\S+)`).FindStringSubmatch(line)
		if m == nil {
			break
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("log time %q: %v", m[1], err)
		}
		return ts
	}
	t.Fatalf("no log line with %q", parts)
	return time.Time{}
}

// echoDelay finds, in the recording of the user's speaker, how long after
// the call to echo connected the user's own tone came back. The recording's
// first sample is the moment the user's engine logged "audio ready"; the
// call connected when the TUI logged its second onCallBegin (the first is
// alice's call). A 20 ms frame holds the tone when it is loud and its 440 Hz
// is not the ringback's 440+480 Hz chord.
func echoDelay(t *testing.T, logPath, wavPath string) time.Duration {
	t.Helper()
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	start := logTime(t, log, 0, `msg="audio ready"`, "user=me")
	began := logTime(t, log, 1, "event=onCallBegin")
	pcm := calltest.ReadWAV(t, wavPath)
	from := int(began.Sub(start) / audio.FrameDuration)
	for i := from; (i+1)*audio.FrameSamples <= len(pcm); i++ {
		frame := pcm[i*audio.FrameSamples : (i+1)*audio.FrameSamples]
		if audio.Level(frame) < 20 {
			continue
		}
		if p := testenv.TonePower(frame, 440); p > 1e-3 && p > 10*testenv.TonePower(frame, 480) && p > 10*testenv.TonePower(frame, 330) {
			return time.Duration(i-from) * audio.FrameDuration
		}
	}
	t.Fatalf("no 440 Hz in the recording after the call to echo began (frame %d of %d)", from, len(pcm)/audio.FrameSamples)
	return 0
}
