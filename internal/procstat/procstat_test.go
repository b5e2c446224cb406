package procstat

import (
	"bytes"
	"os"
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
	})
}
