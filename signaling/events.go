package signaling

import (
	"encoding/json"
	"fmt"
)

// Event is one item of a Client's ordered event stream: a server push, or a
// change of the client's connection state (ConnEvent). Use a type switch.
type Event interface {
	// EventType is the push's wire type ("incoming", "userJoined", ...) or
	// "conn" for a ConnEvent.
	EventType() string
}

// ConnState is the Client's connection state.
type ConnState int

const (
	// ConnOffline: not connected and not trying: closed, kicked, ticket
	// expired or refused. ConnEvent.Err says which.
	ConnOffline ConnState = iota
	// ConnConnecting: the first connection is being made (inside Dial).
	ConnConnecting
	// ConnConnected: logged in; requests go through.
	ConnConnected
	// ConnReconnecting: the connection dropped; the client is dialling
	// again with backoff. Requests wait (up to their context) for it.
	ConnReconnecting
)

func (s ConnState) String() string {
	switch s {
	case ConnOffline:
		return "offline"
	case ConnConnecting:
		return "connecting"
	case ConnConnected:
		return "connected"
	case ConnReconnecting:
		return "reconnecting"
	}
	return fmt.Sprintf("ConnState(%d)", int(s))
}

// MarshalText makes a ConnState a JSON string such as "connected".
func (s ConnState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ConnEvent reports a change of the connection state.
type ConnEvent struct {
	State ConnState
	// Err is why the connection dropped (Reconnecting) or why the client
	// stopped (Offline): ErrKicked, ErrSessionExpired, ErrBadTicket,
	// ErrTicketExpired, ErrClosed...
	Err error
	// Resumed is true (on Connected after a reconnect) when the server still
	// held this session: the user kept its place in its call.
	Resumed bool
	// Call is the user's call as the server sees it now, on every Connected
	// event; nil when the user is in no call. After a reconnect, compare it
	// with what you knew: pushes sent while the connection was down are
	// lost, and a call you were in that is missing here is over for you
	// (the others were told you left, reason connectionLost).
	Call *CallInfo
	// ICEServers are the STUN/TURN servers the server offers (on every
	// Connected event; empty when it offers none), with credentials fresh
	// from this login.
	ICEServers []ICEServer
}

// IncomingCall is the push "incoming": the user was invited to a call. The
// embedded CallInfo has the callId, roomId, callerId, the full calleeIdList,
// groupId, mediaType, userData, timeout, and the participants with their
// states (CallInfo.Joined lists who is already in).
type IncomingCall struct{ CallInfo }

// CallBegan is the push "callBegan": the call connected for this user (two
// participants are joined). It maps to the reference's onCallBegin.
type CallBegan struct {
	CallID    string
	RoomID    RoomID
	MediaType MediaType
	Role      CallRole
	// Call is the call as it stands at that moment (who is joined), in
	// order with the userJoined/userLeft pushes that follow, so a client
	// knows its peers without racing the accept reply.
	Call *CallInfo
}

// UserInvited is the push "userInvited": By invited UserID into the call.
type UserInvited struct {
	CallID, UserID, By string
}

// UserJoined is the push "userJoined" (reference onUserJoin).
type UserJoined struct {
	CallID, UserID string
}

// UserLeft is the push "userLeft" (reference onUserLeave).
type UserLeft struct {
	CallID, UserID string
	Reason         Reason
}

// UserAway is the push "userAway": a joined participant's connection
// dropped; the server holds their place for the grace period. Media may
// still flow; a client that also sees the media stop can treat them as gone
// without waiting for the grace period.
type UserAway struct {
	CallID, UserID string
}

// UserBack is the push "userBack": an away participant reconnected in time.
type UserBack struct {
	CallID, UserID string
}

// UserRejected is the push "userRejected" (reference onUserReject).
type UserRejected struct {
	CallID, UserID string
}

// UserNoResponse is the push "userNoResponse" (reference onUserNoResponse).
// Reason is noResponse (timed out), offline, or what took the ringing user
// away (kicked, connectionLost, ticketExpired).
type UserNoResponse struct {
	CallID, UserID string
	Reason         Reason
}

// UserLineBusy is the push "userLineBusy" (reference onUserLineBusy).
type UserLineBusy struct {
	CallID, UserID string
}

// CallCancelled is the push "callCancelled": the call ended for this user
// before it connected for them (reference onCallCancelled). CallerID is the
// call's inviter. PROTOCOL.md maps each Reason to the reference scenario.
type CallCancelled struct {
	CallID, CallerID string
	Reason           Reason
}

// CallEnded is the push "callEnded": a call that had connected for this user
// is over for them (reference onCallEnd).
type CallEnded struct {
	CallID string
	Reason Reason
}

// MediaChanged is the push "mediaChanged" (reference
// onCallMediaTypeChanged); By asked for it.
type MediaChanged struct {
	CallID   string
	Old, New MediaType
	By       string
}

// Relayed is the push "relay": an opaque payload from another participant.
type Relayed struct {
	CallID, From string
	Payload      json.RawMessage
}

// Kicked is the push "kicked": the user logged in elsewhere; this client
// goes offline with ErrKicked (reference onKickedOffline).
type Kicked struct{ Message string }

// TicketExpired is the push "ticketExpired": the userSig expired while
// online; the client goes offline with ErrSessionExpired (reference
// onUserSigExpired).
type TicketExpired struct{ Message string }

// ServerShutdown is the push "shutdown": the server is going away. The
// client keeps trying to reconnect.
type ServerShutdown struct{ Message string }

// ICEServersChanged is the push "iceServers": fresh STUN/TURN servers and
// credentials, sent before the ones from the login reply expire. Use them
// for new connections; restart ICE on connections that go through the
// old TURN allocation.
type ICEServersChanged struct{ Servers []ICEServer }

// JoinAnswered is not a push: it is the server's yes to this client's join,
// put in the event stream where the reply came, between the pushes. Pushes
// before it about the same call (the callEnded of a hang-up just before the
// join, say) belong to the previous participation; the pushes the join
// caused (callBegan) come after it.
type JoinAnswered struct {
	CallID string
	Call   *CallInfo
}

func (ConnEvent) EventType() string      { return "conn" }
func (JoinAnswered) EventType() string   { return "joinAnswered" }
func (IncomingCall) EventType() string   { return TypeIncoming }
func (CallBegan) EventType() string      { return TypeCallBegan }
func (UserInvited) EventType() string    { return TypeUserInvited }
func (UserJoined) EventType() string     { return TypeUserJoined }
func (UserLeft) EventType() string       { return TypeUserLeft }
func (UserAway) EventType() string       { return TypeUserAway }
func (UserBack) EventType() string       { return TypeUserBack }
func (UserRejected) EventType() string   { return TypeUserRejected }
func (UserNoResponse) EventType() string { return TypeUserNoResponse }
func (UserLineBusy) EventType() string   { return TypeUserLineBusy }
func (CallCancelled) EventType() string  { return TypeCallCancelled }
func (CallEnded) EventType() string      { return TypeCallEnded }
func (MediaChanged) EventType() string   { return TypeMediaChanged }
func (Relayed) EventType() string        { return TypeRelayed }
func (Kicked) EventType() string         { return TypeKicked }
func (TicketExpired) EventType() string  { return TypeTicketExpired }
func (ServerShutdown) EventType() string { return TypeShutdown }
func (ICEServersChanged) EventType() string {
	return TypeICEServers
}

// PushEvent converts a push frame to its Event; ok is false for frames that
// are not pushes (replies, requests, unknown types).
func PushEvent(f *Frame) (ev Event, ok bool) {
	switch f.Type {
	case TypeIncoming:
		if f.Call == nil {
			return nil, false
		}
		return IncomingCall{*f.Call}, true
	case TypeCallBegan:
		var room RoomID
		if f.RoomID != nil {
			room = *f.RoomID
		}
		return CallBegan{CallID: f.CallID, RoomID: room, MediaType: f.MediaType, Role: f.CallRole, Call: f.Call}, true
	case TypeUserInvited:
		return UserInvited{CallID: f.CallID, UserID: f.UserID, By: f.By}, true
	case TypeUserJoined:
		return UserJoined{CallID: f.CallID, UserID: f.UserID}, true
	case TypeUserLeft:
		return UserLeft{CallID: f.CallID, UserID: f.UserID, Reason: f.Reason}, true
	case TypeUserAway:
		return UserAway{CallID: f.CallID, UserID: f.UserID}, true
	case TypeUserBack:
		return UserBack{CallID: f.CallID, UserID: f.UserID}, true
	case TypeUserRejected:
		return UserRejected{CallID: f.CallID, UserID: f.UserID}, true
	case TypeUserNoResponse:
		return UserNoResponse{CallID: f.CallID, UserID: f.UserID, Reason: f.Reason}, true
	case TypeUserLineBusy:
		return UserLineBusy{CallID: f.CallID, UserID: f.UserID}, true
	case TypeCallCancelled:
		return CallCancelled{CallID: f.CallID, CallerID: f.CallerID, Reason: f.Reason}, true
	case TypeCallEnded:
		return CallEnded{CallID: f.CallID, Reason: f.Reason}, true
	case TypeMediaChanged:
		var o, n MediaType
		if f.OldMediaType != nil {
			o = *f.OldMediaType
		}
		if f.NewMediaType != nil {
			n = *f.NewMediaType
		}
		return MediaChanged{CallID: f.CallID, Old: o, New: n, By: f.By}, true
	case TypeRelayed:
		return Relayed{CallID: f.CallID, From: f.From, Payload: f.Payload}, true
	case TypeKicked:
		return Kicked{Message: f.Message}, true
	case TypeTicketExpired:
		return TicketExpired{Message: f.Message}, true
	case TypeShutdown:
		return ServerShutdown{Message: f.Message}, true
	case TypeICEServers:
		return ICEServersChanged{Servers: f.ICEServers}, true
	}
	return nil, false
}
