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

// threadSlacks reads the timer slack of every thread of this process.
func threadSlacks(t *testing.T) map[string]int64 {
	t.Helper()
	dir := "/proc/self/task"
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

// TestSlack runs this test binary again with SOFTPHONE_TIMER_SLACK set. In
// the child every thread must have the slack wanted — sysmon too, which the
// runtime starts before any Go code runs — and so must a thread made later.
func TestSlack(t *testing.T) {
	if v := os.Getenv("SOFTPHONE_TIMER_SLACK"); v != "" && os.Getenv("TIMERSLACK_TEST_WANT") != "" {
		want, _ := strconv.ParseInt(os.Getenv("TIMERSLACK_TEST_WANT"), 10, 64)
		if got := Current(); got != want {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: slack %d ns, want %d", v, got, want)
		}
		done := make(chan int64)
		go func() {
			runtime.LockOSThread()
			done <- Current()
			<-done
		}()
		if got := <-done; got != want {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: a new thread's slack is %d ns, want %d", v, got, want)
		}
		defer close(done)
		slacks := threadSlacks(t)
		if len(slacks) < 3 {
			t.Fatalf("only %d threads: %v", len(slacks), slacks)
		}
		for th, got := range slacks {
			if got != want {
				t.Errorf("SOFTPHONE_TIMER_SLACK=%s: thread %s has slack %d ns, want %d", v, th, got, want)
			}
		}
		return
	}
	// Unset, 0 or junk: the slack inherited across exec (this process's).
	inherited := Current()
	for v, want := range map[string]int64{"1000000": 1_000_000, "200000": 200_000, "0": inherited, "junk": inherited} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSlack$", "-test.count", "1", "-test.v")
		cmd.Env = append(os.Environ(), "SOFTPHONE_TIMER_SLACK="+v, "TIMERSLACK_TEST_WANT="+strconv.FormatInt(want, 10))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: %v\n%s", v, err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestSlack") {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%s: the child ran no test:\n%s", v, out)
		}
	}
	// Unset here: nothing changed this process's slack.
	if os.Getenv("SOFTPHONE_TIMER_SLACK") == "" {
		for th, got := range threadSlacks(t) {
			if got != inherited {
				t.Errorf("thread %s has slack %d ns, the process started with %d", th, got, inherited)
			}
		}
	}
}
