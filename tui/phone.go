package tui

import (
	"context"

	"softphone/engine"
)

// Phone is what the terminal UI needs from the call engine. *engine.Engine
// implements it; tests use a small recording double.
//
// Action errors come back with a message fit for a user; the UI shows them in
// the status line and the event log.
type Phone interface {
	// Events is the engine's single ordered event stream. Call-state events
	// are never dropped; volume and quality reports may be coalesced. The
	// channel is closed when the engine closes.
	Events() <-chan engine.Event
	// Call invites userIDs: one id is a 1:1 call, several a group call.
	Call(ctx context.Context, userIDs []string, p engine.CallParams) error
	// Accept answers the ringing incoming call.
	Accept(ctx context.Context) error
	// Reject declines the ringing incoming call.
	Reject(ctx context.Context) error
	// Hangup leaves the current call, or cancels an outgoing call that is
	// still ringing.
	Hangup(ctx context.Context) error
	// Invite rings more users into the current call.
	Invite(ctx context.Context, userIDs []string) error
	// SwitchMediaType switches the current call between voice and video.
	SwitchMediaType(ctx context.Context, t engine.MediaType) error
	// SetMicMuted mutes or unmutes this user's microphone.
	SetMicMuted(muted bool) error
	// UserID is the logged-in user's id.
	UserID() string
	// ServerURL is the call server this phone is connected to.
	ServerURL() string
	// MaxCallSize is the most people in one call, the caller included:
	// the server's limit, from its login reply.
	MaxCallSize() int
}
