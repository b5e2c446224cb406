package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/internal/procstat"
)

// BenchmarkHeadlessCall measures the real binary (issue 4 targets): a call
// server and two headless clients in separate processes, a 1:1 call with
// tone microphones and no speakers, then each client's CPU over 10 s of the
// call (target ≤ 2 % of one core per endpoint) and RSS (target ≤ 40 MB).
//
//	go test -run '^$' -bench HeadlessCall -benchtime 1x .
func BenchmarkHeadlessCall(b *testing.B) {
	bin := softphoneBinary(b)
	dir := b.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("bench-secret-key"), 0o600); err != nil {
		b.Fatal(err)
	}
	srv := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--secret-key-file", keyFile, "--log-level", "warn")
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("server banner: %v", err)
	}
	url := strings.TrimSpace(line[strings.LastIndex(line, " "):])

	start := func(user string, extra ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
		args := append([]string{"--headless", "--server", url, "--user", user, "--secret-key-file", keyFile,
			"--mic", "tone:440", "--speaker", "none", "--log-level", "warn"}, extra...)
		c := exec.Command(bin, args...)
		in, _ := c.StdinPipe()
		so, _ := c.StdoutPipe()
		c.Stderr = io.Discard
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { in.Close(); _ = c.Process.Kill(); _ = c.Wait() })
		return c, in, bufio.NewScanner(so)
	}
	waitFor := func(sc *bufio.Scanner, event string) {
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && (m["event"] == event || m["response"] == event) {
				if m["ok"] == false {
					b.Fatalf("%s failed: %s", event, sc.Text())
				}
				return
			}
		}
		b.Fatalf("no %s", event)
	}
	alice, aliceIn, aliceOut := start("alice")
	bob, _, bobOut := start("bob", "--auto-answer")
	waitFor(aliceOut, "login")
	waitFor(bobOut, "login")
	go io.Copy(io.Discard, bufioReader(bobOut))
	fmt.Fprintln(aliceIn, "call bob")
	waitFor(aliceOut, "onCallBegin")
	go io.Copy(io.Discard, bufioReader(aliceOut))
	time.Sleep(2 * time.Second) // past set-up

	b.ResetTimer()
	var aCPU, bCPU time.Duration
	var wall time.Duration
	for i := 0; i < b.N; i++ {
		a0, b0, w0 := cpuOf(b, alice.Process.Pid), cpuOf(b, bob.Process.Pid), time.Now()
		time.Sleep(10 * time.Second)
		aCPU += cpuOf(b, alice.Process.Pid) - a0
		bCPU += cpuOf(b, bob.Process.Pid) - b0
		wall += time.Since(w0)
	}
	b.StopTimer()
	b.ReportMetric(100*float64(aCPU)/float64(wall), "caller-%core")
	b.ReportMetric(100*float64(bCPU)/float64(wall), "callee-%core")
	b.ReportMetric(float64(procRSS(b, alice.Process.Pid))/(1<<20), "caller-RSS-MB")
	b.ReportMetric(float64(procRSS(b, bob.Process.Pid))/(1<<20), "callee-RSS-MB")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintln(aliceIn, "quit")
}

// bufioReader turns the rest of a scanner's input into a reader that keeps
// the pipe drained.
func bufioReader(sc *bufio.Scanner) io.Reader {
	r, w := io.Pipe()
	go func() {
		for sc.Scan() {
		}
		w.Close()
	}()
	return r
}

// procRSS is a process's resident set size in bytes.
func procRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	n, err := procstat.RSS(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
