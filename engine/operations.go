package engine

import "sync"

// operations runs one peer's negotiation steps one at a time, in the order
// they were queued, so offers, answers, candidates and restarts never race.
// It is modelled on pion's operations.go: the queue has no bound and
// enqueue never blocks (the engine queues steps while holding its lock,
// and a full queue there would stall every call); a goroutine runs the
// steps and exists only while there are some.
type operations struct {
	mu      sync.Mutex
	ops     []func()
	running chan struct{} // closed when the running goroutine ends; nil when idle
	closed  bool
}

// enqueue queues f and starts the runner if it is idle. After close it
// drops f and reports false.
func (o *operations) enqueue(f func()) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.ops = append(o.ops, f)
	if o.running == nil {
		o.running = make(chan struct{})
		go o.run(o.running)
	}
	return true
}

// pop takes the next step, or ends the run (closing done) when there is
// none.
func (o *operations) pop(done chan struct{}) func() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ops) == 0 || o.closed {
		o.ops = nil
		o.running = nil
		close(done)
		return nil
	}
	f := o.ops[0]
	o.ops[0] = nil
	o.ops = o.ops[1:]
	return f
}

func (o *operations) run(done chan struct{}) {
	for f := o.pop(done); f != nil; f = o.pop(done) {
		f()
	}
}

// close drops the steps not yet started, refuses new ones and waits for a
// step in progress to finish.
func (o *operations) close() {
	o.mu.Lock()
	o.closed = true
	o.ops = nil
	running := o.running
	o.mu.Unlock()
	if running != nil {
		<-running
	}
}

// pending is how many steps wait (for tests).
func (o *operations) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ops)
}
