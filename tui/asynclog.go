package tui

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// asyncLogQueue is how many log records may wait for the writer. Past that,
// records are dropped (and counted) rather than stall the UI.
const asyncLogQueue = 1024

// asyncLog moves log writes off the event loop: Update logs what happens,
// and a slow log file (a full disk, a network home directory) must never
// freeze the keys. One goroutine writes; close drains it.
type asyncLog struct {
	queue   chan logItem
	done    chan struct{}
	dropped atomic.Int64
	once    sync.Once
	mu      sync.RWMutex // guards closed against sends after close
	closed  bool
}

type logItem struct {
	h slog.Handler
	r slog.Record
}

// newAsyncLogger returns a logger that writes to base's handler from its
// own goroutine, and the function that flushes and stops it.
func newAsyncLogger(base *slog.Logger) (*slog.Logger, func()) {
	l := &asyncLog{queue: make(chan logItem, asyncLogQueue), done: make(chan struct{})}
	go l.write()
	return slog.New(&asyncHandler{log: l, next: base.Handler()}), l.close
}

func (l *asyncLog) write() {
	defer close(l.done)
	for it := range l.queue {
		_ = it.h.Handle(context.Background(), it.r)
	}
}

// enqueue queues it unless the queue is full or closed.
func (l *asyncLog) enqueue(it logItem) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	select {
	case l.queue <- it:
		return true
	default:
		return false
	}
}

func (l *asyncLog) close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
		<-l.done
	})
}

// asyncHandler is the slog.Handler side of asyncLog.
type asyncHandler struct {
	log  *asyncLog
	next slog.Handler
}

func (h *asyncHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *asyncHandler) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone() // the caller may reuse its record once Handle returns
	n := h.log.dropped.Load()
	if n > 0 {
		r.AddAttrs(slog.Int64("tui_log_dropped_before", n))
	}
	if h.log.enqueue(logItem{h: h.next, r: r}) {
		h.log.dropped.Add(-n)
	} else {
		h.log.dropped.Add(1)
	}
	return nil
}

func (h *asyncHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &asyncHandler{log: h.log, next: h.next.WithAttrs(attrs)}
}

func (h *asyncHandler) WithGroup(name string) slog.Handler {
	return &asyncHandler{log: h.log, next: h.next.WithGroup(name)}
}
