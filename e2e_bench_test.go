package main

import (
	"bufio"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/audio"
	"softphone/internal/procstat"
)

var e2eBenchLength = flag.Duration("e2e.length", 15*time.Second, "how long BenchmarkE2ECall measures the call")

// BenchmarkE2ECall measures the real terminal phone during a real 1:1 call
// (issue 5's targets): a server, client A in the TUI in tmux, client B
// headless, both talking (speech-like babble from a WAV, so the meters move
// all the time) with no speaker. Over -e2e.length it reports
//
//	B/s            bytes A wrote to its terminal per second (target ≤ 4096)
//	tui-cpu%       A's CPU, in percent of one core
//	headless-cpu%  B's CPU: the same engine work without a UI
//	ui-cpu%        the difference: what the TUI costs (target ≤ 3)
//
// CPU comes from /proc/PID/stat (user+system time); the terminal bytes from
// tmux pipe-pane. Run it alone on a quiet machine:
//
//	go test -run '^$' -bench E2ECall -benchtime 1x [-e2e.length 20s] .
func BenchmarkE2ECall(b *testing.B) {
	x := newTmux(b)
	bin := softphoneBinary(b)
	dir := b.TempDir()
	key := writeKey(b)
	url := serveProcess(b, bin, key)
	voiceA, voiceB := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav")
	writeBabble(b, voiceA, 440, 1)
	writeBabble(b, voiceB, 660, 2)

	// B: headless, answers by itself.
	bCmd := exec.Command(bin, "--headless", "--server", url, "--user", "bob", "--secret-key-file", key,
		"--mic", "wav:"+voiceB, "--speaker", "none", "--auto-answer", "--log-file", filepath.Join(dir, "bob.log"))
	bIn, err := bCmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	bOut, err := bCmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := bCmd.Start(); err != nil {
		b.Fatal(err)
	}
	bDone := make(chan struct{})
	loggedIn := make(chan struct{})
	go func() {
		defer close(bDone)
		sc := bufio.NewScanner(bOut)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), `"response":"login","ok":true`) {
				once = true
				close(loggedIn)
			}
		}
	}()
	b.Cleanup(func() {
		io.WriteString(bIn, "quit\n")
		bIn.Close()
		select {
		case <-bDone:
		case <-time.After(e2eWait):
			bCmd.Process.Kill()
		}
		bCmd.Wait()
	})
	select {
	case <-loggedIn:
	case <-time.After(e2eWait):
		b.Fatal("the headless client did not log in")
	}

	a := x.start("alice", filepath.Join(dir, "alice.log"), []string{"XDG_STATE_HOME=" + dir},
		bin, "--server", url, "--user", "alice", "--secret-key-file", key,
		"--mic", "wav:"+voiceA, "--speaker", "none", "--log-file", filepath.Join(dir, "alice.log"))
	a.waitFor("● connected", "Ready.")
	a.press("c")
	a.waitFor("Call who?")
	a.press("bob")
	a.keys(false, "Enter")
	a.waitFor("In call", "bob")
	waitVolume(b, a.describe(), a.screen, "bob", func(v int) bool { return v > 30 })
	time.Sleep(time.Second) // past the call's first screen changes: measure the steady state

	out := filepath.Join(dir, "terminal.out")
	aPid, bPid := a.pid(), bCmd.Process.Pid
	for range b.N {
		os.Remove(out)
		b.ResetTimer()
		a.x.must("pipe-pane", "-o", "-t", a.name, "cat > "+out)
		aCPU0, bCPU0, t0 := cpuOf(b, aPid), cpuOf(b, bPid), time.Now()
		time.Sleep(*e2eBenchLength)
		aCPU, bCPU, elapsed := cpuOf(b, aPid)-aCPU0, cpuOf(b, bPid)-bCPU0, time.Since(t0)
		a.x.must("pipe-pane", "-t", a.name) // stops: cat gets EOF and exits
		b.StopTimer()
		size := fileSizeSettled(out)
		if raw, _ := os.ReadFile(out); !strings.Contains(string(raw), "\x1b[") {
			b.Fatalf("pipe-pane caught no terminal output (%d bytes): the measurement would be void", size)
		}
		tuiPct := 100 * aCPU.Seconds() / elapsed.Seconds()
		headlessPct := 100 * bCPU.Seconds() / elapsed.Seconds()
		b.ReportMetric(float64(size)/elapsed.Seconds(), "B/s")
		b.ReportMetric(tuiPct, "tui-cpu%")
		b.ReportMetric(headlessPct, "headless-cpu%")
		b.ReportMetric(tuiPct-headlessPct, "ui-cpu%")
		b.ReportMetric(0, "ns/op") // one op is a whole measured call
	}
	if !strings.Contains(a.screen(), "In call") {
		b.Fatalf("the call ended while measuring:\n%s", a.screen())
	}
	a.press("h")
	a.waitFor("Ready.")
	a.press("q")
	a.waitExit()
}

// cpuOf is the user+system CPU time of a process so far.
func cpuOf(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	d, err := procstat.CPU(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// fileSizeSettled is the size of a file another process is still finishing
// writing: it waits until the size holds still.
func fileSizeSettled(path string) int64 {
	var last int64 = -1
	for range 50 {
		st, err := os.Stat(path)
		if err == nil && st.Size() == last {
			return last
		}
		if err == nil {
			last = st.Size()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return max(last, 0)
}

// writeBabble writes 10 s of speech-like sound around hz: syllables of a
// tone under a raised-cosine envelope, gaps and pauses, so a meter moves.
func writeBabble(tb testing.TB, path string, hz float64, seed uint64) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	pcm := make([]int16, 10*audio.SampleRate)
	secs := func(lo, hi float64) int { return int((lo + rng.Float64()*(hi-lo)) * audio.SampleRate) }
	phase := 0.0
	for i := 0; i < len(pcm); {
		n := secs(0.12, 0.35)
		peak := 0.1 + rng.Float64()*0.2
		for k := 0; k < n && i+k < len(pcm); k++ {
			t := float64(k) / float64(n)
			phase += 2 * math.Pi * hz / audio.SampleRate
			pcm[i+k] = int16(peak * 0.5 * (1 - math.Cos(2*math.Pi*t)) * math.Sin(phase) * math.MaxInt16)
		}
		i += n + secs(0.05, 0.15)
		if rng.IntN(4) == 0 {
			i += secs(0.3, 0.8)
		}
	}
	w, err := audio.CreateWAV(path)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < len(pcm); i += audio.FrameSamples {
		if err := w.Write(pcm[i:min(i+audio.FrameSamples, len(pcm))]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}
