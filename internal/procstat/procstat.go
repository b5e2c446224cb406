package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// procSample is one reading of a process's CPU time and resident memory,
// from Linux's /proc (proc(5)). The load test reads its own process and,
// when told its pid, the call server's.
type procSample struct {
	at  time.Time
	cpu time.Duration // user + system time since the process started
	rss int64         // resident set size in bytes (VmRSS)
	hwm int64         // peak resident set size in bytes (VmHWM)
}

// userHZ is the unit of the CPU times in /proc/PID/stat. Linux fixes it
// at 100 for user space on every architecture it runs on (USER_HZ).
const userHZ = 100

// errNoProc means /proc is not there (not Linux): no CPU or memory figures.
var errNoProc = errors.New("no /proc: CPU and memory figures need Linux")

// readProc samples process pid (0: this process).
func readProc(pid int) (procSample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && pid == 0 {
			return s, errNoProc
		}
		return s, fmt.Errorf("read the CPU time of process %d: %w", pid, err)
	}
	if s.cpu, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("read the memory of process %d: %w", pid, err)
	}
	s.rss = statusKB(status, "VmRSS:") * 1024
	s.hwm = statusKB(status, "VmHWM:") * 1024
	return s, nil
}

// parseStatCPU reads utime + stime from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces or parentheses
// itself, so the fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat line")
	}
	f := bytes.Fields(stat[i+1:])
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

// statusKB returns the value in kB of a "Key:   123 kB" line of
// /proc/PID/status, or 0.
func statusKB(status []byte, key string) int64 {
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

// cpuPercent is the CPU used between two samples, in percent of one core.
func cpuPercent(a, b procSample) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.cpu-a.cpu) / float64(wall)
}

// procWatch samples this process and optionally the server's during a load
// test: the peak memory every 200 ms, the memory once everyone is logged
// in, and the CPU used between the start and the end of the calls.
type procWatch struct {
	serverPID int
	loadAvg   [2]float64 // at markStart and markEnd
	// machine busy and total CPU time at markStart and markEnd
	busy, total [2]int64
	machineOK   bool
	log         interface{ Warn(string, ...any) }

	mu     sync.Mutex
	self   procTrack
	server procTrack
	stop   chan struct{}
	done   chan struct{}
}

// procTrack is what procWatch keeps of one process.
type procTrack struct {
	ok         bool // the process could be read
	failed     bool // a read failed after it worked: the process is gone
	start, end procSample
	loggedIn   int64
	peak       int64
}

const procSampleEvery = 200 * time.Millisecond

func (w *procWatch) begin(serverPID int, log interface{ Warn(string, ...any) }) {
	w.serverPID, w.log = serverPID, log
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	w.sample()
	go func() {
		defer close(w.done)
		t := time.NewTicker(procSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
}

func (w *procWatch) finish() {
	if w.stop == nil {
		return
	}
	close(w.stop)
	<-w.done
}

// sample reads both processes, updates the peaks and returns the readings.
func (w *procWatch) sample() (self, server procSample) {
	self, errSelf := readProc(0)
	var errServer error = errNoProc
	if w.serverPID != 0 {
		server, errServer = readProc(w.serverPID)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.self.note(self, errSelf)
	if w.serverPID != 0 {
		if errServer != nil && !w.server.failed && w.log != nil {
			w.log.Warn("cannot read the server process", "pid", w.serverPID, "err", errServer)
		}
		w.server.note(server, errServer)
	}
	return self, server
}

func (t *procTrack) note(s procSample, err error) {
	if err != nil {
		t.failed = true
		return
	}
	if !t.ok {
		t.ok = true
	}
	t.peak = max(t.peak, s.rss)
}

func (w *procWatch) markLoggedIn() {
	self, server := w.sample()
	w.mu.Lock()
	w.self.loggedIn, w.server.loggedIn = self.rss, server.rss
	w.mu.Unlock()
}

func (w *procWatch) markStart() {
	self, server := w.sample()
	w.mu.Lock()
	w.loadAvg[0] = loadAvg1()
	w.busy[0], w.total[0], w.machineOK = machineCPU()
	w.self.start, w.server.start = self, server
	w.mu.Unlock()
}

func (w *procWatch) markEnd() {
	self, server := w.sample()
	w.mu.Lock()
	w.loadAvg[1] = loadAvg1()
	var ok bool
	w.busy[1], w.total[1], ok = machineCPU()
	w.machineOK = w.machineOK && ok
	w.self.end, w.server.end = self, server
	w.mu.Unlock()
}

// stats reports both processes (nil where they could not be read).
func (w *procWatch) stats() (self, server *ProcessStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	conv := func(t *procTrack, pid int) *ProcessStats {
		if !t.ok || t.start.at.IsZero() || t.end.at.IsZero() {
			return nil
		}
		return &ProcessStats{
			PID:           pid,
			CPUPercent:    cpuPercent(t.start, t.end),
			RSSLoggedInMB: float64(t.loggedIn) / (1 << 20),
			RSSPeakMB:     float64(t.peak) / (1 << 20),
		}
	}
	self = conv(&w.self, 0)
	if w.serverPID != 0 {
		server = conv(&w.server, w.serverPID)
	}
	return self, server
}

// loadAvg1 is the machine's 1-minute load average (0 without /proc).
func loadAvg1() float64 {
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

// machineCPU reads the aggregate line of /proc/stat: the time all CPUs spent
// busy and in total since boot (ok false without /proc).
func machineCPU() (busy, total int64, ok bool) {
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

// machineBusy is the share of all CPUs' time that was busy between
// markStart and markEnd, in percent (-1 when unknown).
func (w *procWatch) machineBusy() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.machineOK || w.total[1] <= w.total[0] {
		return -1
	}
	return 100 * float64(w.busy[1]-w.busy[0]) / float64(w.total[1]-w.total[0])
}
