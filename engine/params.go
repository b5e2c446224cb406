package engine

import "time"

// CallParams are the per-call options of Call (reference: TUICallParams).
type CallParams struct {
	// MediaType is voice (default) or video.
	MediaType MediaType
	// Timeout is how long invitees ring; 0 takes the server's default.
	// The server accepts 1 s to 600 s.
	Timeout time.Duration
	// UserData is free text shown to the invitees (onCallReceived.userData).
	UserData string
	// RoomID asks for a specific room; the zero value lets the server choose.
	RoomID RoomID
	// GroupID marks a group call with the caller's group id (optional).
	GroupID string
}
