package engine

import (
	"log/slog"

	"github.com/pion/webrtc/v4"

	"softphone/audio"
)

// Hooks for the black-box tests (package engine_test), which drive engines
// through the public API and look inside only through these.

// SignalMsg is the relay payload peers exchange, for tests that play a
// remote peer by hand.
type SignalMsg = signalMsg

// NewTestAPI is a pion API set up as the engine's peers are.
func NewTestAPI() (*webrtc.API, error) {
	api, _, err := newAPI(mediaConfig{Logger: slog.New(slog.DiscardHandler)})
	return api, err
}

// PipeState returns e's audio pipeline mode, counters and local level, read
// under the engine's lock so that a state change in progress is seen whole.
func PipeState(e *Engine) (audio.Mode, audio.PipelineStats, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pipe.Mode(), e.pipe.Stats(), e.pipe.LocalLevel()
}

// InCall reports whether e is in a connected call.
func InCall(e *Engine) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st == stateInCall
}

// RemoteAway reports whether e holds remote user id as away (its signaling
// connection dropped) in the current call.
func RemoteAway(e *Engine, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.call == nil {
		return false
	}
	r := e.call.remotes[id]
	return r != nil && r.away
}

// SetStatsHook makes every peer of e's calls from now on run f each time it
// starts gathering statistics.
func SetStatsHook(e *Engine, f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.media.statsHook = f
}
