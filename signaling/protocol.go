package signaling

import (
	"encoding/json"
	"fmt"
)

// This file is the wire protocol: one JSON object per WebSocket text message,
// in both directions. PROTOCOL.md documents every message; keep the two in
// step.

// ProtocolVersion is the protocol version this package speaks; the client
// sends it in "login" and the server refuses any other.
const ProtocolVersion = 1

// Message types. Requests go from client to server and are answered by one
// "ok" or "error" reply with the same id; pushes go from server to client
// unasked.
const (
	// Requests.
	TypeLogin       = "login"
	TypePing        = "ping"
	TypeInvite      = "invite"
	TypeAccept      = "accept"
	TypeReject      = "reject"
	TypeHangup      = "hangup"
	TypeInviteMore  = "inviteMore"
	TypeJoin        = "join"
	TypeSwitchMedia = "switchMedia"
	TypeRelay       = "relay"
	TypeSync        = "sync"
	TypeLogout      = "logout"

	// Replies.
	TypeOK    = "ok"
	TypeError = "error"

	// Pushes.
	TypeIncoming       = "incoming"
	TypeCallBegan      = "callBegan"
	TypeUserInvited    = "userInvited"
	TypeUserJoined     = "userJoined"
	TypeUserLeft       = "userLeft"
	TypeUserAway       = "userAway"
	TypeUserBack       = "userBack"
	TypeUserRejected   = "userRejected"
	TypeUserNoResponse = "userNoResponse"
	TypeUserLineBusy   = "userLineBusy"
	TypeCallCancelled  = "callCancelled"
	TypeCallEnded      = "callEnded"
	TypeMediaChanged   = "mediaChanged"
	TypeRelayed        = "relay"
	TypeKicked         = "kicked"
	TypeTicketExpired  = "ticketExpired"
	TypeShutdown       = "shutdown"
	TypeICEServers     = "iceServers"
)

// MediaType is a call's media type (reference: callMediaType).
type MediaType int

const (
	// MediaVoice is a voice call (0).
	MediaVoice MediaType = 0
	// MediaVideo is a video call (1).
	MediaVideo MediaType = 1
)

func (m MediaType) String() string {
	switch m {
	case MediaVoice:
		return "voice"
	case MediaVideo:
		return "video"
	}
	return fmt.Sprintf("MediaType(%d)", int(m))
}

// Valid reports whether m is voice or video.
func (m MediaType) Valid() bool { return m == MediaVoice || m == MediaVideo }

// RoomID is a call's audio/video room in the reference's two forms.
type RoomID struct {
	IntRoomID uint32 `json:"intRoomId"`
	StrRoomID string `json:"strRoomId"`
}

// IsZero reports whether no room was given.
func (r RoomID) IsZero() bool { return r.IntRoomID == 0 && r.StrRoomID == "" }

// CallRole is a user's role in a call (reference: callRole).
type CallRole int

const (
	RoleUnknown CallRole = 0
	RoleCaller  CallRole = 1
	RoleCalled  CallRole = 2
)

func (r CallRole) String() string {
	switch r {
	case RoleUnknown:
		return "unknown"
	case RoleCaller:
		return "caller"
	case RoleCalled:
		return "called"
	}
	return fmt.Sprintf("CallRole(%d)", int(r))
}

// Reason says why a participant's part in a call ended, or why a call was
// cancelled or ended. The wire form is the string itself.
type Reason string

// Reasons. They follow the end reasons of the reference kit where one exists.
const (
	ReasonNone           Reason = ""
	ReasonHangup         Reason = "hangup"         // the user hung up
	ReasonCanceled       Reason = "canceled"       // the caller cancelled, or nobody who could answer is left
	ReasonRejected       Reason = "rejected"       // the invitee declined
	ReasonNoResponse     Reason = "noResponse"     // the invitation timed out
	ReasonOffline        Reason = "offline"        // the invitee was not logged in
	ReasonLineBusy       Reason = "lineBusy"       // the invitee was in or ringing in another call
	ReasonAllLeft        Reason = "allLeft"        // everybody else left the call
	ReasonConnectionLost Reason = "connectionLost" // the connection dropped and did not come back within the grace period
	ReasonKicked         Reason = "kicked"         // the same user ID logged in elsewhere
	ReasonTicketExpired  Reason = "ticketExpired"  // the userSig expired while online
	ReasonServerShutdown Reason = "serverShutdown" // the server is shutting down
)

func (r Reason) String() string { return string(r) }

// ParticipantState is where one user stands in a call.
type ParticipantState string

const (
	// StateRinging: invited and not answered yet.
	StateRinging ParticipantState = "ringing"
	// StateJoined: in the call (the caller from the start).
	StateJoined ParticipantState = "joined"
	// StateLeft: was joined and left (hung up, dropped, kicked...).
	StateLeft ParticipantState = "left"
	// StateRejected: declined the invitation.
	StateRejected ParticipantState = "rejected"
	// StateNoResponse: did not answer in time, or was offline.
	StateNoResponse ParticipantState = "noResponse"
	// StateLineBusy: was in or ringing in another call when invited.
	StateLineBusy ParticipantState = "lineBusy"
)

func (s ParticipantState) String() string { return string(s) }

// Active reports whether the participant is ringing or joined: only those
// count towards the size cap and receive the call's pushes.
func (s ParticipantState) Active() bool { return s == StateRinging || s == StateJoined }

// Participant is one user in a CallInfo.
type Participant struct {
	UserID string           `json:"userId"`
	State  ParticipantState `json:"state"`
	// Reason says why a participant is no longer active.
	Reason Reason `json:"reason,omitempty"`
	// Away is true while a joined participant's connection is down and the
	// server is holding its place for the grace period.
	Away bool `json:"away,omitempty"`
}

// CallInfo is a snapshot of a live call as the server sees it.
type CallInfo struct {
	CallID   string `json:"callId"`
	RoomID   RoomID `json:"roomId"`
	CallerID string `json:"callerId"`
	// CalleeIDs is everyone invited so far, in invitation order.
	CalleeIDs []string  `json:"calleeIdList"`
	GroupID   string    `json:"groupId"`
	MediaType MediaType `json:"mediaType"`
	UserData  string    `json:"userData"`
	// Timeout is the invitation timeout in seconds.
	Timeout int `json:"timeout"`
	// Active is false until two participants were joined at once.
	Active bool `json:"active"`
	// Participants lists the caller first, then the invitees in order.
	Participants []Participant `json:"participants"`
}

// Participant returns the entry for userID.
func (c *CallInfo) Participant(userID string) (Participant, bool) {
	for _, p := range c.Participants {
		if p.UserID == userID {
			return p, true
		}
	}
	return Participant{}, false
}

// Joined lists the joined participants.
func (c *CallInfo) Joined() []string {
	var out []string
	for _, p := range c.Participants {
		if p.State == StateJoined {
			out = append(out, p.UserID)
		}
	}
	return out
}

// Frame is one protocol message. Every message type uses a subset of the
// fields; PROTOCOL.md lists which. Absent fields decode as zero values.
type Frame struct {
	Type string `json:"type"`
	// ID is the request id that the reply echoes; 0 in pushes.
	ID uint64 `json:"id,omitempty"`

	// login request and reply
	Version       int    `json:"v,omitempty"`
	UserID        string `json:"userId,omitempty"`
	UserSig       string `json:"userSig,omitempty"`
	Resume        string `json:"resume,omitempty"`
	Token         string `json:"token,omitempty"`
	Resumed       bool   `json:"resumed,omitempty"`
	ServerTime    int64  `json:"serverTime,omitempty"`
	TicketExpires int64  `json:"ticketExpires,omitempty"`
	Heartbeat     int    `json:"heartbeat,omitempty"`
	Grace         int    `json:"grace,omitempty"`
	MaxCallSize   int    `json:"maxCallSize,omitempty"`
	// CallToken: the login request (to bring a call back after a server
	// restart) and reply, and the pushes about a call that has begun
	// (PROTOCOL.md, "Calls that outlive the server").
	CallToken string `json:"callToken,omitempty"`
	// ICEServers: the login reply and the "iceServers" push.
	ICEServers []ICEServer `json:"iceServers,omitempty"`

	// calls
	CallID    string    `json:"callId,omitempty"`
	CalleeIDs []string  `json:"calleeIdList,omitempty"`
	GroupID   string    `json:"groupId,omitempty"`
	MediaType MediaType `json:"mediaType,omitempty"`
	UserData  string    `json:"userData,omitempty"`
	Timeout   int       `json:"timeout,omitempty"`
	RoomID    *RoomID   `json:"roomId,omitempty"`
	Call      *CallInfo `json:"call,omitempty"`
	CallRole  CallRole  `json:"callRole,omitempty"`
	Reason    Reason    `json:"reason,omitempty"`
	CallerID  string    `json:"callerId,omitempty"`
	By        string    `json:"by,omitempty"`
	// OldMediaType and NewMediaType are pointers so that voice (0) is still
	// written out in "mediaChanged".
	OldMediaType *MediaType `json:"oldMediaType,omitempty"`
	NewMediaType *MediaType `json:"newMediaType,omitempty"`

	// relay
	To      string          `json:"to,omitempty"`
	From    string          `json:"from,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`

	// error replies, and the text of "shutdown"
	Code    Code   `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// DecodeFrame parses one message. It fails on anything that is not a JSON
// object with a string "type"; fields of the wrong JSON type are errors too.
// Unknown fields are ignored, so newer peers can add fields.
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("not a protocol message: %w", err)
	}
	if f.Type == "" {
		return f, fmt.Errorf("not a protocol message: \"type\" is missing")
	}
	return f, nil
}

// EncodeFrame renders f as one JSON object. Zero fields are left out,
// except the mediaType of "callBegan", which is always written so that
// clients see voice (0) spelled out, and the id of an error reply, which is
// 0 when the request's id could not be read.
func EncodeFrame(f *Frame) ([]byte, error) {
	type plain Frame
	switch f.Type {
	case TypeCallBegan:
		return json.Marshal(struct {
			*plain
			MediaType MediaType `json:"mediaType"`
		}{(*plain)(f), f.MediaType})
	case TypeError:
		return json.Marshal(struct {
			*plain
			ID uint64 `json:"id"`
		}{(*plain)(f), f.ID})
	}
	return json.Marshal(f)
}

func mediaPtr(m MediaType) *MediaType { return &m }
