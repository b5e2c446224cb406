package signaling

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRelayPayloadChecked: a relay whose payload does not follow
// PROTOCOL.md's relay payloads gets an invalidArgument reply that says
// what is wrong, and reaches nobody; a good one arrives verbatim.
func TestRelayPayloadChecked(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.login("alice"), h.login("bob")
	id := h.call(a, b)
	b.ok(Frame{Type: TypeAccept, CallID: id})
	b.expect(TypeCallBegan)
	a.expect(TypeUserJoined)
	a.expect(TypeCallBegan)

	bad := []struct{ payload, says string }{
		// What a client that followed the old document sent.
		{`{"type":"offer","sdp":"v=0\r\n"}`, `"type" but no "kind"`},
		{`{"sdp":"v=0\r\n"}`, "payload.kind is missing"},
		{`{"kind":7}`, "payload.kind must be"},
		{`{"kind":""}`, "payload.kind must be"},
		{`{"kind":"offer"}`, "payload.sdp"},
		{`{"kind":"answer","sdp":""}`, "payload.sdp"},
		{`{"kind":"answer","sdp":{"a":1}}`, "payload.sdp"},
		{`{"kind":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`, "payload.candidate"},
		{`{"kind":"candidate"}`, "payload.candidate"},
		{`{"kind":"candidate","candidate":{"sdpMid":"0"}}`, "payload.candidate"},
		{`"offer"`, "JSON object"},
		{`[1,2]`, "JSON object"},
		{`null`, "JSON object"},
		{`1`, "JSON object"},
	}
	for _, c := range bad {
		for _, to := range []string{"bob", ""} {
			r := a.fail(Frame{Type: TypeRelay, CallID: id, To: to, Payload: json.RawMessage(c.payload)}, CodeInvalidArgument)
			if !strings.Contains(r.Message, c.says) || !strings.Contains(r.Message, "PROTOCOL.md") {
				t.Errorf("payload %s: message %q, want it to say %q and point to PROTOCOL.md", c.payload, r.Message, c.says)
			}
		}
	}
	b.quiet() // none of them reached bob

	good := []string{
		`{"kind":"offer","sdp":"v=0\r\n","seq":1}`,
		`{"kind":"answer","sdp":"v=0\r\n"}`,
		`{"kind":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"kind":"candidate","candidate":{"candidate":""}}`, // end of candidates
		`{"kind":"renegotiate","iceRestart":true}`,
		`{"kind":"media","muted":true}`,
		`{"kind":"x-chat","text":"hi"}`, // a kind of the clients' own
	}
	for _, p := range good {
		a.ok(Frame{Type: TypeRelay, CallID: id, To: "bob", Payload: json.RawMessage(p)})
		if rl := b.expect(TypeRelayed); string(rl.Payload) != p || rl.From != "alice" {
			t.Errorf("bob got %+v, want payload %s from alice", rl, p)
		}
	}
	// The membership checks still come first: a stranger learns nothing
	// about the payload rules.
	m := h.login("mallory")
	m.fail(Frame{Type: TypeRelay, CallID: id, To: "bob", Payload: json.RawMessage(`{"type":"offer"}`)}, CodeNotInCall)
	a.fail(Frame{Type: TypeRelay, CallID: id, To: "mallory", Payload: json.RawMessage(`{"type":"offer"}`)}, CodeNotInCall)
	a.quiet()
	b.quiet()
}

// FuzzRelayPayload: any payload gets a verdict without panicking, and a
// payload the check passes is a JSON object with a string kind.
func FuzzRelayPayload(f *testing.F) {
	for _, s := range []string{
		`{"kind":"offer","sdp":"v=0"}`, `{"type":"offer"}`, `{"kind":"candidate","candidate":{"candidate":""}}`,
		`{"kind":"candidate","candidate":null}`, `null`, `[]`, `{"kind":{"a":1}}`, `{"kind":"media","muted":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkRelayPayload(b) != nil || len(b) == 0 {
			return
		}
		var env struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(b, &env); err != nil || env.Kind == "" {
			t.Fatalf("passed %q: %v", b, err)
		}
	})
}
