package tui

import "fmt"

// callState routes keys and picks the screen. It follows the engine's events;
// the UI never invents a call state the engine has not reported, except for
// the moment between pressing Enter and the engine's answer (outgoing with
// invitees "calling").
type callState int

const (
	// stateIdle: no call; the dial prompt may be open over it.
	stateIdle callState = iota
	// stateOutgoing: this user is ringing one or more invitees.
	stateOutgoing
	// stateIncoming: someone is ringing this user.
	stateIncoming
	// stateInCall: the call is connected.
	stateInCall
	// stateKicked: the same user logged in elsewhere; this session is over.
	stateKicked
	// stateSigExpired: the login ticket expired; a restart is needed.
	stateSigExpired
	// stateStopped: the engine closed its event stream.
	stateStopped
)

func (s callState) String() string {
	switch s {
	case stateIdle:
		return "idle"
	case stateOutgoing:
		return "outgoing"
	case stateIncoming:
		return "incoming"
	case stateInCall:
		return "in call"
	case stateKicked:
		return "kicked offline"
	case stateSigExpired:
		return "ticket expired"
	case stateStopped:
		return "stopped"
	}
	return fmt.Sprintf("callState(%d)", int(s))
}

// terminal reports whether the session is over: only help and quit remain.
func (s callState) terminal() bool {
	return s == stateKicked || s == stateSigExpired || s == stateStopped
}

// active reports whether a call (ringing or connected) is in progress.
func (s callState) active() bool {
	return s == stateOutgoing || s == stateIncoming || s == stateInCall
}

// peerStatus is where one invitee or participant stands in the call.
type peerStatus int

const (
	// peerCalling: the invitation is on its way (the engine has not answered).
	peerCalling peerStatus = iota
	// peerRinging: the invitee's phone is ringing.
	peerRinging
	// peerJoined: in the call.
	peerJoined
	// peerRejected: declined.
	peerRejected
	// peerNoAnswer: rang out.
	peerNoAnswer
	// peerOffline: not logged in or unknown; told at once.
	peerOffline
	// peerBusy: in or ringing in another call.
	peerBusy
	// peerLeft: was in the call and left.
	peerLeft
)

func (s peerStatus) String() string {
	switch s {
	case peerCalling:
		return "calling…"
	case peerRinging:
		return "ringing…"
	case peerJoined:
		return "accepted"
	case peerRejected:
		return "rejected"
	case peerNoAnswer:
		return "no answer"
	case peerOffline:
		return "offline"
	case peerBusy:
		return "busy"
	case peerLeft:
		return "left"
	}
	return fmt.Sprintf("peerStatus(%d)", int(s))
}

// pending reports whether the invitee may still join.
func (s peerStatus) pending() bool { return s == peerCalling || s == peerRinging }

// direction is who placed a call.
type direction int

const (
	dirOutgoing direction = iota
	dirIncoming
)

func (d direction) String() string {
	switch d {
	case dirOutgoing:
		return "out"
	case dirIncoming:
		return "in"
	}
	return fmt.Sprintf("direction(%d)", int(d))
}

// outcome is how a call of the recent list ended.
type outcome int

const (
	outcomeCompleted outcome = iota // connected, then ended
	outcomeCancelled                // the caller (this user) gave up before an answer
	outcomeRejected                 // declined, by them or by this user
	outcomeNoAnswer                 // rang out
	outcomeOffline                  // nobody invited was online
	outcomeBusy                     // the callee was in another call
	outcomeMissed                   // incoming call not answered here
	outcomeFailed                   // the engine refused to place the call
	outcomeLost                     // this session was logged out or the engine stopped mid-call
)

func (o outcome) String() string {
	switch o {
	case outcomeCompleted:
		return "completed"
	case outcomeCancelled:
		return "cancelled"
	case outcomeRejected:
		return "rejected"
	case outcomeNoAnswer:
		return "no answer"
	case outcomeOffline:
		return "offline"
	case outcomeBusy:
		return "busy"
	case outcomeMissed:
		return "missed"
	case outcomeFailed:
		return "failed"
	case outcomeLost:
		return "lost"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// action is an engine call the UI runs as a tea.Cmd.
type action int

const (
	actCall action = iota
	actAccept
	actReject
	actHangup
	actInvite
	actSwitchMedia
	actMute
)

func (a action) String() string {
	switch a {
	case actCall:
		return "call"
	case actAccept:
		return "accept"
	case actReject:
		return "reject"
	case actHangup:
		return "hang up"
	case actInvite:
		return "invite"
	case actSwitchMedia:
		return "switch media"
	case actMute:
		return "mute"
	}
	return fmt.Sprintf("action(%d)", int(a))
}
