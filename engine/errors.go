package engine

import (
	"errors"
	"fmt"

	"softphone/signaling"
)

// Error is an engine failure with a numbered code (onError.code and the
// headless {"ok":false,"code":N} replies). Codes 1xxx–5xxx are the call
// server's (signaling/PROTOCOL.md); 6xxx are the engine's own.
type Error struct {
	Code    int
	Message string
	err     error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error, for errors.Is.
func (e *Error) Unwrap() error { return e.err }

// Engine error codes.
const (
	CodeNotLoggedIn  = 6001 // no session with the call server
	CodeWrongState   = 6002 // the action does not fit the call state
	CodeInvalid      = 6003 // a bad argument
	CodeMedia        = 6004 // WebRTC or audio failure
	CodeUnreachable  = 6005 // the server cannot be reached
	CodeConnection   = 6006 // the connection dropped before the reply
	CodeClosed       = 6007 // the engine was closed
	CodeKicked       = 6008 // logged in elsewhere
	CodeTicket       = 6009 // the userSig expired while online
	CodeUnknownError = 6999
)

// Sentinel errors for errors.Is.
var (
	ErrNotLoggedIn = &Error{Code: CodeNotLoggedIn, Message: "not logged in to the call server"}
	ErrClosed      = &Error{Code: CodeClosed, Message: "the engine is closed"}
)

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func stateError(format string, args ...any) *Error {
	return &Error{Code: CodeWrongState, Message: fmt.Sprintf(format, args...)}
}

func invalidError(format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// wrapError gives any error from below a code and a message fit for a user.
func wrapError(what string, err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *signaling.Error
	switch {
	case errors.As(err, &se):
		return &Error{Code: int(se.Code), Message: what + ": " + se.Message, err: err}
	case errors.Is(err, signaling.ErrUnreachable):
		return &Error{Code: CodeUnreachable, Message: what + ": the call server cannot be reached", err: err}
	case errors.Is(err, signaling.ErrConnectionLost):
		return &Error{Code: CodeConnection, Message: what + ": the connection to the call server dropped; try again", err: err}
	case errors.Is(err, signaling.ErrClosed):
		return &Error{Code: CodeClosed, Message: what + ": the engine is closed", err: err}
	case errors.Is(err, signaling.ErrKicked):
		return &Error{Code: CodeKicked, Message: what + ": logged in elsewhere", err: err}
	case errors.Is(err, signaling.ErrSessionExpired):
		return &Error{Code: CodeTicket, Message: what + ": the userSig expired; start again with a new one", err: err}
	}
	return &Error{Code: CodeUnknownError, Message: what + ": " + err.Error(), err: err}
}
