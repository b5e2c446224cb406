package timerslack

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// threadSlacks reads the timer slack of every thread of process pid.
func threadSlacks(t *testing.T, pid string) map[string]int64 {
	t.Helper()
	dir := "/proc/" + pid + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, task := range tasks {
		// Only /proc/PID has timerslack_ns, and each thread's id opens
		// as a PID (hidden from the listing).
		b, err := os.ReadFile(filepath.Join("/proc", task.Name(), "timerslack_ns"))
		if err != nil {
			if os.IsPermission(err) {
				t.Skipf("timerslack_ns not readable here: %v", err)
			}
			if _, serr := os.Stat(filepath.Join(dir, task.Name())); serr == nil {
				t.Fatal(err)
			}
			continue // exited since the listing
		}
		comm, _ := os.ReadFile(filepath.Join(dir, task.Name(), "comm"))
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[task.Name()+" "+strings.TrimSpace(string(comm))] = v
	}
	return out
}

// TestEveryThread: the constructor ran before the runtime started, so every
// thread has the slack, sysmon included, and so do threads made later.
func TestEveryThread(t *testing.T) {
	if os.Getenv("SOFTPHONE_TIMER_SLACK") != "" {
		t.Skip("SOFTPHONE_TIMER_SLACK is set")
	}
	if got := Current(); got != Default {
		t.Fatalf("this thread's slack is %d ns, want %d", got, Default)
	}
	// A new thread, made now.
	done := make(chan int64)
	go func() {
		runtime.LockOSThread()
		done <- Current()
		<-done
	}()
	if got := <-done; got != Default {
		t.Fatalf("a new thread's slack is %d ns, want %d", got, Default)
	}
	defer close(done)
	slacks := threadSlacks(t, "self")
	if len(slacks) < 3 {
		t.Fatalf("only %d threads: %v", len(slacks), slacks)
	}
	for th, v := range slacks {
		if v != Default {
			t.Errorf("thread %s: slack %d ns, want %d", th, v, Default)
		}
	}
}

// TestOverride runs this test binary again with SOFTPHONE_TIMER_SLACK set:
// the environment decides, and 0 keeps the slack inherited across exec
// (here the parent's, 1 ms).
func TestOverride(t *testing.T) {
	if v := os.Getenv("SOFTPHONE_TIMER_SLACK"); v != "" {
		want, _ := strconv.ParseInt(os.Getenv("TIMERSLACK_TEST_WANT"), 10, 64)
		if got := Current(); got != want {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: slack %d ns, want %d", v, got, want)
		}
		return
	}
	for v, want := range map[string]int64{"200000": 200_000, "0": Current(), "junk": Default} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestOverride$", "-test.count", "1", "-test.v")
		cmd.Env = append(os.Environ(), "SOFTPHONE_TIMER_SLACK="+v, "TIMERSLACK_TEST_WANT="+strconv.FormatInt(want, 10))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: %v\n%s", v, err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestOverride") {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: the child ran no test:\n%s", v, out)
		}
	}
}
