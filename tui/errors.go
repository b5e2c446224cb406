package tui

import "errors"

// Errors Run returns after the user has read the matching screen and quit, so
// main can exit non-zero with a one-line reason that stays in the shell.
var (
	// ErrKickedOffline: the same user logged in elsewhere and this session
	// lost its call. Log in again to take calls here.
	ErrKickedOffline = errors.New("signed in elsewhere: this session was logged out; start softphone again to use it here")
	// ErrUserSigExpired: the login ticket (userSig) expired while online.
	ErrUserSigExpired = errors.New("login ticket (userSig) expired: start softphone again with a new ticket (--usersig or --secret-key-file)")
	// ErrEngineStopped: the engine closed its event stream while the UI ran.
	ErrEngineStopped = errors.New("the phone engine stopped; see the log file for why")
	// ErrInternal wraps a panic inside the UI. The terminal is restored and
	// the stack goes to the log, never to the screen.
	ErrInternal = errors.New("internal error in the terminal UI")
)
