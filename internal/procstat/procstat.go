// Package procstat reads a process's CPU time and memory, and the machine's
// CPU time and load, from Linux's /proc (proc(5)). The load test, the bench
// table and the benchmarks that measure whole processes share it.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Sample is one reading of a process's CPU time and resident memory.
type Sample struct {
	At  time.Time
	CPU time.Duration // user + system time since the process started
	RSS int64         // resident set size in bytes (VmRSS)
	HWM int64         // peak resident set size in bytes (VmHWM)
}

// userHZ is the unit of the CPU times in /proc/PID/stat. Linux fixes it
// at 100 for user space on every architecture it runs on (USER_HZ).
const userHZ = 100

// ErrNoProc means /proc is not there (not Linux): no CPU or memory figures.
var ErrNoProc = errors.New("no /proc: CPU and memory figures need Linux")

func dir(pid int) string {
	if pid == 0 {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(pid)
}

// Read samples process pid (0: this process).
func Read(pid int) (Sample, error) {
	s := Sample{At: time.Now()}
	var err error
	if s.CPU, err = CPU(pid); err != nil {
		return s, err
	}
	status, err := os.ReadFile(dir(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("read the memory of process %d: %w", pid, err)
	}
	s.RSS = StatusKB(status, "VmRSS:") * 1024
	s.HWM = StatusKB(status, "VmHWM:") * 1024
	return s, nil
}

// CPU is the user + system CPU time process pid (0: this process) has used
// so far.
func CPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(dir(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && pid == 0 {
			return 0, ErrNoProc
		}
		return 0, fmt.Errorf("read the CPU time of process %d: %w", pid, err)
	}
	cpu, err := ParseStatCPU(stat)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return cpu, nil
}

// RSS is the resident set size of process pid (0: this process) in bytes.
func RSS(pid int) (int64, error) {
	status, err := os.ReadFile(dir(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the memory of process %d: %w", pid, err)
	}
	return StatusKB(status, "VmRSS:") * 1024, nil
}

// statFields returns the fields of a /proc/PID/stat line from field 3
// (state) on. The command name (field 2) is in parentheses and may hold
// spaces or parentheses itself, so the fields are counted from the last ')'.
func statFields(stat []byte) ([][]byte, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, errors.New("unreadable /proc stat line")
	}
	return bytes.Fields(stat[i+1:]), nil
}

// ParseStatCPU reads utime + stime from a /proc/PID/stat line.
func ParseStatCPU(stat []byte) (time.Duration, error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable CPU times in /proc stat line")
	}
	return time.Duration(u+s) * time.Second / userHZ, nil
}

// ZombieExitCode reads the exit code of a process that has exited but was
// not yet reaped, from field 52 of /proc/PID/stat.
func ZombieExitCode(pid int) (int, bool) {
	b, err := os.ReadFile(dir(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	f, err := statFields(b)
	if err != nil || len(f) < 50 || string(f[0]) != "Z" {
		return 0, false
	}
	status, err := strconv.Atoi(string(f[49]))
	if err != nil {
		return 0, false
	}
	return status >> 8 & 0xff, true
}

// StatusKB returns the value in kB of a "Key:   123 kB" line of
// /proc/PID/status, or 0.
func StatusKB(status []byte, key string) int64 {
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return n
			}
		}
	}
	return 0
}

// CPUPercent is the CPU used between two samples, in percent of one core.
func CPUPercent(a, b Sample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}

// LoadAvg1 is the machine's 1-minute load average (0 without /proc).
func LoadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(string(f[0]), 64)
	return v
}

// MachineCPU reads the aggregate line of /proc/stat: the time all CPUs spent
// busy and in total since boot (ok false without /proc).
func MachineCPU() (busy, total int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal ...; guest time is
	// already counted in user.
	for i, x := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, true
}

// Usage is what the kernel has counted for a whole process so far: CPU time
// split into user and kernel, its threads, and the context switches of all
// its threads (voluntary: it slept; involuntary: it was preempted).
type Usage struct {
	At           time.Time
	User, System time.Duration // in USER_HZ ticks (10 ms), sampled
	// Runtime is the CPU time the scheduler measured for all threads, to
	// the nanosecond (/proc/PID/task/TID/schedstat): the total to use for
	// short windows, where the 10 ms ticks of User and System are coarse.
	Runtime                time.Duration
	Threads                int
	Voluntary, Involuntary int64
	RSS                    int64 // bytes, at the reading
	// RSSAnon is the part of RSS that is the process's own memory (heap,
	// stacks), not pages of files it maps (its binary, libraries), which
	// the page cache holds and processes share.
	RSSAnon int64
}

// Switches is every context switch counted, voluntary or not.
func (u Usage) Switches() int64 { return u.Voluntary + u.Involuntary }

// ReadUsage reads process pid's Usage (0: this process). The context
// switches are summed over /proc/PID/task: /proc/PID/status counts only the
// main thread's. Threads that have exited no longer count.
func ReadUsage(pid int) (Usage, error) {
	u := Usage{At: time.Now()}
	stat, err := os.ReadFile(dir(pid) + "/stat")
	if err != nil {
		return u, fmt.Errorf("read the CPU time of process %d: %w", pid, err)
	}
	if u.User, u.System, u.Threads, err = ParseStatUsage(stat); err != nil {
		return u, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile(dir(pid) + "/status")
	if err != nil {
		return u, fmt.Errorf("read the memory of process %d: %w", pid, err)
	}
	u.RSS = StatusKB(status, "VmRSS:") * 1024
	u.RSSAnon = StatusKB(status, "RssAnon:") * 1024
	tasks, err := os.ReadDir(dir(pid) + "/task")
	if err != nil {
		return u, fmt.Errorf("list the threads of process %d: %w", pid, err)
	}
	for _, t := range tasks {
		status, err := os.ReadFile(dir(pid) + "/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread exited since the listing
		}
		u.Voluntary += StatusInt(status, "voluntary_ctxt_switches:")
		u.Involuntary += StatusInt(status, "nonvoluntary_ctxt_switches:")
		if ss, err := os.ReadFile(dir(pid) + "/task/" + t.Name() + "/schedstat"); err == nil {
			u.Runtime += ParseSchedstat(ss)
		}
	}
	return u, nil
}

// ParseSchedstat reads the time spent on the CPU from a /proc schedstat
// line ("runtime_ns waiting_ns timeslices"), or 0.
func ParseSchedstat(b []byte) time.Duration {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	ns, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || ns < 0 {
		return 0
	}
	return time.Duration(ns)
}

// ParseStatUsage reads utime, stime and num_threads from a /proc/PID/stat
// line.
func ParseStatUsage(stat []byte) (user, system time.Duration, threads int, err error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, 0, 0, err
	}
	// f[0] is field 3; utime, stime are fields 14, 15; num_threads is 20.
	if len(f) < 18 {
		return 0, 0, 0, errors.New("short /proc stat line")
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	n, err3 := strconv.Atoi(string(f[17]))
	if err1 != nil || err2 != nil || err3 != nil || u < 0 || s < 0 || n < 0 {
		return 0, 0, 0, errors.New("unreadable CPU times or thread count in /proc stat line")
	}
	return time.Duration(u) * time.Second / userHZ, time.Duration(s) * time.Second / userHZ, n, nil
}

// StatusInt returns the number on a "key: 123" line of /proc/PID/status
// (no unit), or 0.
func StatusInt(status []byte, key string) int64 {
	return StatusKB(status, key)
}

// Rates is the use between two Usage readings of one process: CPU in percent
// of one core (user and kernel), context switches per second, and the
// threads and RSS at the later reading.
type Rates struct {
	CPU, User, System float64 // % of one core
	SwitchesPerSec    float64
	Threads           int
	RSS, RSSAnon      int64
}

// Between computes the Rates from a to b. The CPU is the scheduler's
// runtime when both readings have it (split into user and kernel in the
// proportion of the tick counts), else the ticks.
func Between(a, b Usage) Rates {
	r := Rates{Threads: b.Threads, RSS: b.RSS, RSSAnon: b.RSSAnon}
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return r
	}
	r.User = 100 * (b.User - a.User).Seconds() / wall
	r.System = 100 * (b.System - a.System).Seconds() / wall
	r.CPU = r.User + r.System
	if run := b.Runtime - a.Runtime; a.Runtime > 0 && run > 0 {
		cpu := 100 * run.Seconds() / wall
		if r.CPU > 0 {
			r.User, r.System = cpu*r.User/r.CPU, cpu*r.System/r.CPU
		} else {
			r.User, r.System = cpu, 0
		}
		r.CPU = cpu
	}
	r.SwitchesPerSec = float64(b.Switches()-a.Switches()) / wall
	return r
}
