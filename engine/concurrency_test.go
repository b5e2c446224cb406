package engine_test

import (
	"sync"
	"testing"
	"time"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// TestCloseFromManyGoroutines: Close called at once from many goroutines,
// in a call, closes once (no double close of anything), every caller gets
// the same result, and nothing is left running.
func TestCloseFromManyGoroutines(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", nil)
	calltest.Connect(t, alice, bob)

	const n = 16
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- alice.Close()
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if err := alice.Close(); err != nil {
		t.Errorf("Close once more: %v", err)
	}
	alice.WaitHas("onCallEnd(caller)")
	bob.WaitHas("onUserLeave(alice)")
}

// TestStatsDoNotHoldTheEngineLock: while a peer is stuck gathering its
// statistics (pion's GetStats), the engine still answers: an action that
// takes the engine's lock returns at once.
func TestStatsDoNotHoldTheEngineLock(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", func(c *Config) { c.QualityInterval = 500 * time.Millisecond })
	inStats, release := make(chan struct{}), make(chan struct{})
	var hooked, released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the engines close, even if the test failed
	SetStatsHook(bob.Engine, func() {
		hooked.Do(func() {
			close(inStats)
			<-release
		})
	})
	calltest.Connect(t, alice, bob)
	select {
	case <-inStats:
	case <-time.After(calltest.Wait):
		t.Fatal("bob never gathered statistics")
	}
	muted := make(chan error, 1)
	go func() { muted <- bob.SetMicMuted(true) }()
	select {
	case err := <-muted:
		calltest.Must(t, "mute", err)
	case <-time.After(calltest.Wait):
		unblock()
		t.Fatal("SetMicMuted waited for the statistics: they hold the engine's lock")
	}
	unblock()
	alice.ExpectEvent(UserAudioAvailable{UserID: "bob", IsAudioAvailable: false})
}
