package loadtest

import (
	"sync"
	"time"

	"softphone/internal/procstat"
)

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
	start, end procstat.Sample
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
func (w *procWatch) sample() (self, server procstat.Sample) {
	self, errSelf := procstat.Read(0)
	var errServer error = procstat.ErrNoProc
	if w.serverPID != 0 {
		server, errServer = procstat.Read(w.serverPID)
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

func (t *procTrack) note(s procstat.Sample, err error) {
	if err != nil {
		t.failed = true
		return
	}
	if !t.ok {
		t.ok = true
	}
	t.peak = max(t.peak, s.RSS)
}

func (w *procWatch) markLoggedIn() {
	self, server := w.sample()
	w.mu.Lock()
	w.self.loggedIn, w.server.loggedIn = self.RSS, server.RSS
	w.mu.Unlock()
}

func (w *procWatch) markStart() {
	self, server := w.sample()
	w.mu.Lock()
	w.loadAvg[0] = procstat.LoadAvg1()
	w.busy[0], w.total[0], w.machineOK = procstat.MachineCPU()
	w.self.start, w.server.start = self, server
	w.mu.Unlock()
}

func (w *procWatch) markEnd() {
	self, server := w.sample()
	w.mu.Lock()
	w.loadAvg[1] = procstat.LoadAvg1()
	var ok bool
	w.busy[1], w.total[1], ok = procstat.MachineCPU()
	w.machineOK = w.machineOK && ok
	w.self.end, w.server.end = self, server
	w.mu.Unlock()
}

// stats reports both processes (nil where they could not be read).
func (w *procWatch) stats() (self, server *ProcessStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	conv := func(t *procTrack, pid int) *ProcessStats {
		if !t.ok || t.start.At.IsZero() || t.end.At.IsZero() {
			return nil
		}
		return &ProcessStats{
			PID:           pid,
			CPUPercent:    procstat.CPUPercent(t.start, t.end),
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
