package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/sys/unix"

	"softphone/audio"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// The web phone's tests run the real binary and a real Chromium, all in a
// network namespace of the test's own that has only a loopback interface:
// media can go nowhere but 127.0.0.1, whatever the machine's interfaces,
// and a test can drop packets there (nftables) without touching anyone
// else. Every process is started by the test and killed at its end.

// webWait bounds each wait for something to happen in a browser test.
const webWait = 20 * time.Second

// browserToneHz is what every browser's fake microphone plays (a WAV file);
// the softphones play other tones, so each direction is told apart.
const browserToneHz = 1000

type webEnv struct {
	t      testing.TB
	ns     string // network namespace
	bin    string
	dir    string
	key    string
	env    []string // for the softphone processes
	wsURL  string   // the call server, ws(s)://127.0.0.1:PORT/ws
	webURL string   // the web phone, http(s)://127.0.0.1:PORT/
	banner []string // what serve printed on stdout
	stderr *testenv.Buffer
	spki   string // the self-signed certificate's public key hash, if any
	// fingerprint is the certificate's SHA-256 as serve printed it.
	fingerprint string

	stopServer func() // SIGTERM, and wait for the server to end

	browser context.Context
	procsMu sync.Mutex
	procs   []*exec.Cmd
}

type webOpts struct {
	serveArgs []string // more flags for softphone serve
	tls       bool     // the server runs with --tls-self-signed
	noWeb     bool     // the server runs with --web off
}

// newWebEnv makes the namespace, starts softphone serve in it and a
// headless Chromium whose microphone plays browserToneHz.
func newWebEnv(t testing.TB, o webOpts) *webEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the browser tests run in a network namespace of their own, which needs root")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		testenv.Missing(t, "chromium is not installed: the web phone's tests need a real browser (make test installs it)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed: the browser tests need a network namespace and a packet filter (make test installs iproute2 and nftables)", tool)
		}
	}
	e := newEnv(t)
	b := make([]byte, 4)
	rand.Read(b)
	e.ns = "web-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", e.ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", e.ns, err, out)
	}
	t.Cleanup(e.close)
	e.must("ip", "link", "set", "lo", "up")
	e.serve(o)
	e.startBrowser()
	return e
}

// newServeEnv starts softphone serve on the host's loopback, with no
// namespace and no browser: for the checks of what it serves.
func newServeEnv(t testing.TB, o webOpts) *webEnv {
	t.Helper()
	e := newEnv(t)
	t.Cleanup(e.close)
	e.serve(o)
	return e
}

func newEnv(t testing.TB) *webEnv {
	e := &webEnv{t: t, bin: softphoneBinary(t), dir: t.TempDir()}
	e.key = writeKey(t)
	// XDG_CONFIG_HOME keeps --tls-self-signed's certificate in the test.
	e.env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(e.dir, "config"))
	return e
}

// must runs a command inside the namespace.
func (e *webEnv) must(args ...string) string {
	e.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", e.ns}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("%q in %s: %v: %s", args, e.ns, err, out)
	}
	return string(out)
}

// command prepares a process inside the namespace, if there is one (ip
// netns exec execs it, so the process is the program itself).
func (e *webEnv) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if e.ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", e.ns, name}, args...)...)
	}
	cmd.Env = e.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (e *webEnv) track(cmd *exec.Cmd) {
	e.procsMu.Lock()
	e.procs = append(e.procs, cmd)
	e.procsMu.Unlock()
}

func (e *webEnv) close() {
	e.procsMu.Lock()
	procs := e.procs
	e.procsMu.Unlock()
	for _, p := range procs {
		if p.Process != nil && p.ProcessState == nil {
			p.Process.Signal(syscall.SIGTERM)
		}
	}
	if e.ns == "" {
		return
	}
	// Whatever still runs in the namespace is ours: stop it, then remove it.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("ip", "netns", "pids", e.ns).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			break
		}
		if time.Until(deadline) < 2*time.Second {
			for _, f := range strings.Fields(string(out)) {
				var pid int
				fmt.Sscan(f, &pid)
				if pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", e.ns).CombinedOutput(); err != nil {
		e.t.Errorf("ip netns del %s: %v: %s", e.ns, err, out)
	}
}

// serve starts softphone serve and reads its banner.
func (e *webEnv) serve(o webOpts) {
	t := e.t
	e.banner, e.webURL, e.fingerprint = nil, "", ""
	// The STUN/TURN server on a free loopback port: outside a namespace
	// the default :3478 may be another test's.
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--secret-key-file", e.key, "--log-level", "warn"}, o.serveArgs...)
	if o.tls {
		args = append(args, "--tls-self-signed")
	}
	if o.noWeb {
		args = append(args, "--web", "off")
	}
	cmd := e.command(e.bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.track(cmd)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	e.stopServer = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(e2eWait):
			cmd.Process.Kill()
			t.Errorf("softphone serve ignored SIGTERM; stderr:\n%s", stderr.String())
		}
	}
	t.Cleanup(e.stopServer)
	// stdout has the one banner line; stderr says where the web phone is
	// and the certificate's fingerprint.
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("softphone serve printed no banner; stderr:\n%s", stderr.String())
	}
	e.banner = []string{sc.Text()}
	go func() {
		for sc.Scan() {
			t.Errorf("softphone serve: a second line on stdout: %q", sc.Text())
		}
	}()
	m := regexp.MustCompile(`^softphone server listening on (wss?://\S+)$`).FindStringSubmatch(e.banner[0])
	if m == nil {
		t.Fatalf("banner %q", e.banner)
	}
	e.wsURL = m[1]
	deadline := time.Now().Add(e2eWait)
	for !o.noWeb && e.webURL == "" || o.tls && e.fingerprint == "" {
		if w := regexp.MustCompile(`web phone at (https?://\S+/) `).FindStringSubmatch(stderr.String()); w != nil {
			e.webURL = w[1]
		}
		if f := regexp.MustCompile(`fingerprint: ([0-9A-F:]{95})\n`).FindStringSubmatch(stderr.String()); f != nil {
			e.fingerprint = f[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("softphone serve did not say where the web phone is; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.stderr = stderr
	if o.tls {
		e.spki = spkiOf(t, filepath.Join(e.dir, "config", "softphone", "tls", "cert.pem"))
	}
}

// startBrowser starts headless Chromium in the namespace, with fake
// devices: a camera test pattern and a WAV file as the microphone.
func (e *webEnv) startBrowser() {
	t := e.t
	wav := filepath.Join(e.dir, "mic.wav")
	writeTone(t, wav, browserToneHz, 0.3, 5*time.Second)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"),
		chromedp.NoSandbox,
		chromedp.UserDataDir(filepath.Join(e.dir, "chromium")),
		chromedp.WindowSize(1100, 800),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Candidates as plain addresses (the engine resolves no mDNS names).
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		// Nothing reaches out: no updates, pings or metrics.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Args = append([]string{"ip", "netns", "exec", e.ns, cmd.Path}, cmd.Args[1:]...)
			cmd.Path = mustLook(t, "ip")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	)
	if e.spki != "" {
		// Trust exactly the server's self-signed certificate, as a user
		// who checked the fingerprint and accepted it.
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", e.spki))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	e.browser = bctx
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
}

// spkiOf is the base64 SHA-256 of a PEM certificate's public key, for
// Chromium's --ignore-certificate-errors-spki-list.
func spkiOf(t testing.TB, certPEM string) string {
	t.Helper()
	b, err := os.ReadFile(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", certPEM)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func mustLook(t testing.TB, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeTone writes a sine of hz at amplitude (of full scale) to a WAV file.
func writeTone(t testing.TB, path string, hz, amp float64, d time.Duration) {
	t.Helper()
	tone, err := audio.NewTone(hz, amp)
	if err != nil {
		t.Fatal(err)
	}
	w, err := audio.CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, audio.FrameSamples)
	for i := 0; i < int(d/audio.FrameDuration); i++ {
		tone.Read(frame)
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// ---- headless softphones ----------------------------------------------------

// phone is a `softphone --headless` process: commands in, JSON lines out.
type phone struct {
	t    testing.TB
	user string
	cmd  *exec.Cmd
	in   io.WriteCloser
	wav  string // what its speaker played
	log  string

	mu    sync.Mutex
	lines []map[string]any
	grew  chan struct{}
	done  chan struct{}
}

// phone starts a headless softphone for user whose microphone plays a tone
// of micHz and whose speaker is recorded.
func (e *webEnv) phone(user string, micHz int, extra ...string) *phone {
	t := e.t
	t.Helper()
	p := &phone{t: t, user: user, wav: filepath.Join(e.dir, user+".wav"), log: filepath.Join(e.dir, user+".log"),
		grew: make(chan struct{}, 1), done: make(chan struct{})}
	args := append([]string{"--headless", "--server", e.wsURL, "--user", user, "--secret-key-file", e.key,
		"--mic", fmt.Sprintf("tone:%d", micHz), "--speaker", "wav:" + p.wav, "--log-file", p.log}, extra...)
	p.cmd = e.command(e.bin, args...)
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.track(p.cmd)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.mu.Unlock()
			select {
			case p.grew <- struct{}{}:
			default:
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(p.quit)
	p.wait(0, "login", func(m map[string]any) bool { return m["response"] == "login" && m["ok"] == true })
	return p
}

// linesSoFar returns every line read so far.
func (p *phone) linesSoFar() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// send writes one command line.
func (p *phone) send(cmd string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		p.t.Fatalf("%s: send %q: %v", p.user, cmd, err)
	}
}

// mark is where the next wait starts looking.
func (p *phone) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// wait returns the first line from index from on that matches.
func (p *phone) wait(from int, what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(webWait)
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				m := p.lines[i]
				p.mu.Unlock()
				return m
			}
		}
		from = len(p.lines)
		p.mu.Unlock()
		select {
		case <-p.grew:
		case <-p.done:
			p.mu.Lock()
			last := p.lines[max(0, len(p.lines)-5):]
			p.mu.Unlock()
			p.t.Fatalf("%s exited while waiting for %s; its last lines %v; log:\n%s", p.user, what, last, tail(p.log, 20))
		case <-deadline:
			p.t.Fatalf("%s: no %s within %v; log:\n%s", p.user, what, webWait, tail(p.log, 20))
		}
	}
}

// event waits for the named event (from mark on) whose fields include want.
func (p *phone) event(from int, name string, want map[string]any) map[string]any {
	p.t.Helper()
	return p.wait(from, fmt.Sprintf("%s %v", name, want), func(m map[string]any) bool {
		if m["event"] != name {
			return false
		}
		for k, v := range want {
			if fmt.Sprint(m[k]) != fmt.Sprint(v) {
				return false
			}
		}
		return true
	})
}

// ok sends a command and waits for its successful response.
func (p *phone) ok(cmd string) {
	p.t.Helper()
	from := p.mark()
	p.send(cmd)
	name := strings.Fields(cmd)[0]
	r := p.wait(from, "response to "+cmd, func(m map[string]any) bool { return m["response"] == name })
	if r["ok"] != true {
		p.t.Fatalf("%s: %s: %v", p.user, cmd, r)
	}
}

// quit ends the process (its recording is complete after that).
func (p *phone) quit() {
	select {
	case <-p.done:
		return
	default:
	}
	io.WriteString(p.in, "quit\n")
	p.in.Close()
	select {
	case <-p.done:
	case <-time.After(e2eWait):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// heard reports how much of what p's speaker played had the tone hz in
// it: the share of loud 20 ms frames in which hz carries at least a tenth
// of the frame's power (a lone sine carries a half, one of two equal
// sines a quarter).
func (p *phone) heard(hz float64) float64 {
	p.t.Helper()
	p.quit()
	share, _ := heardIn(p.t, p.wav, hz)
	return share
}

// heardIn is heard for any WAV recording, with how long hz was heard.
// Frames of the ringtones (the ring's 400+450 Hz, the ringback's 440+480
// Hz, audio/ringtone.go) are left out: they are not the call's sound.
func heardIn(t testing.TB, wav string, hz float64) (share float64, d time.Duration) {
	t.Helper()
	pcm := calltest.ReadWAV(t, wav)
	loud, match := 0, 0
	for i := 0; (i+1)*audio.FrameSamples <= len(pcm); i++ {
		frame := pcm[i*audio.FrameSamples : (i+1)*audio.FrameSamples]
		if audio.Level(frame) < 30 {
			continue
		}
		var ms float64
		for _, x := range frame {
			ms += float64(x) * float64(x) / (32768 * 32768)
		}
		ms /= float64(len(frame))
		carries := func(f float64) bool { return testenv.TonePower(frame, f) >= 0.1*ms }
		if carries(400) || carries(480) {
			continue // a ringtone
		}
		loud++
		if carries(hz) {
			match++
		}
	}
	if loud == 0 {
		return 0, 0
	}
	return float64(match) / float64(loud), time.Duration(match) * audio.FrameDuration
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return lastLines(string(b), n)
}

// ---- browser pages --------------------------------------------------------------

// recorder keeps every TUICallKit event of the page in window.__tuiEvents,
// subscribed before the page's own script logs in.
const recorder = `
window.__tuiEvents = [];
window.__console = [];
for (const k of ["log", "debug", "info", "warn", "error"]) {
  const orig = console[k].bind(console);
  console[k] = (...a) => { window.__console.push(k + ": " + a.map(String).join(" ")); orig(...a); };
}
window.addEventListener("error", (e) => window.__console.push("uncaught: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.__console.push("unhandled rejection: " + e.reason));
document.addEventListener("DOMContentLoaded", () => {
  if (!window.TUICallKit) return;
  TUICallKit.setAudioConstraints({echoCancellation: false, noiseSuppression: false, autoGainControl: false});
  // A small, slow camera: the machine is shared, and video is checked
  // for flowing, not for its size.
  TUICallKit.setVideoConstraints({width: 320, height: 240, frameRate: 15});
  window.__volumeTimes = [];
  TUICallKit.on(TUICallEvent.onUserVoiceVolumeChanged, () => window.__volumeTimes.push(performance.now()));
  for (const n of Object.values(TUICallEvent)) TUICallKit.on(n, (e) => window.__tuiEvents.push(JSON.parse(JSON.stringify(e))));
});
`

// tab is one page in its own browser context (its own storage).
type tab struct {
	t      testing.TB
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// open loads url in a new tab of a browser context of its own (its own
// storage).
func (e *webEnv) open(name, url string) *tab {
	e.t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext())
	return newTab(e.t, name, ctx, cancel, url)
}

// sibling opens url in a new tab of the same browser context (the same
// local storage, its own session storage).
func (b *tab) sibling(url string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	return newTab(b.t, b.name+"'", ctx, cancel, url)
}

func newTab(t testing.TB, name string, ctx context.Context, cancel context.CancelFunc, url string) *tab {
	t.Helper()
	t.Cleanup(cancel)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recorder})
		return err
	}), chromedp.Navigate(url))
	if err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return &tab{t: t, name: name, ctx: ctx, cancel: cancel}
}

// eval runs JavaScript (awaiting a promise) and decodes its value into out.
func (b *tab) eval(js string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, webWait)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %s: %v\nconsole:\n%s", b.name, js, err, b.console())
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s: %s: result %s: %v", b.name, js, raw, err)
		}
	}
}

// console is what the page logged, for failure reports.
func (b *tab) console() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__console || []`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// waitJS polls a JavaScript condition until it is true.
func (b *tab) waitJS(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(webWait)
	for {
		var ok bool
		b.eval("!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var screen string
			b.eval(`document.body.innerText`, &screen)
			b.t.Fatalf("%s: %s: not within %v\npage:\n%s\nconsole:\n%s", b.name, what, webWait, screen, b.console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// key presses one key on the page (a name such as "a", or kb.Escape).
func (b *tab) key(k string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(k)); err != nil {
		b.t.Fatalf("%s: key %q: %v", b.name, k, err)
	}
}

// events returns the page's TUICallKit events so far.
func (b *tab) events() []map[string]any {
	b.t.Helper()
	var evs []map[string]any
	b.eval(`window.__tuiEvents`, &evs)
	return evs
}

// waitEvent waits for an event whose fields include want.
func (b *tab) waitEvent(name string, want map[string]any) map[string]any {
	b.t.Helper()
	deadline := time.Now().Add(webWait)
	for {
		for _, ev := range b.events() {
			if ev["event"] != name {
				continue
			}
			match := true
			for k, v := range want {
				if fmt.Sprint(ev[k]) != fmt.Sprint(v) {
					match = false
				}
			}
			if match {
				return ev
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no %s %v within %v; events:\n%v\nconsole:\n%s", b.name, name, want, webWait, b.events(), b.console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// toneOf measures the strongest frequency the page receives from user,
// through WebAudio, as the page plays it.
func (b *tab) toneOf(user string) float64 {
	b.t.Helper()
	var hz float64
	b.eval(fmt.Sprintf(`(async () => {
  const s = TUICallKit.remoteStream(%q);
  if (!s || s.getAudioTracks().length === 0) return -1;
  const ctx = new AudioContext();
  const a = ctx.createAnalyser();
  a.fftSize = 8192;
  ctx.createMediaStreamSource(s).connect(a);
  await new Promise((r) => setTimeout(r, 700));
  const buf = new Float32Array(a.frequencyBinCount);
  a.getFloatFrequencyData(buf);
  let best = 1;
  for (let i = 1; i < buf.length; i++) if (buf[i] > buf[best]) best = i;
  const hz = best * ctx.sampleRate / a.fftSize;
  const db = buf[best];
  ctx.close();
  return db > -70 ? hz : -db;
})()`, user), &hz)
	return hz
}

// screenshot saves the page as a PNG artifact and returns its path.
func (b *tab) screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	dir := os.Getenv("SOFTPHONE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "softphone-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// near reports whether a measured frequency is within one analyser bin
// (5.9 Hz at 48 kHz and 8192 points) of want.
func near(got, want float64) bool { return math.Abs(got-want) <= 12 }

// dropUDP makes the namespace drop pct % of the UDP packets it delivers
// (media; the signaling's TCP is left alone), or stops dropping with 0.
func (e *webEnv) dropUDP(pct int) {
	e.t.Helper()
	exec.Command("ip", "netns", "exec", e.ns, "nft", "delete", "table", "inet", "webloss").Run()
	if pct == 0 {
		return
	}
	rules := fmt.Sprintf(`table inet webloss {
  chain in {
    type filter hook input priority 0; policy accept;
    meta l4proto udp numgen random mod 100 < %d drop
  }
}
`, pct)
	cmd := exec.Command("ip", "netns", "exec", e.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("nft: %v: %s", err, out)
	}
}

// cutServer resets the TCP connections to the call server's port (at
// their next packet) while on, as a broken Wi-Fi would; the media's UDP is
// left alone.
func (e *webEnv) cutServer(on bool) {
	e.t.Helper()
	exec.Command("ip", "netns", "exec", e.ns, "nft", "delete", "table", "inet", "webcut").Run()
	if !on {
		return
	}
	u, err := url.Parse(e.wsURL)
	if err != nil {
		e.t.Fatal(err)
	}
	rules := fmt.Sprintf(`table inet webcut {
  chain in {
    type filter hook input priority 0; policy accept;
    tcp dport %s tcp flags & rst == 0 reject with tcp reset
  }
}
`, u.Port())
	cmd := exec.Command("ip", "netns", "exec", e.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("nft: %v: %s", err, out)
	}
}

// listenInNS opens a TCP listener on 127.0.0.1 inside the namespace, for a
// server the test itself runs (a page from another site): the calling
// thread enters the namespace just for the listen.
func (e *webEnv) listenInNS() net.Listener {
	e.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		e.t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + e.ns)
	if err != nil {
		e.t.Fatal(err)
	}
	defer target.Close()
	setns := func(f *os.File) error {
		return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	}
	if err := setns(target); err != nil {
		e.t.Fatalf("enter %s: %v", e.ns, err)
	}
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if err := setns(self); err != nil {
		// This thread cannot go back: let it die with its goroutine.
		runtime.Goexit()
	}
	if lerr != nil {
		e.t.Fatal(lerr)
	}
	return ln
}
