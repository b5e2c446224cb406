package tui

import (
	"context"
	"flag"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"softphone/engine"
)

var callBenchLength = flag.Duration("tui.calllength", 10*time.Second,
	"length of the simulated call in BenchmarkCallTerminalBytes")

// countingWriter is a terminal that only counts what it is sent.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// BenchmarkCallTerminalBytes runs the real program for a simulated 1:1 call
// with meters live (volume reports every 300 ms for both people, speech-like,
// network quality every 2 s) and reports the bytes written to the terminal
// per second (target: at most 4 KB/s) and the CPU the whole test process
// used meanwhile, in percent of one core (target for the TUI: at most 3 %).
// The terminal is 80x24 with 16 colours, as over a plain SSH session.
//
//	go test ./tui -run '^$' -bench CallTerminalBytes -benchtime 1x [-tui.calllength 10s]
func BenchmarkCallTerminalBytes(b *testing.B) {
	var bps, cpu float64
	for range b.N {
		bps, cpu = simulateCall(b, *callBenchLength)
	}
	b.ReportMetric(bps, "B/s")
	b.ReportMetric(cpu, "cpu%")
	b.ReportMetric(0, "ns/op") // one op is one whole call; its time says nothing
}

func simulateCall(tb testing.TB, length time.Duration) (bytesPerSec, cpuPercent float64) {
	phone := newFakePhone()
	out := &countingWriter{}
	keysR, keys := io.Pipe()
	defer keys.Close()
	opts := Options{Input: keysR, Output: out, Environ: []string{"TERM=xterm-256color"}}.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runModel(ctx, phone, newModel(ctx, phone, opts), opts,
			tea.WithWindowSize(80, 24), tea.WithoutSignals(), tea.WithColorProfile(colorprofile.ANSI))
	}()

	phone.events <- engine.ConnectionChanged{State: engine.ConnConnected}
	phone.events <- engine.AudioDeviceChanged{Mic: "Built-in Microphone", Speaker: "Built-in Speakers"}
	io.WriteString(keys, "cbob\r")
	if a := waitFor(tb, phone); a != "Call bob voice" {
		tb.Fatalf("action = %q", a)
	}
	phone.events <- engine.CallBegin{CallRole: engine.RoleCaller}
	phone.events <- engine.UserJoin{UserID: "bob"}
	time.Sleep(500 * time.Millisecond) // let the screen change settle; measure the call only

	rng := rand.New(rand.NewPCG(1, 2))
	talker := "bob"
	level := func(id string) int {
		if id == talker {
			return 25 + rng.IntN(55)
		}
		return rng.IntN(5)
	}
	qualities := []engine.NetworkQuality{engine.QualityExcellent, engine.QualityExcellent, engine.QualityGood, engine.QualityPoor}

	startBytes, startCPU, start := out.n.Load(), cpuTime(), time.Now()
	vol, qual, turn := time.NewTicker(300*time.Millisecond), time.NewTicker(2*time.Second), time.NewTicker(2700*time.Millisecond)
	defer vol.Stop()
	defer qual.Stop()
	defer turn.Stop()
	end := time.After(length)
loop:
	for {
		select {
		case <-vol.C:
			phone.events <- engine.UserVoiceVolumeChanged{VolumeMap: map[string]int{"alice": level("alice"), "bob": level("bob")}}
		case <-qual.C:
			phone.events <- engine.UserNetworkQualityChanged{NetworkQuality: map[string]engine.NetworkQuality{
				"alice": qualities[rng.IntN(len(qualities))], "bob": qualities[rng.IntN(len(qualities))]}}
		case <-turn.C:
			if talker == "bob" {
				talker = "alice"
			} else {
				talker = "bob"
			}
		case <-end:
			break loop
		}
	}
	elapsed := time.Since(start)
	bytes, cpu := out.n.Load()-startBytes, cpuTime()-startCPU

	io.WriteString(keys, "q")
	io.WriteString(keys, "y")
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("Run = %v", err)
		}
	case <-time.After(15 * time.Second):
		tb.Fatal("the program did not quit")
	}
	return float64(bytes) / elapsed.Seconds(), 100 * cpu.Seconds() / elapsed.Seconds()
}

func waitFor(tb testing.TB, f *fakePhone) string {
	select {
	case a := <-f.did:
		return a
	case <-time.After(15 * time.Second):
		tb.Fatal("no engine action")
		return ""
	}
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
