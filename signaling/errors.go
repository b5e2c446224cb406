package signaling

import (
	"errors"
	"fmt"
)

// Code is the numbered error code of an "error" reply (see PROTOCOL.md).
// 1xxx are protocol errors, 2xxx login errors, 3xxx call errors and 5xxx
// server errors.
type Code int

// Error codes. Their numbers are part of the wire protocol: never renumber.
const (
	CodeNone               Code = 0
	CodeMalformed          Code = 1001
	CodeUnsupportedVersion Code = 1002
	CodeUnknownType        Code = 1003
	CodeTooLarge           Code = 1004
	CodeInvalidArgument    Code = 1005
	CodeRateLimited        Code = 1006
	CodeNotLoggedIn        Code = 1007
	CodeAlreadyLoggedIn    Code = 1008

	CodeBadTicket       Code = 2001
	CodeTicketExpired   Code = 2002
	CodeSessionReplaced Code = 2003

	CodeNoSuchCall    Code = 3001
	CodeNotInvited    Code = 3002
	CodeWrongState    Code = 3003
	CodeBusy          Code = 3004
	CodeCallFull      Code = 3005
	CodeRoomInUse     Code = 3006
	CodeNotInCall     Code = 3007
	CodeUnavailable   Code = 3008
	CodeAlreadyInCall Code = 3009
	CodeInviteLimited Code = 3010

	CodeInternal     Code = 5001
	CodeShuttingDown Code = 5002
)

var codeNames = map[Code]string{
	CodeNone:               "none",
	CodeMalformed:          "malformed",
	CodeUnsupportedVersion: "unsupportedVersion",
	CodeUnknownType:        "unknownType",
	CodeTooLarge:           "tooLarge",
	CodeInvalidArgument:    "invalidArgument",
	CodeRateLimited:        "rateLimited",
	CodeNotLoggedIn:        "notLoggedIn",
	CodeAlreadyLoggedIn:    "alreadyLoggedIn",
	CodeBadTicket:          "badTicket",
	CodeTicketExpired:      "ticketExpired",
	CodeSessionReplaced:    "sessionReplaced",
	CodeNoSuchCall:         "noSuchCall",
	CodeNotInvited:         "notInvited",
	CodeWrongState:         "wrongState",
	CodeBusy:               "busy",
	CodeCallFull:           "callFull",
	CodeRoomInUse:          "roomInUse",
	CodeNotInCall:          "notInCall",
	CodeUnavailable:        "unavailable",
	CodeAlreadyInCall:      "alreadyInCall",
	CodeInviteLimited:      "inviteLimited",
	CodeInternal:           "internal",
	CodeShuttingDown:       "shuttingDown",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is an error reply from the server. Match a kind of failure with
// errors.Is against the Err* values below (any *Error with the same Code
// matches), or get the code and message with errors.As.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("signaling: %s (%d)", e.Code, int(e.Code))
	}
	return fmt.Sprintf("signaling: %s (%d): %s", e.Code, int(e.Code), e.Message)
}

// Is makes errors.Is(err, ErrBusy) true for every *Error with CodeBusy.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Server error replies, for errors.Is.
var (
	ErrBadTicket     = &Error{Code: CodeBadTicket}
	ErrTicketExpired = &Error{Code: CodeTicketExpired}
	// ErrSessionReplaced: a resume was refused because a newer login of
	// the same user took over meanwhile. The Client reports it as ErrKicked.
	ErrSessionReplaced = &Error{Code: CodeSessionReplaced}
	ErrNoSuchCall      = &Error{Code: CodeNoSuchCall}
	ErrNotInvited      = &Error{Code: CodeNotInvited}
	ErrWrongState      = &Error{Code: CodeWrongState}
	ErrBusy            = &Error{Code: CodeBusy}
	ErrCallFull        = &Error{Code: CodeCallFull}
	ErrRoomInUse       = &Error{Code: CodeRoomInUse}
	ErrNotInCall       = &Error{Code: CodeNotInCall}
	ErrUnavailable     = &Error{Code: CodeUnavailable}
	ErrAlreadyInCall   = &Error{Code: CodeAlreadyInCall}
	ErrInviteLimited   = &Error{Code: CodeInviteLimited}
	ErrRateLimited     = &Error{Code: CodeRateLimited}
	ErrInvalid         = &Error{Code: CodeInvalidArgument}
	ErrShuttingDown    = &Error{Code: CodeShuttingDown}
)

// Client-side failures that are not server replies.
var (
	// ErrUnreachable means no WebSocket connection to the server could be
	// made. The wrapped error says why (refused, DNS, TLS, HTTP status).
	ErrUnreachable = errors.New("signaling: server unreachable")
	// ErrKicked means the same user ID logged in elsewhere and this session
	// was closed; it does not reconnect by itself.
	ErrKicked = errors.New("signaling: kicked offline: this user ID logged in elsewhere")
	// ErrSessionExpired means the userSig expired while online; log in with
	// a new one. (ErrTicketExpired is the login reply for an expired ticket.)
	ErrSessionExpired = errors.New("signaling: userSig expired while online: log in with a new one")
	// ErrConnectionLost means the connection dropped before the reply
	// arrived: the request may or may not have taken effect. The ConnEvent
	// that follows the reconnection carries the current call state.
	ErrConnectionLost = errors.New("signaling: connection lost before the reply arrived")
	// ErrClosed means the Client was closed.
	ErrClosed = errors.New("signaling: client closed")
)
