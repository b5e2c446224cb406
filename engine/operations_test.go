package engine

import (
	"slices"
	"sync"
	"testing"
	"time"

	"softphone/internal/testenv"
)

// TestOperationsNeverBlock: while a step is stuck, thousands more queue
// without blocking the caller (the old 64-slot channel stalled the 65th),
// then run in order; close drops what has not started and waits for the
// step in progress; no goroutine is left.
func TestOperationsNeverBlock(t *testing.T) {
	testenv.NoLeaks(t)
	var o operations
	release := make(chan struct{})
	started := make(chan struct{})
	o.enqueue(func() { close(started); <-release })
	<-started

	var mu sync.Mutex // the engine's lock, held while queuing
	var got []int
	const n = 10000
	queued := make(chan struct{})
	go func() {
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			o.enqueue(func() { got = append(got, i) })
		}
		close(queued)
	}()
	select {
	case <-queued:
	case <-time.After(10 * time.Second):
		t.Fatal("queuing blocked behind a stuck step")
	}
	if p := o.pending(); p != n {
		t.Fatalf("%d steps pending, want %d", p, n)
	}
	close(release)
	done := make(chan struct{})
	o.enqueue(func() { close(done) })
	<-done
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("steps ran out of order or went missing: %d of %d", len(got), n)
	}

	// Close waits for the step in progress and drops the rest.
	release = make(chan struct{})
	started = make(chan struct{})
	ran := false
	o.enqueue(func() { close(started); <-release })
	o.enqueue(func() { ran = true })
	<-started
	closed := make(chan struct{})
	go func() { o.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a step was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if ran {
		t.Fatal("a step queued before close ran after it")
	}
	if o.enqueue(func() { t.Error("ran after close") }) {
		t.Fatal("enqueue after close was accepted")
	}
}
