// Command versus is the side-by-side step of `make bench`: a 1:1 loopback
// call between two `softphone --headless` processes and one between two
// baresip processes (Debian's C softphone, DTLS-SRTP), Opus 48 kHz mono
// 20 ms of the same 440 Hz tone on both (softphone's tone:440, baresip's
// aufile of it) and no playback, in alternating rounds, each call set
// up afresh and measured over the same window. It prints, per endpoint, CPU in
// percent of one core (user and kernel), context switches per second, threads,
// RSS and dial → RTP flowing both ways, with the range over the rounds.
//
//	go run ./internal/versus [-rounds 4] [-window 20s] [-softphone ./softphone] [-before OLD_BINARY]
//
// -before adds a call to each round with another softphone binary (a build
// from before a change), and a column for it: before and after side by side
// in one run. It may be repeated.
//
// -wav FILE makes both sides send that recording instead of the tone
// (any WAV the softphone's wav: microphone reads; it is converted to 48 kHz
// mono and repeated to the call's length). Speech is what calls carry, and
// Opus codes it differently from a tone (SILK with CELT above 8 kHz, where a
// tone is CELT alone), so the codec's share of the CPU differs; for
// example, a speech file from espeak-ng:
//
//	espeak-ng -w speech.wav "$(cat README.md | head -c 2000)"
//	go run ./internal/versus -wav speech.wav
//
// Everything runs in a network namespace of its own with only loopback (and a
// veth pair, since baresip wants an address that is not loopback's): the
// calls cannot leak onto the machine's network, and a packet socket there
// sees every RTP packet of either phone (internal/rtpsniff), which is how the
// dial → RTP time is taken and how media is checked both ways, the same way
// for both. Each side's receiver is checked too: the softphone's meters show
// the other party's tone, baresip's status line shows its bit rates. It needs
// root (namespaces, packet sockets). It exits 1 when a target of issue 14 is
// missed or a call could not be measured, after the table.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"softphone/audio"
	"softphone/internal/procstat"
	"softphone/internal/rtpsniff"
)

// A 20 ms Opus stream is 50 packets a second; a window's stream must carry
// at least this share of them to count as media flowing.
const minPacketShare = 0.9

func main() {
	rounds := flag.Int("rounds", 4, "rounds; each measures one softphone call and one baresip call")
	window := flag.Duration("window", 20*time.Second, "how long each call is measured")
	settle := flag.Duration("settle", 2*time.Second, "how long a call runs before its window")
	softphone := flag.String("softphone", "./softphone", "the softphone binary")
	var before []string
	flag.Func("before", "another softphone binary (a build from before a change) to measure in the same rounds; may be repeated", func(v string) error {
		before = append(before, v)
		return nil
	})
	baresip := flag.String("baresip", "baresip", "the baresip binary (Debian's baresip-core)")
	wav := flag.String("wav", "", "a WAV file both sides send instead of the 440 Hz tone (speech, say), repeated")
	flag.Parse()
	if err := run(*rounds, *window, *settle, *softphone, before, *baresip, *wav); err != nil {
		fmt.Fprintln(os.Stderr, "versus:", err)
		os.Exit(1)
	}
}

func run(rounds int, window, settle time.Duration, softphoneBin string, beforeBins []string, baresipBin, wav string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: network namespaces and packet sockets")
	}
	var err error
	if softphoneBin, err = filepath.Abs(softphoneBin); err != nil {
		return err
	}
	if _, err := os.Stat(softphoneBin); err != nil {
		return fmt.Errorf("%w (make bench builds it)", err)
	}
	sides := []*side{{name: "softphone --headless", bin: softphoneBin}}
	for _, bin := range beforeBins {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return err
		}
		sides = append(sides, &side{name: filepath.Base(bin), bin: abs})
	}
	sides = append(sides, &side{name: "baresip DTLS-SRTP", baresip: true})
	if baresipBin, err = exec.LookPath(baresipBin); err != nil {
		return fmt.Errorf("%w (make bench installs Debian's baresip-core)", err)
	}
	dir, err := os.MkdirTemp("", "softphone-versus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Each softphone under test runs from a copy written here the same
	// way: how a file got into the page cache decides how the kernel maps
	// it (a binary fresh from the linker sits in large folios that are
	// mapped 2 MB at a time), and with it up to 5 MB of RSS; copies made
	// alike make the columns comparable.
	for i, sd := range sides {
		if sd.baresip {
			continue
		}
		cp := filepath.Join(dir, fmt.Sprintf("softphone-%d", i))
		if err := copyFile(sd.bin, cp); err != nil {
			return err
		}
		sd.bin = cp
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ns := fmt.Sprintf("leanbench-%d", os.Getpid())
	if err := makeNetns(ns); err != nil {
		return err
	}
	defer exec.Command("ip", "netns", "del", ns).Run()

	// What both sides send, as a file: baresip's aufile source reads it
	// (its ausine source is stereo only), so it is long enough that aufile,
	// which does not loop, never runs out. The softphones send the same:
	// the tone from their own tone:440 source, a recording from one
	// repetition of it, which their wav: source loops (it holds the file in
	// memory, so a short loop keeps their RSS comparable).
	tone := filepath.Join(dir, "source.wav")
	mic := "tone:440"
	if wav != "" {
		loop := filepath.Join(dir, "loop.wav")
		if err := writeSource(loop, wav, 0); err != nil {
			return err
		}
		mic = "wav:" + loop
	}
	if err := writeSource(tone, wav, settle+window+20*time.Second); err != nil {
		return err
	}
	sn, err := rtpsniff.Open(ns)
	if err != nil {
		return err
	}
	defer sn.Close()
	env := &bench{ns: ns, dir: dir, tone: tone, mic: mic, serveBin: softphoneBin, baresip: baresipBin,
		sniff: sn, window: window, settle: settle}
	if err := env.startServer(); err != nil {
		return err
	}
	defer env.server.stop()

	busy0, total0, okMachine := procstat.MachineCPU()
	for r := range rounds {
		for _, i := range roundOrder(len(sides), r) {
			sd := sides[i]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var res roundResult
			var err error
			if sd.baresip {
				res, err = env.baresipCall(ctx)
			} else {
				res, err = env.softphoneCall(ctx, sd.bin)
			}
			if err != nil {
				res.err = err
				fmt.Printf("round %d, %s: %v\n", r+1, sd.name, err)
			} else {
				fmt.Printf("round %d, %s: %s\n", r+1, sd.name, res)
			}
			sd.rounds = append(sd.rounds, res)
		}
	}
	busy1, total1, ok := procstat.MachineCPU()
	fmt.Println()
	if okMachine && ok && total1 > total0 {
		fmt.Printf("machine busy during the run (every process): %.0f %%\n", 100*float64(busy1-busy0)/float64(total1-total0))
	}
	source := "a 440 Hz tone"
	if wav != "" {
		source = filepath.Base(wav)
	}
	fmt.Printf("%d rounds, alternating, %v windows, both sides sending %s; per endpoint: mean of caller and callee per round; mean (min–max) over rounds\n\n",
		rounds, window, source)
	t := compare(sides)
	t.print(os.Stdout)
	if t.bad > 0 {
		return fmt.Errorf("%d target(s) missed or not measured", t.bad)
	}
	return nil
}

// makeNetns creates network namespace name with lo up and a veth pair with
// an address (baresip takes its media address from an interface that is not
// loopback; traffic to it still goes through lo).
func makeNetns(name string) error {
	steps := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "link", "add", "vs0", "type", "veth", "peer", "name", "vs1"},
		{"-n", name, "addr", "add", "10.199.0.1/24", "dev", "vs0"},
		{"-n", name, "link", "set", "vs0", "up"},
		{"-n", name, "link", "set", "vs1", "up"},
	}
	for i, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			if i > 0 {
				exec.Command("ip", "netns", "del", name).Run()
			}
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// loopLimit is the longest stretch of a -wav recording the phones send:
// what is longer is cut, and the rest repeats it.
const loopLimit = 10 * time.Second

// writeSource writes what the phones send, 48 kHz mono 16-bit, of duration
// d: the WAV file wav (converted, cut to loopLimit, repeated; d 0 writes it
// once), or without one a 440 Hz tone at the softphone's tone amplitude.
func writeSource(path, wav string, d time.Duration) error {
	var read func([]int16)
	if wav == "" {
		tone, err := audio.NewTone(440, audio.DefaultToneAmplitude)
		if err != nil {
			return err
		}
		read = func(pcm []int16) { tone.Read(pcm) }
	} else {
		f, err := os.Open(wav)
		if err != nil {
			return err
		}
		rec, _, err := audio.ReadWAV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-wav %s: %w", wav, err)
		}
		if len(rec) < audio.SampleRate {
			return fmt.Errorf("-wav %s: shorter than a second", wav)
		}
		// Whole frames, so that the loop the softphones play and the
		// repetitions baresip reads have the same period.
		frame := audio.SampleRate / 50
		rec = rec[:min(len(rec), int(loopLimit.Seconds())*audio.SampleRate)/frame*frame]
		if d == 0 {
			d = time.Duration(len(rec)/frame) * 20 * time.Millisecond
		}
		at := 0
		read = func(pcm []int16) {
			for i := range pcm {
				pcm[i] = rec[at]
				at = (at + 1) % len(rec)
			}
		}
	}
	w, err := audio.CreateWAV(path)
	if err != nil {
		return err
	}
	pcm := make([]int16, audio.SampleRate/50)
	for range int(d / (20 * time.Millisecond)) {
		read(pcm)
		if err := w.Write(pcm); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// roundOrder is the order the n sides run in round r: a rotation, reversed
// in every other round. A plain rotation runs each side after the same
// other side in every round (with softphone, before and baresip: the
// first column always right after baresip); with the reversals, over 2n
// rounds every side runs in every place and after each other side equally
// often (for n ≤ 3). One binary in two columns read 607 and 541 context
// switches a second with the plain rotation, 585 and 550 with this (6
// rounds; single rounds range 484–699).
func roundOrder(n, r int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = (i + r/2) % n
	}
	if r%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// side is one kind of call measured in every round.
type side struct {
	name    string
	bin     string // a softphone binary
	baresip bool   // baresip calls instead
	rounds  []roundResult
}

type bench struct {
	ns, dir, tone, mic string
	serveBin, baresip  string // the softphone binary that serves, baresip's
	sniff              *rtpsniff.Sniffer
	window, settle     time.Duration
	server             *proc
	serverURL, keyFile string
	port               int // the next baresip SIP port
}

// proc is a child process in the namespace, its stdin kept open and its
// output read line by line (lines end at \n or \r: baresip redraws its
// status line with \r).
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

func (b *bench) start(name string, args ...string) (*proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", b.ns}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 256), done: make(chan struct{})}
	go func() {
		cmd.Wait()
		pw.Close()
	}()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pr)
		sc.Split(splitLines)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody is reading: drop (status lines, meters)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	return p, nil
}

// splitLines is bufio.ScanLines with \r as a line end too.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\n' || c == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// waitLine waits for a line for which match returns true.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration, what string, match func(string) bool) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l := <-p.lines:
			if match(l) {
				return nil
			}
		case <-p.done:
			return fmt.Errorf("%s exited before %s", p.name, what)
		case <-t.C:
			return fmt.Errorf("%s: no %s within %v", p.name, what, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.stdin.Close()
}

func (b *bench) startServer() error {
	b.keyFile = filepath.Join(b.dir, "secret.key")
	if err := os.WriteFile(b.keyFile, []byte("versus-bench-secret-key-0123456789\n"), 0o600); err != nil {
		return err
	}
	p, err := b.start("softphone serve", b.serveBin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0",
		"--secret-key-file", b.keyFile, "--log-level", "warn")
	if err != nil {
		return err
	}
	b.server = p
	var url string
	if err := p.waitLine(context.Background(), 15*time.Second, "banner", func(l string) bool {
		if i := strings.Index(l, "ws://"); i >= 0 {
			url = strings.Fields(l[i:])[0]
			return true
		}
		return false
	}); err != nil {
		p.stop()
		return err
	}
	b.serverURL = url
	go func() { // keep its output drained
		for range p.lines {
		}
	}()
	return nil
}

// roundResult is one call's measurement.
type roundResult struct {
	caller, callee procstat.Rates
	dialToRTP      time.Duration
	err            error
}

func (r roundResult) String() string {
	f := func(x procstat.Rates) string {
		return fmt.Sprintf("CPU %.2f %% (user %.2f, kernel %.2f), %.0f switches/s, %d threads, RSS %.1f MB (anonymous %.1f)",
			x.CPU, x.User, x.System, x.SwitchesPerSec, x.Threads, float64(x.RSS)/(1<<20), float64(x.RSSAnon)/(1<<20))
	}
	return fmt.Sprintf("dial → RTP both ways %.1f ms; caller %s; callee %s",
		float64(r.dialToRTP)/float64(time.Millisecond), f(r.caller), f(r.callee))
}

// measure times dial → two RTP streams, lets the call settle, then reads
// both processes over the window and checks that both streams carried media
// throughout it.
func (b *bench) measure(ctx context.Context, caller, callee *proc, dial func() error) (roundResult, error) {
	var res roundResult
	b.sniff.Reset()
	t0 := time.Now()
	if err := dial(); err != nil {
		return res, err
	}
	both, err := b.sniff.WaitStreams(2, 10*time.Second)
	if err != nil {
		return res, fmt.Errorf("dial → RTP both ways: %w", err)
	}
	res.dialToRTP = both.Sub(t0)
	if err := sleep(ctx, b.settle); err != nil {
		return res, err
	}
	s0 := b.sniff.Streams()
	a0, err1 := procstat.ReadUsage(caller.cmd.Process.Pid)
	c0, err2 := procstat.ReadUsage(callee.cmd.Process.Pid)
	if err := errors.Join(err1, err2); err != nil {
		return res, err
	}
	if err := sleep(ctx, b.window); err != nil {
		return res, err
	}
	a1, err1 := procstat.ReadUsage(caller.cmd.Process.Pid)
	c1, err2 := procstat.ReadUsage(callee.cmd.Process.Pid)
	if err := errors.Join(err1, err2); err != nil {
		return res, err
	}
	s1 := b.sniff.Streams()
	res.caller, res.callee = procstat.Between(a0, a1), procstat.Between(c0, c1)
	return res, checkStreams(s0, s1, a1.At.Sub(a0.At))
}

// checkStreams checks that exactly two RTP streams flowed over the window,
// each with at least minPacketShare of its 50 packets a second.
func checkStreams(before, after []rtpsniff.Stream, window time.Duration) error {
	start := map[uint32]int{}
	for _, s := range before {
		start[s.SSRC] = s.Packets
	}
	want := int(minPacketShare * 50 * window.Seconds())
	var flowing []string
	for _, s := range after {
		n := s.Packets - start[s.SSRC]
		if n >= want {
			flowing = append(flowing, fmt.Sprintf("%08x: %d packets", s.SSRC, n))
		}
	}
	if len(flowing) != 2 || len(after) != 2 {
		return fmt.Errorf("media not flowing both ways in the window: %d streams, %d with ≥ %d packets %v",
			len(after), len(flowing), want, flowing)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- softphone ---------------------------------------------------------------

// headlessEvent is the part of a headless output line the bench reads.
type headlessEvent struct {
	Event     string         `json:"event"`
	Response  string         `json:"response"`
	OK        *bool          `json:"ok"`
	VolumeMap map[string]int `json:"volumeMap"`
}

func (b *bench) headless(bin, user string, extra ...string) (*proc, error) {
	args := append([]string{bin, "--headless", "--server", b.serverURL, "--user", user,
		"--secret-key-file", b.keyFile, "--mic", b.mic, "--speaker", "none", "--log-level", "warn"}, extra...)
	p, err := b.start("softphone "+user, args...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (b *bench) softphoneCall(ctx context.Context, bin string) (roundResult, error) {
	alice, err := b.headless(bin, "alice")
	if err != nil {
		return roundResult{}, err
	}
	defer alice.stop()
	bob, err := b.headless(bin, "bob", "--auto-answer")
	if err != nil {
		return roundResult{}, err
	}
	defer bob.stop()
	for _, p := range []*proc{alice, bob} {
		if err := p.waitLine(ctx, 15*time.Second, "login", isResponse("login")); err != nil {
			return roundResult{}, err
		}
	}
	// The receivers' meters: each must hear the other's tone in the window.
	var mu sync.Mutex
	heard := map[string]int{}
	measuring := false
	watch := func(p *proc, self, other string) {
		for l := range p.lines {
			var e headlessEvent
			if json.Unmarshal([]byte(l), &e) != nil || e.Event != "onUserVoiceVolumeChanged" {
				continue
			}
			mu.Lock()
			if measuring && e.VolumeMap[other] > 10 {
				heard[self]++
			}
			mu.Unlock()
		}
	}
	go watch(alice, "alice", "bob")
	go watch(bob, "bob", "alice")
	res, err := b.measure(ctx, alice, bob, func() error {
		mu.Lock()
		measuring = true
		mu.Unlock()
		_, err := io.WriteString(alice.stdin, "call bob\n")
		return err
	})
	if err != nil {
		return res, err
	}
	mu.Lock()
	defer mu.Unlock()
	// onUserVoiceVolumeChanged comes every 300 ms: most of the window's
	// reports must show the other party speaking.
	want := int(0.5 * b.window.Seconds() / 0.3)
	if heard["alice"] < want || heard["bob"] < want {
		return res, fmt.Errorf("receivers' meters: alice heard bob in %d reports, bob heard alice in %d, want ≥ %d each",
			heard["alice"], heard["bob"], want)
	}
	return res, nil
}

func isResponse(name string) func(string) bool {
	return func(l string) bool {
		var e headlessEvent
		return json.Unmarshal([]byte(l), &e) == nil && e.Response == name && e.OK != nil && *e.OK
	}
}

// ---- baresip -----------------------------------------------------------------

// baresipConfig is a baresip config for one endpoint: Opus 48 kHz mono at
// 32 kbit/s from the tone file (aufile), no playback device (aubridge's nil
// player), SIP on 127.0.0.1:port, the menu on stdin.
func baresipConfig(port int, tone string) string {
	return fmt.Sprintf(`sip_listen 127.0.0.1:%d
audio_player aubridge,nil
audio_source aufile,%s
audio_alert aubridge,nil
module_path /usr/lib/baresip/modules
module stdio.so
module opus.so
module aufile.so
module aubridge.so
module dtls_srtp.so
module account.so
module_app menu.so
opus_bitrate 32000
opus_stereo no
opus_sprop_stereo no
audio_srate 48000
audio_channels 1
`, port, tone)
}

// baresipAccount answers automatically, registers nowhere and encrypts media
// with DTLS-SRTP.
func baresipAccount(user string, port int) string {
	return fmt.Sprintf("<sip:%s@127.0.0.1:%d;transport=udp>;regint=0;answermode=auto;mediaenc=dtls_srtp\n", user, port)
}

func (b *bench) baresipUA(user string, port int) (*proc, error) {
	d := filepath.Join(b.dir, "baresip-"+user)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d, "config"), []byte(baresipConfig(port, b.tone)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d, "accounts"), []byte(baresipAccount(user, port)), 0o600); err != nil {
		return nil, err
	}
	return b.start("baresip "+user, b.baresip, "-f", d)
}

// baresipRates matches baresip's status line, "audio=TX/RX (bit/s)".
var baresipRates = regexp.MustCompile(`audio=(\d+)/(\d+) \(bit/s\)`)

// parseBaresipRates reads the bit rates from a baresip status line.
func parseBaresipRates(l string) (tx, rx int, ok bool) {
	m := baresipRates.FindStringSubmatch(l)
	if m == nil {
		return 0, 0, false
	}
	tx, _ = strconv.Atoi(m[1])
	rx, _ = strconv.Atoi(m[2])
	return tx, rx, true
}

func (b *bench) baresipCall(ctx context.Context) (roundResult, error) {
	// Fresh ports each round: a SIP port is not reused while the last
	// call's transactions may linger.
	if b.port == 0 {
		b.port = 15060
	}
	pa, pb := b.port, b.port+2
	b.port += 4
	bob, err := b.baresipUA("bob", pb)
	if err != nil {
		return roundResult{}, err
	}
	defer bob.stop()
	alice, err := b.baresipUA("alice", pa)
	if err != nil {
		return roundResult{}, err
	}
	defer alice.stop()
	for _, p := range []*proc{alice, bob} {
		if err := p.waitLine(ctx, 15*time.Second, "\"baresip is ready.\"", func(l string) bool {
			return strings.Contains(l, "baresip is ready.")
		}); err != nil {
			return roundResult{}, err
		}
	}
	var mu sync.Mutex
	lowest := map[string]int{}
	measuring := false
	watch := func(p *proc, self string) {
		for l := range p.lines {
			tx, rx, ok := parseBaresipRates(l)
			mu.Lock()
			if ok && measuring {
				if v, seen := lowest[self]; !seen || min(tx, rx) < v {
					lowest[self] = min(tx, rx)
				}
			}
			mu.Unlock()
		}
	}
	go watch(alice, "alice")
	go watch(bob, "bob")
	res, err := b.measure(ctx, alice, bob, func() error {
		_, err := fmt.Fprintf(alice.stdin, "/dial sip:bob@127.0.0.1:%d\n", pb)
		return err
	})
	if err != nil {
		return res, err
	}
	// The status line is only read from the window on (the measure above
	// returns after it): take the rates now, over a second.
	mu.Lock()
	lowest = map[string]int{}
	measuring = true
	mu.Unlock()
	sleep(ctx, 1500*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, u := range []string{"alice", "bob"} {
		if v, ok := lowest[u]; !ok || v < 16000 {
			return res, fmt.Errorf("baresip %s's status line: lowest audio rate %d bit/s (seen %v), want ≥ 16000 both ways", u, v, ok)
		}
	}
	return res, nil
}

// ---- the table ---------------------------------------------------------------

// stat is a figure over the rounds.
type stat struct{ mean, lo, hi float64 }

func summarise(v []float64) stat {
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN(), math.NaN()}
	}
	s := stat{lo: math.Inf(1), hi: math.Inf(-1)}
	for _, x := range v {
		s.mean += x
		s.lo, s.hi = min(s.lo, x), max(s.hi, x)
	}
	s.mean /= float64(len(v))
	return s
}

func (s stat) String() string {
	if math.IsNaN(s.mean) {
		return "not measured"
	}
	if s.lo == s.hi {
		return num(s.mean)
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.mean), num(s.lo), num(s.hi))
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

type table struct {
	rows [][]string
	bad  int
}

// compare builds the table of issue 14: a column per side, the first
// (softphone) checked against the targets and the last (baresip) as the
// reference of the ratio.
func compare(sides []*side) *table {
	t := &table{}
	head := []string{"per endpoint, in a call"}
	for _, sd := range sides {
		head = append(head, sd.name)
	}
	t.rows = append(t.rows, append(head, "ratio", "target", ""))
	for _, sd := range sides {
		failed := 0
		for _, r := range sd.rounds {
			if r.err != nil {
				failed++
			}
		}
		if failed > 0 || len(sd.rounds) == 0 {
			t.bad++
			row := []string{sd.name + ": calls not measured"}
			for range sides {
				row = append(row, "")
			}
			t.rows = append(t.rows, append(row, "", "", fmt.Sprintf("%d of %d", failed, len(sd.rounds))))
		}
	}
	mb := func(r procstat.Rates) float64 { return float64(r.RSS) / (1 << 20) }
	dial := func(rs []roundResult) []float64 {
		var v []float64
		for _, r := range rs {
			if r.err == nil {
				v = append(v, float64(r.dialToRTP)/float64(time.Millisecond))
			}
		}
		return v
	}
	figures := []struct {
		what   string
		of     func([]roundResult) []float64
		target string
		ok     func(ours, ref stat) bool // nil: no target
	}{
		{"CPU, % of one core", rates(func(r procstat.Rates) float64 { return r.CPU }), "≤ baresip's",
			func(ours, ref stat) bool { return ours.mean <= ref.mean }},
		{"  of which user", rates(func(r procstat.Rates) float64 { return r.User }), "", nil},
		{"  of which kernel", rates(func(r procstat.Rates) float64 { return r.System }), "", nil},
		{"context switches/s (all threads)", rates(func(r procstat.Rates) float64 { return r.SwitchesPerSec }), "≤ 400",
			func(ours, _ stat) bool { return ours.mean <= 400 }},
		{"threads", rates(func(r procstat.Rates) float64 { return float64(r.Threads) }), "", nil},
		{"RSS, MB", rates(mb), "≤ 15", func(ours, _ stat) bool { return ours.mean <= 15 }},
		{"  of which its own (anonymous), MB", rates(func(r procstat.Rates) float64 { return float64(r.RSSAnon) / (1 << 20) }), "", nil},
		{"dial → RTP flowing both ways, ms", dial, "≤ 12", func(ours, _ stat) bool { return ours.mean <= 12 }},
	}
	for _, f := range figures {
		row := []string{f.what}
		var st []stat
		for _, sd := range sides {
			s := summarise(f.of(sd.rounds))
			st = append(st, s)
			row = append(row, s.String())
		}
		ours, ref := st[0], st[len(st)-1]
		ratio := ""
		if ref.mean > 0 && !math.IsNaN(ours.mean) {
			ratio = fmt.Sprintf("%.1f×", ours.mean/ref.mean)
		}
		verdict := ""
		if f.ok != nil {
			verdict = "ok"
			if math.IsNaN(ours.mean) || math.IsNaN(ref.mean) || !f.ok(ours, ref) {
				verdict = "MISSED"
				t.bad++
			}
		}
		t.rows = append(t.rows, append(row, ratio, f.target, verdict))
	}
	return t
}

// rates gathers a figure per round, the mean of caller and callee, from the
// rounds that were measured.
func rates(f func(procstat.Rates) float64) func([]roundResult) []float64 {
	return func(rs []roundResult) []float64 {
		var v []float64
		for _, r := range rs {
			if r.err == nil {
				v = append(v, (f(r.caller)+f(r.callee))/2)
			}
		}
		return v
	}
}

func (t *table) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
}

// copyFile copies an executable in 32 KiB writes.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, in, make([]byte, 32<<10)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
