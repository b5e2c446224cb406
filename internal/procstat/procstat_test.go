package procstat

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := []byte("4242 (soft) phone) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 123 456 789 0\n")
	got, err := ParseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("got %v %v, want 3s", got, err)
	}
	for _, bad := range []string{"", "42 (x) S 1 2", "42 (x) S 1 2 3 4 5 6 7 8 9 10 ten 12"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Work until the kernel has counted a tick of CPU time (10 ms).
	start := time.Now()
	s, err := Read(0)
	for x := 0; err == nil && s.CPU == 0 && time.Since(start) < 5*time.Second; x++ {
		for i := range 1 << 20 {
			x ^= i * x
		}
		s, err = Read(0)
	}
	if err != nil || s.CPU <= 0 || s.RSS <= 0 || s.HWM < s.RSS {
		t.Fatalf("this process: %+v %v", s, err)
	}
	if rss, err := RSS(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("RSS by pid: %v %v", rss, err)
	}
	if _, ok := ZombieExitCode(os.Getpid()); ok {
		t.Fatal("this running process reads as a zombie")
	}
}

// FuzzProcParsers: whatever /proc holds, the parsers return an error or a
// value, never a panic, and CPU time is never negative.
func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("4242 (soft) phone) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 123 456 789 0\n"))
	f.Add([]byte("VmHWM:\t  1234 kB\nVmRSS:\t  1000 kB\n"))
	f.Add([]byte("cpu  10 0 5 100 2 0 1 0 0 0\ncpu0 5 0 2 50 1 0 0 0 0 0\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := ParseStatCPU(b); err == nil && d < 0 {
			// Negative fields parse, but a kernel never writes them.
			if !bytes.Contains(b, []byte("-")) {
				t.Fatalf("negative CPU time %v from %q", d, b)
			}
		}
		StatusKB(b, "VmRSS:")
		if ParseSchedstat(b) < 0 {
			t.Fatal("negative runtime")
		}
	})
}

func TestParseStatUsage(t *testing.T) {
	line := []byte("4242 (soft) phone) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 123 456 789 0\n")
	u, s, n, err := ParseStatUsage(line)
	if err != nil || u != 2500*time.Millisecond || s != 500*time.Millisecond || n != 9 {
		t.Fatalf("got %v %v %d %v, want 2.5s 0.5s 9", u, s, n, err)
	}
	for _, bad := range []string{"", "42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 nine 0"} {
		if _, _, _, err := ParseStatUsage([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestReadUsage reads this process while it holds extra threads and sleeps:
// the threads and the context switches of every thread must show.
func TestReadUsage(t *testing.T) {
	before, err := ReadUsage(0)
	if err != nil {
		t.Fatal(err)
	}
	// Four goroutines locked to their threads, each sleeping 50 times: at
	// least 200 voluntary switches on threads other than the main one.
	const threads, sleeps = 4, 50
	ready, done := make(chan struct{}), make(chan struct{})
	for range threads {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for range sleeps {
				time.Sleep(time.Millisecond)
			}
			ready <- struct{}{}
			<-done
		}()
	}
	for range threads {
		<-ready
	}
	// Busy until the scheduler has counted 50 ms of this process's CPU
	// time (on a loaded machine 50 ms of wall time got only 28 ms of CPU);
	// the deadline only stops a broken count from spinning forever.
	var after Usage
	for start, x := time.Now(), 0; time.Since(start) < 10*time.Second; x++ {
		for i := range 1 << 16 {
			x ^= i * x
		}
		if after, err = ReadUsage(0); err != nil || after.Runtime-before.Runtime >= 50*time.Millisecond {
			break
		}
	}
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	if after.Threads < before.Threads || after.Threads < threads+1 {
		t.Errorf("threads %d → %d, want at least %d", before.Threads, after.Threads, threads+1)
	}
	if got := after.Switches() - before.Switches(); got < threads*sleeps/2 {
		t.Errorf("%d context switches counted, want at least %d", got, threads*sleeps/2)
	}
	if after.User+after.System <= before.User+before.System {
		t.Errorf("CPU time did not grow: %v+%v → %v+%v", before.User, before.System, after.User, after.System)
	}
	// The scheduler's count got to the 50 ms of busy work.
	if d := after.Runtime - before.Runtime; d < 50*time.Millisecond {
		t.Errorf("runtime grew by only %v in 10 s of busy work", d)
	}
	if after.RSS <= 0 || after.RSSAnon <= 0 || after.RSSAnon >= after.RSS {
		t.Errorf("RSS %d, of which anonymous %d", after.RSS, after.RSSAnon)
	}
	r := Between(before, after)
	// CPU is split into user and kernel by ratio: equal to their sum up to
	// rounding (50.69009227944726 against ...727 was seen).
	if r.CPU <= 0 || math.Abs(r.CPU-(r.User+r.System)) > 1e-9*r.CPU || r.SwitchesPerSec <= 0 || r.Threads != after.Threads {
		t.Errorf("rates %+v", r)
	}
	if _, err := ReadUsage(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

func TestBetween(t *testing.T) {
	t0 := time.Unix(100, 0)
	a := Usage{At: t0, User: time.Second, System: 2 * time.Second, Voluntary: 10, Involuntary: 5}
	b := Usage{At: t0.Add(10 * time.Second), User: 1200 * time.Millisecond, System: 2100 * time.Millisecond,
		Voluntary: 3010, Involuntary: 1005, Threads: 7, RSS: 1 << 20}
	r := Between(a, b)
	if math.Abs(r.User-2) > 1e-9 || math.Abs(r.System-1) > 1e-9 || math.Abs(r.CPU-3) > 1e-9 ||
		r.SwitchesPerSec != 400 || r.Threads != 7 || r.RSS != 1<<20 {
		t.Fatalf("got %+v", r)
	}
	if r := Between(b, b); r.CPU != 0 || r.SwitchesPerSec != 0 {
		t.Fatalf("no time passed, got %+v", r)
	}
	// With the scheduler's runtime: 0.5 s over 10 s is 5 %, split 2:1 as
	// the ticks are.
	a.Runtime, b.Runtime = time.Second, 1500*time.Millisecond
	r = Between(a, b)
	if math.Abs(r.CPU-5) > 1e-9 || math.Abs(r.User-5.0*2/3) > 1e-9 || math.Abs(r.System-5.0/3) > 1e-9 {
		t.Fatalf("with runtime: %+v", r)
	}
	if got := ParseSchedstat([]byte("1048614 0 1\n")); got != 1048614 {
		t.Fatalf("schedstat: %v", got)
	}
	for _, bad := range []string{"", "x 1 2", "-5 0 0"} {
		if got := ParseSchedstat([]byte(bad)); got != 0 {
			t.Errorf("%q: %v", bad, got)
		}
	}
}
