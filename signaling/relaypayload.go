package signaling

import (
	"encoding/json"
	"fmt"
)

// Relay payloads (PROTOCOL.md, "Media between clients"): the server passes
// them on verbatim, but first checks their envelope, so a client that
// names the kind wrongly (an RTCSessionDescription's "type" instead of
// "kind") or leaves out the SDP gets an error reply to its relay instead of
// a call without media and a log line on the other side.

// Relay payload kinds the softphone clients exchange.
const (
	RelayOffer       = "offer"
	RelayAnswer      = "answer"
	RelayCandidate   = "candidate"
	RelayRenegotiate = "renegotiate"
	RelayMedia       = "media"
)

// checkRelayPayload returns an invalidArgument error that says what is
// wrong with a relay payload, or nil. A payload must be a JSON object with
// a string "kind"; offers and answers carry a non-empty "sdp", candidates a
// "candidate" object with a string "candidate" ("" marks the end of
// candidates). Kinds this server does not know pass unchecked, for clients
// that exchange messages of their own.
func checkRelayPayload(p json.RawMessage) *Error {
	if len(p) == 0 {
		return nil // "payload is missing" is the relay handler's to say
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(p, &env); err != nil || env == nil {
		return relayPayloadError("payload must be a JSON object with a \"kind\"")
	}
	raw, ok := env["kind"]
	if !ok {
		if _, typed := env["type"]; typed {
			return relayPayloadError("payload has \"type\" but no \"kind\": name the payload's kind in \"kind\" (offer, answer, candidate, renegotiate, media)")
		}
		return relayPayloadError("payload.kind is missing")
	}
	var kind string
	if err := json.Unmarshal(raw, &kind); err != nil || kind == "" {
		return relayPayloadError("payload.kind must be a non-empty string")
	}
	switch kind {
	case RelayOffer, RelayAnswer:
		var sdp string
		if err := json.Unmarshal(env["sdp"], &sdp); err != nil || sdp == "" {
			return relayPayloadError(fmt.Sprintf("payload.sdp must be the %s's SDP (a non-empty string)", kind))
		}
	case RelayCandidate:
		var c struct {
			Candidate *string `json:"candidate"`
		}
		if err := json.Unmarshal(env["candidate"], &c); err != nil || c.Candidate == nil {
			return relayPayloadError("payload.candidate must be an object like RTCIceCandidate.toJSON(): {\"candidate\":\"candidate:...\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}")
		}
	}
	return nil
}

func relayPayloadError(msg string) *Error {
	return &Error{CodeInvalidArgument, msg + " (see PROTOCOL.md, relay payloads)"}
}
