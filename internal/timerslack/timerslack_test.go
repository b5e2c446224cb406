package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"softphone/internal/procstat"
)

// threadSlacks reads the timer slack of every thread of this process, by
// thread id.
func threadSlacks(t *testing.T) map[int]int64 {
	t.Helper()
	dir := "/proc/self/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
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
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		tid, _ := strconv.Atoi(task.Name())
		out[tid] = v
	}
	return out
}

// switches reads a thread's voluntary context switches.
func switches(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	if err != nil {
		t.Fatal(err)
	}
	return int(procstat.StatusInt(b, "voluntary_ctxt_switches:"))
}

// goroutineThreads runs n goroutines at once, each locked to its own
// thread, and returns the threads they ran on: every thread that runs Go
// code, and new ones.
func goroutineThreads(t *testing.T, n int) map[int]int64 {
	t.Helper()
	var mu sync.Mutex
	seen := map[int]int64{}
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			mu.Lock()
			seen[syscall.Gettid()] = Current()
			mu.Unlock()
			ready.Done()
			<-release
		}()
	}
	ready.Wait()
	close(release)
	done.Wait()
	return seen
}

// child is TestSlack in the process it starts: it checks the slacks it was
// told to expect.
func child(t *testing.T) {
	wantBase, _ := strconv.ParseInt(os.Getenv("TIMERSLACK_TEST_BASE"), 10, 64)
	wantSysmon, _ := strconv.ParseInt(os.Getenv("TIMERSLACK_TEST_SYSMON"), 10, 64)
	if Base() != wantBase || Sysmon() != wantSysmon {
		t.Fatalf("base %d sysmon %d ns, want %d and %d", Base(), Sysmon(), wantBase, wantSysmon)
	}
	if got := Current(); got != wantBase {
		t.Fatalf("this thread's slack is %d ns, want %d", got, wantBase)
	}
	// Every thread that runs goroutines, new ones included, has the
	// base slack.
	ran := goroutineThreads(t, 3*runtime.GOMAXPROCS(0)+8)
	for tid, got := range ran {
		if got != wantBase {
			t.Errorf("thread %d runs goroutines with slack %d ns, want %d", tid, got, wantBase)
		}
	}
	all := threadSlacks(t)
	if len(all) < len(ran)+2 {
		t.Fatalf("%d threads, %d ran goroutines: where are sysmon and the cgo template thread? %v", len(all), len(ran), all)
	}
	var raised []int
	for tid, got := range all {
		if got != wantBase {
			raised = append(raised, tid)
		}
	}
	if wantSysmon == wantBase {
		if len(raised) > 0 {
			t.Fatalf("threads %v have a slack other than %d ns: %v", raised, wantBase, all)
		}
		return
	}
	if len(raised) != 1 {
		var idle []int // threads that ran no goroutine here: sysmon is one
		for tid := range all {
			if _, ok := ran[tid]; !ok {
				idle = append(idle, tid)
			}
		}
		t.Fatalf("want one thread (sysmon) with slack %d ns, the others %d: %v; threads that ran none of the goroutines: %v (this one: %d)",
			wantSysmon, wantBase, all, idle, syscall.Gettid())
	}
	// That one is sysmon: it never runs goroutines, and it wakes when a
	// system call or a timer follows an idle moment. Not after every one
	// (a busy machine blurs which moments are idle: 49 of 100 were seen in
	// CI), but the only other thread that runs no goroutine, cgo's template
	// thread, sleeps throughout.
	tid := raised[0]
	if _, ok := ran[tid]; ok || tid == syscall.Getpid() {
		t.Fatalf("thread %d has sysmon's slack but runs goroutines", tid)
	}
	if got := all[tid]; got != wantSysmon {
		t.Fatalf("sysmon (thread %d) has slack %d ns, want %d", tid, got, wantSysmon)
	}
	before := switches(t, tid)
	const rounds = 100
	for range rounds {
		time.Sleep(2 * time.Millisecond)
		syscall.Getppid()
	}
	if d := switches(t, tid) - before; d < rounds/10 {
		t.Fatalf("thread %d, with sysmon's slack, woke %d times in %d idle moments: not sysmon", tid, d, rounds)
	}
}

// TestSlack runs this test binary again under each setting of the
// environment; in the child every thread must have the slack wanted —
// sysmon, which the runtime starts before any Go code runs, its own.
func TestSlack(t *testing.T) {
	if os.Getenv("TIMERSLACK_TEST_BASE") != "" {
		child(t)
		return
	}
	inherited := Current()
	for _, c := range []struct {
		all, sysmon        string
		wantBase, wantSysm int64
	}{
		{"", "", inherited, 1_000_000},
		{"", "0", inherited, inherited},
		{"", "junk", inherited, 1_000_000},
		{"", "4000000", inherited, 4_000_000},
		{"200000", "", 200_000, 1_000_000},
		{"200000", "0", 200_000, 200_000},
		{"0", "", inherited, 1_000_000},
		{"junk", "", inherited, 1_000_000},
	} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSlack$", "-test.count", "1", "-test.v")
		cmd.Env = append(os.Environ(), "SOFTPHONE_TIMER_SLACK="+c.all, "SOFTPHONE_SYSMON_SLACK="+c.sysmon,
			"TIMERSLACK_TEST_BASE="+strconv.FormatInt(c.wantBase, 10),
			"TIMERSLACK_TEST_SYSMON="+strconv.FormatInt(c.wantSysm, 10))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%q SOFTPHONE_SYSMON_SLACK=%q: %v\n%s", c.all, c.sysmon, err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestSlack") {
			t.Fatalf("SOFTPHONE_TIMER_SLACK=%q SOFTPHONE_SYSMON_SLACK=%q: the child ran no test:\n%s", c.all, c.sysmon, out)
		}
	}
}
