// Command benchtable is `make bench`: it runs the Go benchmarks of every package,
// then load tests against a fresh `softphone serve` on a free loopback port,
// and prints one table of the results against the targets of the issues.
//
//	go run ./internal/benchtable [-duration 10s] [-users 10000] [-rate 1500] [-skip-go]
//
// It expects ./softphone to be built (make bench builds it). It exits 1 when
// a target is missed or a measurement could not be made, after the table.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"softphone/internal/loadtest"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long the signaling load test places calls (the issue's target is sustained for 30s)")
	users := flag.Int("users", 10000, "users the signaling load test logs in")
	rate := flag.Float64("rate", 1500, "calls per second the signaling load test offers")
	mediaCalls := flag.Int("media-calls", 20, "concurrent 1:1 calls with real audio in the media load test")
	skipGo := flag.Bool("skip-go", false, "skip the Go benchmarks (only the load tests)")
	flag.Parse()

	t := &table{}
	// Each user is a socket in the load generator and another in the
	// server. Go raises the soft open-file limit to the hard one; beyond
	// that, measure with fewer users than skip the test.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Max < uint64(*users)+300 {
		n := int(lim.Max) - 300
		fmt.Printf("bench: the open-file limit (%d) allows %d users, not %d: raise it (ulimit -Hn, as root) for the 10,000-user figure\n", lim.Max, n, *users)
		*users = max(n, 2)
	}
	if !*skipGo {
		runGoBenchmarks(t)
	}
	runLoadTests(t, *users, *rate, *duration, *mediaCalls)
	fmt.Println()
	t.print(os.Stdout)
	if t.bad > 0 {
		fmt.Printf("\n%d target(s) missed or not measured\n", t.bad)
		os.Exit(1)
	}
}

// table is the summary: one row per measured figure.
type table struct {
	rows []row
	bad  int
}

type row struct {
	what, measured, target, verdict string
}

func (t *table) section(name string) { t.rows = append(t.rows, row{what: name}) }

// check adds a row comparing v with a target: at most (le) or at least.
func (t *table) check(what string, v float64, unit string, le bool, target float64) {
	ok := v <= target
	op := "≤"
	if !le {
		ok, op = v >= target, "≥"
	}
	verdict := "ok"
	if !ok {
		verdict = "MISSED"
		t.bad++
	}
	t.rows = append(t.rows, row{"  " + what, num(v) + " " + unit, op + " " + num(target) + " " + unit, verdict})
}

// info adds a row without a target.
func (t *table) info(what, measured string) {
	t.rows = append(t.rows, row{"  " + what, measured, "", ""})
}

// missing adds a row for a figure that could not be measured.
func (t *table) missing(what, why string) {
	t.rows = append(t.rows, row{"  " + what, "not measured", "", why})
	t.bad++
}

func (t *table) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tMEASURED\tTARGET\t")
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.what, r.measured, r.target, r.verdict)
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// ---- Go benchmarks ---------------------------------------------------------

// benchResult is one benchmark's metrics by unit ("ns/op", "cycles/s"...),
// or why it was skipped or failed.
type benchResult struct {
	metrics map[string]float64
	skipped string
	failed  bool
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

// runGoBenchmarks runs `go test -bench` over every package, shows its
// output as it comes, and adds the figures that have targets.
func runGoBenchmarks(t *table) {
	// The libopus tag adds the reference codec's benchmark beside ours
	// (make bench installs libopus-dev; the product never links it).
	fmt.Println("==> go test -tags libopus,nolibopusfile -run '^$' -bench . -benchmem -v ./...")
	cmd := exec.Command("go", "test", "-tags", "libopus,nolibopusfile", "-run", "^$", "-bench", ".", "-benchmem", "-v", "-timeout", "20m", "./...")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail(err)
	}
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	res := map[string]*benchResult{}
	get := func(name string) *benchResult {
		if res[name] == nil {
			res[name] = &benchResult{metrics: map[string]float64{}}
		}
		return res[name]
	}
	var lastLog string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "--- SKIP: "):
			get(strings.Fields(trimmed)[2]).skipped = skipReason(lastLog)
		case strings.HasPrefix(trimmed, "--- FAIL: "):
			get(strings.Fields(trimmed)[2]).failed = true
		case strings.HasPrefix(line, "    "):
			lastLog = trimmed
		}
		if m := benchLine.FindStringSubmatch(line); m != nil {
			f := strings.Fields(m[4])
			r := get(m[1])
			for i := 0; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					r.metrics[f[i+1]] = v
				}
			}
		}
	}
	runErr := cmd.Wait()

	metric := func(name, unit string) (float64, string) {
		r := res[name]
		if parent, _, sub := strings.Cut(name, "/"); sub && r == nil && res[parent] != nil {
			r = res[parent] // the parent failed or skipped before running it
		}
		switch {
		case r == nil && runErr != nil:
			return 0, "the benchmarks failed to run"
		case r == nil:
			return 0, "no result"
		case r.failed:
			return 0, "failed (see above)"
		case r.skipped != "":
			return 0, r.skipped
		}
		v, ok := r.metrics[unit]
		if !ok {
			return 0, "no " + unit + " reported"
		}
		return v, ""
	}
	check := func(what, name, unit, shown string, scale float64, le bool, target float64) {
		v, why := metric(name, unit)
		if why != "" {
			t.missing(what, why)
			return
		}
		t.check(what, v*scale, shown, le, target)
	}
	t.section("signaling (go test -bench, client and server in one process)")
	check("call cycles", "BenchmarkCallCycle", "cycles/s", "cycles/s", 1, false, 1500)
	check("request round trip p99", "BenchmarkCallCycle", "p99-ms", "ms", 1, true, 20)
	check("memory per idle logged-in connection (10,000)", "BenchmarkIdleConnMemory", "B/conn", "KB", 1.0/1024, true, 40)
	if v, why := metric("BenchmarkUnauthenticatedConnMemory", "B/conn"); why == "" {
		t.info("memory per connection that has not logged in (10,000)", num(v/1024)+" KB")
	} else {
		t.missing("memory per connection that has not logged in (10,000)", why)
	}
	t.section("audio")
	check("Opus encode + decode of 20 ms (pure Go, gopus)", "BenchmarkEncodeDecode20ms", "ns/op", "µs", 1e-3, true, 150)
	check("allocations per frame, encode + decode", "BenchmarkEncodeDecode20ms", "allocs/op", "", 1, true, 0)
	if v, why := metric("BenchmarkEncodeDecodeLibopus20ms", "ns/op"); why == "" {
		t.info("  the same with libopus (C, same run, for comparison)", num(v*1e-3)+" µs")
	} else {
		t.missing("  the same with libopus (C, same run, for comparison)", why)
	}
	// Real speech (espeak-ng) is coded as SILK plus CELT: the encoder's work
	// is several times the synthetic signal's, in both codecs.
	const speechRow = "Opus encode + decode of 20 ms of speech (espeak-ng), gopus / libopus"
	g, whyG := metric("BenchmarkEncodeDecodeSpeech20ms", "ns/op")
	l, whyL := metric("BenchmarkEncodeDecodeLibopusSpeech20ms", "ns/op")
	if whyG != "" || whyL != "" {
		t.missing(speechRow, whyG+whyL)
	} else {
		t.info(speechRow, fmt.Sprintf("%s / %s µs (%.1f×)", num(g*1e-3), num(l*1e-3), g/l))
	}
	allocs, whyA := metric("BenchmarkEncodeDecodeSpeech20ms", "allocs/op")
	bytes, whyB := metric("BenchmarkEncodeDecodeSpeech20ms", "B/op")
	if whyA != "" || whyB != "" {
		t.missing("  gopus's allocations per frame of speech", whyA+whyB)
	} else {
		t.info("  gopus's allocations per frame of speech (its in-band FEC)", fmt.Sprintf("%s, %s KB", num(allocs), num(bytes/1024)))
	}
	check("allocations per frame, capture → encode", "BenchmarkCaptureToEncode/voice=off", "allocs/op", "", 1, true, 0)
	check("allocations per frame, capture → voice processing → encode", "BenchmarkCaptureToEncode/voice=on", "allocs/op", "", 1, true, 0)
	for _, n := range []string{"1", "4", "8"} {
		check("allocations per frame, decode → mix → playback, "+n+" remotes",
			"BenchmarkDecodeMixPlayback/remotes="+n, "allocs/op", "", 1, true, 0)
	}
	// The sub-benchmark's name is the backend that measured: only the
	// private PulseAudio counts (the null backend's clock is no device's).
	const latency = "BenchmarkLatency/backend=PulseAudio"
	check("latency inside audio/ on PulseAudio (capture + playout to the device callback)", latency, "total-ms", "ms", 1, true, 30)
	if v, why := metric(latency, "written-ms"); why == "" {
		t.info("  playout only to the playback ring (the old, shorter measure)", num(v)+" ms")
	}
	if v, why := metric(latency, "voice-ms"); why == "" {
		t.info("  + voice processing's delay on a device microphone (not in the total)", num(v)+" ms")
	}
	t.section("voice processing (audio/voice: echo cancellation, noise suppression, gain control)")
	check("AEC + NS + AGC on one 20 ms frame, CPU time", "BenchmarkVoiceProcessing", "cpu-µs/frame", "µs", 1, true, 150)
	check("allocations per frame", "BenchmarkVoiceProcessing", "allocs/op", "", 1, true, 0)
	t.section("engine (two engines on loopback)")
	check("call setup: invite to onCallBegin and audio at both, p50", "BenchmarkCallSetup", "p50-ms", "ms", 1, true, 50)
	check("call setup, p95", "BenchmarkCallSetup", "p95-ms", "ms", 1, true, 100)
	check("mouth-to-ear, tone onset to onset (median)", "BenchmarkMouthToEar", "m2e-ms", "ms", 1, true, 60)
	check("CPU per endpoint in a 1:1 call (engines in one process)", "BenchmarkMouthToEar", "cpu%/endpoint", "% of a core", 1, true, 2)
	for _, m := range []struct{ unit, what string }{{"up", "server up"}, {"down", "server down"}} {
		p50, why := metric("BenchmarkDeadPeerDetection", m.unit+"-p50-s")
		if why != "" {
			t.missing("peer stopped (SIGSTOP) found gone, "+m.what, why)
			continue
		}
		t.info("peer stopped (SIGSTOP) found gone, "+m.what+", p50", num(p50)+" s")
		check("  … the slowest of the trials", "BenchmarkDeadPeerDetection", m.unit+"-max-s", "s", 1, true, 10)
	}
	t.section("web phone (Chromium) and a headless softphone, loopback")
	check("accept → connected at the browser, p95, the browser offers", "BenchmarkWebAcceptToConnected/browser-offers", "p95-ms", "ms", 1, true, 50)
	check("accept → connected at the browser, p95, the softphone offers", "BenchmarkWebAcceptToConnected/softphone-offers", "p95-ms", "ms", 1, true, 50)
	t.section("headless client (the binary, one process per client)")
	check("CPU of the caller in a 1:1 call", "BenchmarkHeadlessCall", "caller-%core", "% of a core", 1, true, 2)
	check("CPU of the callee in a 1:1 call", "BenchmarkHeadlessCall", "callee-%core", "% of a core", 1, true, 2)
	check("RSS of a headless client in a call", "BenchmarkHeadlessCall", "caller-RSS-MB", "MB", 1, true, 40)
	// The TUI's rows come from a real call: the binary in tmux against a
	// headless peer, both talking (BenchmarkE2ECall), not a fake phone.
	t.section("tui (the binary in tmux, in a real 1:1 call with a headless peer)")
	check("terminal bytes during a call with meters", "BenchmarkE2ECall", "B/s", "KB/s", 1.0/1024, true, 4)
	check("TUI CPU during a call (the TUI process less the headless one)", "BenchmarkE2ECall", "ui-cpu%", "% of a core", 1, true, 3)
	if v, why := metric("BenchmarkE2ECall", "tui-cpu%"); why == "" {
		t.info("  the TUI process's whole CPU (engine included)", num(v)+" % of a core")
	}
	t.section("STUN/TURN (the binary in network namespaces behind NAT routers; needs root)")
	info := func(what, name, unit, shown string) {
		if v, why := metric(name, unit); why == "" {
			t.info(what, num(v)+" "+shown)
		} else {
			t.missing(what, why)
		}
	}
	info("call setup, direct through NATs (server-reflexive), p50", "BenchmarkNATCallSetup", "direct-p50-ms", "ms")
	info("call setup through the relay (symmetric NAT), p50", "BenchmarkNATCallSetup", "relay-p50-ms", "ms")
	check("what the relay adds to the setup p50 (side by side)", "BenchmarkNATCallSetup", "relay-added-p50-ms", "ms", 1, true, 30)
	info("call setup forced through the relay on the direct network, p50", "BenchmarkNATCallSetup", "forced-relay-p50-ms", "ms")
	info("direct-lab calls that took the relay anyway", "BenchmarkNATCallSetup", "direct-lab-relayed", "calls")
	check("TURN server CPU per relayed 1:1 call (both phones relayed)", "BenchmarkTURNRelayCPU", "server-%core/call", "% of a core", 1, true, 1)
	info("relayed 1:1 calls one core of the server carries", "BenchmarkTURNRelayCPU", "calls/core", "calls")
	if runErr != nil {
		t.missing("go test -bench ./...", "exited with "+runErr.Error())
	}
}

func skipReason(log string) string {
	if _, after, ok := strings.Cut(log, ": "); ok {
		log = after
	}
	if len(log) > 90 {
		log = log[:87] + "..."
	}
	return log
}

// ---- load tests ------------------------------------------------------------

// server is a `softphone serve` child on a free loopback port.
type server struct {
	cmd *exec.Cmd
	url string
	key string
}

func startServer(dir string) (*server, error) {
	key := filepath.Join(dir, "secret.key")
	b := make([]byte, 32)
	if f, err := os.Open("/dev/urandom"); err == nil {
		io.ReadFull(f, b)
		f.Close()
	}
	if err := os.WriteFile(key, fmt.Appendf(nil, "%x\n", b), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("./softphone", "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--secret-key-file", key, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ./softphone serve (built? make bench builds it): %w", err)
	}
	banner, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("softphone serve printed no banner: %w", err)
	}
	f := strings.Fields(banner)
	return &server{cmd: cmd, url: f[len(f)-1], key: key}, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// loadtest runs ./softphone loadtest with args against s and decodes its
// JSON report. The progress log goes to stderr as it comes.
func (s *server) loadtest(args ...string) (*loadtest.Report, error) {
	args = append([]string{"loadtest", "--server", s.url, "--secret-key-file", s.key,
		"--server-pid", strconv.Itoa(s.cmd.Process.Pid), "--json", "--log-level", "warn"}, args...)
	fmt.Println("==> softphone " + strings.Join(args, " "))
	cmd := exec.Command("./softphone", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	var rep loadtest.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		if runErr != nil {
			return nil, runErr
		}
		return nil, fmt.Errorf("unreadable report: %w", err)
	}
	// A nonzero exit with a report means failed calls: the table shows them.
	return &rep, nil
}

func runLoadTests(t *table, users int, rate float64, duration time.Duration, mediaCalls int) {
	dir, err := os.MkdirTemp("", "softphone-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)

	// A fresh server for each test: the memory figure is the server's
	// with these users only.
	t.section(fmt.Sprintf("load test: %d users, %g calls/s offered for %v, server in its own process", users, rate, duration))
	if s, err := startServer(dir); err != nil {
		t.missing("signaling load test", err.Error())
	} else {
		rep, err := s.loadtest("--users", strconv.Itoa(users), "--calls-per-sec", num(rate), "--duration", duration.String())
		s.stop()
		if err != nil {
			t.missing("signaling load test", err.Error())
		} else {
			signalingRows(t, rep, users)
		}
	}

	// Each call holds for 10 s and all are placed within 5 s, so all
	// mediaCalls calls are up at once for about 5 s.
	t.section(fmt.Sprintf("load test with media: %d concurrent 1:1 calls with real audio", mediaCalls))
	if s, err := startServer(dir); err != nil {
		t.missing("media load test", err.Error())
	} else {
		rep, err := s.loadtest("--users", strconv.Itoa(2*mediaCalls), "--media",
			"--calls-per-sec", num(float64(mediaCalls)/5), "--duration", "5s", "--hold", "10s")
		s.stop()
		if err != nil {
			t.missing("media load test", err.Error())
		} else {
			mediaRows(t, rep, mediaCalls)
		}
	}
}

func signalingRows(t *table, rep *loadtest.Report, users int) {
	t.info("machine busy while calling (every process)", fmt.Sprintf("%.0f %% of %d CPUs; load average %.2f → %.2f", rep.MachineBusy, rep.CPUs, rep.LoadAvg[0], rep.LoadAvg[1]))
	// The rate is sustained when every call the open-loop schedule offered
	// completed; the completed calls per second from the first invite to
	// the last hangup are shown beside it (a little under the offered
	// rate: the last call's own duration is in the window).
	sustained := rep.OfferedRate
	if rep.Failed+rep.NotPlaced > 0 || rep.Completed == 0 {
		sustained = 0
	}
	t.check("call cycles sustained (offered, all completed)", sustained, "calls/s", false, 1500)
	t.info("calls completed per second, first invite to last hangup", num(rep.AchievedRate)+" calls/s")
	t.check("calls failed", float64(rep.Failed), "", true, 0)
	t.check("calls not placed (every pair busy)", float64(rep.NotPlaced), "", true, 0)
	t.check("logins failed", float64(rep.LoginFailed), "", true, 0)
	t.check("signaling round trip p99", rep.Signaling.P99, "ms", true, 20)
	t.info("signaling round trip p50 / p95", fmt.Sprintf("%s / %s ms", num(rep.Signaling.P50), num(rep.Signaling.P95)))
	t.info("setup (invite → callBegan both) p50 / p95", fmt.Sprintf("%s / %s ms", num(rep.Setup.P50), num(rep.Setup.P95)))
	if p := rep.ServerProcess; p != nil {
		if users == 10000 {
			t.check("server RSS with 10,000 users (peak)", p.RSSPeakMB, "MB", true, 400)
		} else {
			t.info(fmt.Sprintf("server RSS with %d users (peak)", users), num(p.RSSPeakMB)+" MB")
		}
		t.info("server CPU while calling", num(p.CPUPercent)+" % of a core")
	} else {
		t.missing("server RSS", "could not read the server process")
	}
	if p := rep.Process; p != nil {
		t.info("load generator CPU / RSS peak", fmt.Sprintf("%s %% of a core / %s MB", num(p.CPUPercent), num(p.RSSPeakMB)))
	}
}

func mediaRows(t *table, rep *loadtest.Report, calls int) {
	t.info("machine busy while calling (every process)", fmt.Sprintf("%.0f %% of %d CPUs; load average %.2f → %.2f", rep.MachineBusy, rep.CPUs, rep.LoadAvg[0], rep.LoadAvg[1]))
	t.check("concurrent calls reached", float64(rep.PeakConcurrent), "", false, float64(calls))
	t.check("calls failed", float64(rep.Failed+rep.NotPlaced), "", true, 0)
	if a := rep.Audio; a != nil {
		t.check("receiver underruns (frames concealed: audio not there in time)", float64(a.Concealed), "", true, 0)
		t.check("calls without audio", float64(a.CallsWithoutAudio), "", true, 0)
		t.info("packets received / lost / late",
			fmt.Sprintf("%d / %d / %d", a.Received, a.Lost, a.Late))
	}
	if s := rep.AudioSetup; s != nil && s.N > 0 {
		t.check("setup with audio flowing, p50", s.P50, "ms", true, 50)
		t.check("setup with audio flowing, p95", s.P95, "ms", true, 100)
	} else {
		t.missing("setup with audio flowing", "no call set up")
	}
	if p := rep.Process; p != nil {
		t.info("load generator CPU / RSS peak", fmt.Sprintf("%s %% of a core / %s MB (%d engines)", num(p.CPUPercent), num(p.RSSPeakMB), rep.LoggedIn))
		t.info("CPU per engine, all in calls", fmt.Sprintf("about %s %% of a core", num(p.CPUPercent/float64(max(1, rep.LoggedIn)))))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
