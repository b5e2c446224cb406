package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"softphone/audio"
	"softphone/engine"
	"softphone/signaling"
)

var turnBenchCalls = flag.Int("turn.calls", 10, "relayed 1:1 calls BenchmarkTURNRelayCPU runs at once")

// BenchmarkTURNRelayCPU measures issue 12's relay cost: `softphone serve`
// in its own process with its STUN/TURN server on loopback, and
// -turn.calls relayed 1:1 calls between engines in this process that may
// use only relayed paths (--ice-transport-policy relay): each call's audio
// crosses the server twice, through one relay per phone, which is the most
// a 1:1 call costs it. Over 10 s of calls it reports
//
//	server-%core/call   the server's CPU per call, in percent of a core (target ≤ 1)
//	calls/core          how many such calls one core of the server carries
//
//	go test -run '^$' -bench TURNRelayCPU -benchtime 1x [-turn.calls 10] .
func BenchmarkTURNRelayCPU(b *testing.B) {
	bin := softphoneBinary(b)
	dir := b.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("turn-bench-key"), 0o600); err != nil {
		b.Fatal(err)
	}
	lo := 40000 + 500*rand.IntN(40) // relays: a random block, seldom shared with another run
	srv := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0",
		"--turn-ports", fmt.Sprintf("%d-%d", lo, lo+499), "--secret-key-file", key, "--log-level", "warn")
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("server banner: %v", err)
	}
	url := strings.TrimSpace(line[strings.LastIndex(line, " "):])

	type phone struct {
		e     *engine.Engine
		heard chan string
	}
	newPhone := func(user string, answer bool) *phone {
		sig, err := signaling.Sign("turn-bench-key", signaling.DefaultSDKAppID, user, time.Hour, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		e, err := engine.New(engine.Config{ServerURL: url, UserID: user, UserSig: sig, Mic: "tone:440", Speaker: "none",
			AudioBackends: []audio.Backend{audio.BackendNull}, AutoAnswer: answer,
			ICETransportPolicy: webrtc.ICETransportPolicyRelay})
		if err != nil {
			b.Fatal(err)
		}
		p := &phone{e: e, heard: make(chan string, 16)}
		go func() {
			for ev := range e.Events() {
				if v, ok := ev.(engine.UserAudioAvailable); ok && v.IsAudioAvailable && v.UserID != user {
					p.heard <- v.UserID
				}
			}
		}()
		b.Cleanup(func() { e.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.Login(ctx); err != nil {
			b.Fatal(err)
		}
		return p
	}
	n := *turnBenchCalls
	var phones []*phone
	for i := 0; i < n; i++ {
		caller, callee := newPhone(fmt.Sprintf("a%d", i), false), newPhone(fmt.Sprintf("b%d", i), true)
		phones = append(phones, caller, callee)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := caller.e.Call(ctx, []string{callee.e.UserID()}, engine.CallParams{}); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	for _, p := range phones {
		select {
		case <-p.heard:
		case <-time.After(30 * time.Second):
			b.Fatalf("%s never heard the other side", p.e.UserID())
		}
	}
	time.Sleep(2 * time.Second) // past set-up

	b.ResetTimer()
	var cpu, wall time.Duration
	for range b.N {
		c0, w0 := cpuOf(b, srv.Process.Pid), time.Now()
		time.Sleep(10 * time.Second)
		cpu += cpuOf(b, srv.Process.Pid) - c0
		wall += time.Since(w0)
	}
	b.StopTimer()
	perCall := 100 * float64(cpu) / float64(wall) / float64(n)
	b.ReportMetric(perCall, "server-%core/call")
	b.ReportMetric(100/perCall, "calls/core")
	b.ReportMetric(float64(n), "calls")
	b.ReportMetric(0, "ns/op")
}
