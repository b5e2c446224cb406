package tui

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"softphone/internal/testenv"
)

func TestAsyncLoggerKeepsOrderAndFlushesOnClose(t *testing.T) {
	var buf testenv.Buffer
	logger, closeLog := newAsyncLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	for i := range 100 {
		logger.With("k", "v").Info(fmt.Sprintf("line-%03d", i))
	}
	closeLog()
	closeLog()                 // twice is fine
	logger.Info("after close") // dropped, not a panic
	out := buf.String()
	last := -1
	for i := range 100 {
		at := strings.Index(out, fmt.Sprintf("line-%03d", i))
		if at < 0 || at < last {
			t.Fatalf("line %d missing or out of order:\n%s", i, out)
		}
		last = at
	}
	if !strings.Contains(out, "k=v") || strings.Contains(out, "after close") {
		t.Fatalf("attrs lost or late record written:\n%s", out)
	}
}

// blockingHandler stands for a log file on a stuck disk.
type blockingHandler struct {
	slog.Handler
	release chan struct{}
}

func (h blockingHandler) Handle(ctx context.Context, r slog.Record) error {
	<-h.release
	return h.Handler.Handle(ctx, r)
}

func TestAsyncLoggerNeverBlocksTheCaller(t *testing.T) {
	running := testenv.Running()
	var buf testenv.Buffer
	release := make(chan struct{})
	logger, closeLog := newAsyncLogger(slog.New(blockingHandler{slog.NewTextHandler(&buf, nil), release}))
	done := make(chan struct{})
	go func() {
		for range 3 * asyncLogQueue {
			logger.Info("flood")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked on a stuck log writer")
	}
	close(release)
	q := logger.Handler().(*asyncHandler).log.queue
	for len(q) > 0 { // the writer catches up
		time.Sleep(time.Millisecond)
	}
	logger.Info("after") // the next record that fits says how many were lost
	closeLog()
	if !strings.Contains(buf.String(), "tui_log_dropped_before=") {
		t.Error("dropped records were not counted in the log")
	}
	running.Check(t) // the log writer ends with close
}
