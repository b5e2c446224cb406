package engine

import (
	"bytes"
	"encoding/json"
	"fmt"

	"softphone/signaling"
)

// This file is the engine's event contract. Every event of the reference call
// event interface (shared/reference/TUICallEvent.md) is a plain struct here, so
// a Bubble Tea program can take it as a tea.Msg as is, and it marshals to JSON
// as {"event":"onXxx", ...fields} with the reference's field names. A few
// engine-specific events (connection state, audio device) follow the same
// shape; their names are not in the reference and say so in their comments.

// Event is one item of the engine's ordered event stream.
type Event interface {
	// EventName is the reference event name, such as "onCallBegin".
	EventName() string
}

// MediaType is the media type of a call (reference: callMediaType): the
// same type the wire protocol uses.
type MediaType = signaling.MediaType

const (
	// MediaVoice is a voice call (callMediaType 0).
	MediaVoice = signaling.MediaVoice
	// MediaVideo is a video call (callMediaType 1).
	MediaVideo = signaling.MediaVideo
)

// ParseMediaType reads "voice"/"audio"/"0" or "video"/"1".
func ParseMediaType(s string) (MediaType, error) {
	switch s {
	case "voice", "audio", "0":
		return MediaVoice, nil
	case "video", "1":
		return MediaVideo, nil
	}
	return 0, fmt.Errorf("unknown media type %q: want voice or video", s)
}

// CallRole is this user's role in a call (reference: callRole).
type CallRole = signaling.CallRole

const (
	// RoleUnknown is callRole 0.
	RoleUnknown = signaling.RoleUnknown
	// RoleCaller is the inviter (callRole 1).
	RoleCaller = signaling.RoleCaller
	// RoleCalled is an invitee (callRole 2).
	RoleCalled = signaling.RoleCalled
)

// NetworkQuality is the reference's 0–6 network quality scale.
type NetworkQuality int

// The reference's quality levels.
const (
	QualityUnknown   NetworkQuality = 0
	QualityExcellent NetworkQuality = 1
	QualityGood      NetworkQuality = 2
	QualityPoor      NetworkQuality = 3
	QualityBad       NetworkQuality = 4
	QualityVbad      NetworkQuality = 5
	QualityDown      NetworkQuality = 6
)

func (q NetworkQuality) String() string {
	switch q {
	case QualityUnknown:
		return "Unknown"
	case QualityExcellent:
		return "Excellent"
	case QualityGood:
		return "Good"
	case QualityPoor:
		return "Poor"
	case QualityBad:
		return "Bad"
	case QualityVbad:
		return "Vbad"
	case QualityDown:
		return "Down"
	}
	return fmt.Sprintf("NetworkQuality(%d)", int(q))
}

// RoomID is the audio/video room of a call, in the reference's two forms
// ({"intRoomId":N,"strRoomId":"..."}).
type RoomID = signaling.RoomID

// ErrorEvent is onError: something failed during a call.
type ErrorEvent struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// CallReceived is onCallReceived: a new incoming call. CallID is an engine
// extension (not in the reference) that `join CALLID` takes.
type CallReceived struct {
	CallerID      string    `json:"callerId"`
	CalleeIDList  []string  `json:"calleeIdList"`
	GroupID       string    `json:"groupId"`
	CallMediaType MediaType `json:"callMediaType"`
	UserData      string    `json:"userData"`
	CallID        string    `json:"callId"`
}

// CallCancelled is onCallCancelled. Per the reference, CallerID is the caller
// when the callee hears the caller cancel, and the receiving user's own ID in
// every other scenario (caller cancelled, timeout, reject, busy, interruption).
type CallCancelled struct {
	CallerID string `json:"callerId"`
}

// CallBegin is onCallBegin: the call connected for this user. CallID is an
// engine extension.
type CallBegin struct {
	RoomID        RoomID    `json:"roomId"`
	CallMediaType MediaType `json:"callMediaType"`
	CallRole      CallRole  `json:"callRole"`
	CallID        string    `json:"callId"`
}

// CallEnd is onCallEnd: a connected call ended. TotalTime is in seconds.
type CallEnd struct {
	RoomID        RoomID    `json:"roomId"`
	CallMediaType MediaType `json:"callMediaType"`
	CallRole      CallRole  `json:"callRole"`
	TotalTime     float64   `json:"totalTime"`
	CallID        string    `json:"callId"`
}

// UserReject is onUserReject: UserID declined the call.
type UserReject struct {
	UserID string `json:"userId"`
}

// UserNoResponse is onUserNoResponse: UserID did not answer. Reason is an
// engine extension: "timeout" (rang out) or "offline" (not logged in, told at
// once).
type UserNoResponse struct {
	UserID string `json:"userId"`
	Reason string `json:"reason,omitempty"`
}

// UserLineBusy is onUserLineBusy: UserID is in or ringing in another call.
type UserLineBusy struct {
	UserID string `json:"userId"`
}

// UserJoin is onUserJoin: UserID joined the current call.
type UserJoin struct {
	UserID string `json:"userId"`
}

// UserLeave is onUserLeave: UserID left the current call. Reason is an engine
// extension: "hangup", "disconnected" (connection lost past the grace period)
// or "kicked" (logged in elsewhere).
type UserLeave struct {
	UserID string `json:"userId"`
	Reason string `json:"reason,omitempty"`
}

// CallMediaTypeChanged is onCallMediaTypeChanged.
type CallMediaTypeChanged struct {
	OldCallMediaType MediaType `json:"oldCallMediaType"`
	NewCallMediaType MediaType `json:"newCallMediaType"`
}

// KickedOffline is onKickedOffline: the same user logged in elsewhere; this
// session lost its call and must log in again.
type KickedOffline struct{}

// UserSigExpired is onUserSigExpired: the ticket expired while online; a new
// userSig is needed.
type UserSigExpired struct{}

// UserVideoAvailable is onUserVideoAvailable.
type UserVideoAvailable struct {
	UserID           string `json:"userId"`
	IsVideoAvailable bool   `json:"isVideoAvailable"`
}

// UserAudioAvailable is onUserAudioAvailable: false when UserID muted.
type UserAudioAvailable struct {
	UserID           string `json:"userId"`
	IsAudioAvailable bool   `json:"isAudioAvailable"`
}

// UserVoiceVolumeChanged is onUserVoiceVolumeChanged: volume 0–100 per user,
// this user included. Periodic (300 ms) while in a call; may be coalesced.
type UserVoiceVolumeChanged struct {
	VolumeMap map[string]int `json:"volumeMap"`
}

// UserNetworkQualityChanged is onUserNetworkQualityChanged: quality 0–6 per
// user, this user included. Periodic (2 s) while in a call; may be coalesced.
// Connection is an engine extension: how the media reaches each other
// participant (direct, through NAT with STUN, or relayed; UDP or TCP), for
// those whose path ICE has chosen.
type UserNetworkQualityChanged struct {
	NetworkQuality map[string]NetworkQuality `json:"networkQuality"`
	Connection     map[string]ConnectionPath `json:"connection,omitempty"`
}

// ConnState is the signaling connection state shown by clients; it
// marshals as "offline", "connecting", "connected" or "reconnecting".
type ConnState = signaling.ConnState

// Connection states.
const (
	ConnOffline      = signaling.ConnOffline
	ConnConnecting   = signaling.ConnConnecting
	ConnConnected    = signaling.ConnConnected
	ConnReconnecting = signaling.ConnReconnecting
)

// ConnectionChanged is an engine extension ("onConnectionChanged", not in the
// reference): the signaling connection went up, down or is reconnecting.
type ConnectionChanged struct {
	State ConnState `json:"state"`
}

// AudioDeviceChanged is an engine extension ("onAudioDeviceChanged", not in
// the reference): which mic and speaker are in use, and a warning when no
// usable device was found and the null backend stands in.
type AudioDeviceChanged struct {
	Mic     string `json:"mic"`
	Speaker string `json:"speaker"`
	Warning string `json:"warning,omitempty"`
	// Voice is what cleans the microphone before it is sent.
	Voice VoiceProcessing `json:"voice"`
}

// VoiceProcessing says what runs of the microphone's voice processing
// (audio.VoiceStatus): AEC (acoustic echo cancellation), NS (noise
// suppression) and AGC (automatic gain control) are each "on" (NS: "low"
// or "high"), "off", "off (test source)" (a tone:, wav:, silence or echo
// microphone is sent as it is) or, for AEC, "off (no speaker)". The web
// phone reports its browser's own, each "on" or "off".
type VoiceProcessing struct {
	AEC string `json:"aec"`
	NS  string `json:"ns"`
	AGC string `json:"agc"`
}

func (ErrorEvent) EventName() string                { return "onError" }
func (CallReceived) EventName() string              { return "onCallReceived" }
func (CallCancelled) EventName() string             { return "onCallCancelled" }
func (CallBegin) EventName() string                 { return "onCallBegin" }
func (CallEnd) EventName() string                   { return "onCallEnd" }
func (UserReject) EventName() string                { return "onUserReject" }
func (UserNoResponse) EventName() string            { return "onUserNoResponse" }
func (UserLineBusy) EventName() string              { return "onUserLineBusy" }
func (UserJoin) EventName() string                  { return "onUserJoin" }
func (UserLeave) EventName() string                 { return "onUserLeave" }
func (CallMediaTypeChanged) EventName() string      { return "onCallMediaTypeChanged" }
func (KickedOffline) EventName() string             { return "onKickedOffline" }
func (UserSigExpired) EventName() string            { return "onUserSigExpired" }
func (UserVideoAvailable) EventName() string        { return "onUserVideoAvailable" }
func (UserAudioAvailable) EventName() string        { return "onUserAudioAvailable" }
func (UserVoiceVolumeChanged) EventName() string    { return "onUserVoiceVolumeChanged" }
func (UserNetworkQualityChanged) EventName() string { return "onUserNetworkQualityChanged" }
func (ConnectionChanged) EventName() string         { return "onConnectionChanged" }
func (AudioDeviceChanged) EventName() string        { return "onAudioDeviceChanged" }

// IsLossy reports whether an event is periodic and may be coalesced (latest
// wins) when a consumer is slow. Every other event is call state and is
// delivered in order without loss.
func IsLossy(e Event) bool {
	switch e.(type) {
	case UserVoiceVolumeChanged, UserNetworkQualityChanged:
		return true
	}
	return false
}

// MarshalEvent encodes e as one JSON object: {"event":"onXxx", ...fields}.
func MarshalEvent(e Event) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", e.EventName(), err)
	}
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("marshal %s: not a JSON object", e.EventName())
	}
	var out bytes.Buffer
	out.Grow(len(body) + 32)
	out.WriteString(`{"event":`)
	name, _ := json.Marshal(e.EventName())
	out.Write(name)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out.WriteByte(',')
	}
	out.Write(body[1:])
	return out.Bytes(), nil
}
