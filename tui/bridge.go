package tui

import (
	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// bridge forwards the engine's events into the program, in order and without
// loss: send (the program's Send) blocks until the program takes each one,
// and the engine's channel holds or coalesces what arrives meanwhile (only
// volume and quality reports are ever coalesced). It returns when done is
// closed (the program ended) or the engine closes the stream, which it
// reports as engineStoppedMsg. Send returns at once after the program has
// ended, so the bridge cannot hang on a program that is gone.
func bridge(events <-chan engine.Event, done <-chan struct{}, send func(tea.Msg)) {
	for {
		select {
		case <-done:
			return
		default:
		}
		select {
		case <-done:
			return
		case ev, ok := <-events:
			if !ok {
				send(engineStoppedMsg{})
				return
			}
			send(ev)
		}
	}
}
