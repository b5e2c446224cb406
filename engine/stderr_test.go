package engine_test

import (
	"io"
	"os"
	"testing"
	"time"

	"softphone/internal/calltest"
)

// TestNothingWritesToStderr: while the TUI runs, nothing but the TUI may
// write to the terminal. pion's components log to stderr unless each is
// given the engine's logger factory; one that is not (the transport-cc
// interceptor was) garbles the screen when it logs, typically as a call
// closes. A whole call, hangup included, must leave stderr untouched.
func TestNothingWritesToStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w // before the engines exist: pion's default loggers bind to it when made
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	func() {
		defer func() { os.Stderr = saved }()
		s := calltest.NewServer(t, nil)
		alice := s.Engine("alice", nil)
		bob := s.Engine("bob", nil)
		calltest.Connect(t, alice, bob)
		time.Sleep(time.Second)
		calltest.Must(t, "hangup", alice.Hangup(calltest.Ctx(t)))
		alice.WaitHas("onCallEnd(caller)")
		bob.WaitHas("onCallEnd(called)")
		alice.End()
		bob.End()
	}()
	w.Close()
	if b := <-got; len(b) > 0 {
		t.Errorf("the engines wrote to stderr during a call:\n%s", b)
	}
}
