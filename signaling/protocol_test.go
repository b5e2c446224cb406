package signaling

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeFrame: decoding never panics, and whatever decodes re-encodes to
// JSON that decodes to the same frame (and encodes to the same bytes).
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"login","id":1,"v":1,"userId":"alice","userSig":"eJyr","resume":"ab"}`,
		`{"type":"invite","id":2,"calleeIdList":["bob","carol"],"groupId":"g","mediaType":1,"userData":"hi","timeout":20,"roomId":{"intRoomId":5,"strRoomId":"5"}}`,
		`{"type":"relay","id":3,"callId":"c","to":"bob","payload":{"type":"offer","sdp":"v=0\r\n"}}`,
		`{"type":"relay","id":3,"callId":"c","payload": [1, 2 ,{"a" : null}] }`,
		`{"type":"ok","id":2,"call":{"callId":"c","roomId":{"intRoomId":1,"strRoomId":"1"},"callerId":"a","calleeIdList":["b"],"groupId":"","mediaType":0,"userData":"","timeout":30,"active":false,"participants":[{"userId":"a","state":"joined"},{"userId":"b","state":"ringing","away":true}]}}`,
		`{"type":"mediaChanged","callId":"c","oldMediaType":0,"newMediaType":1,"by":"b"}`,
		`{"type":"error","id":9,"code":3002,"message":"no"}`,
		`{"type":"callCancelled","callId":"c","callerId":"a","reason":"canceled"}`,
		`{"type":"x","payload":null}`,
		`{"type":"\u00e9\ud800","userId":"\xff"}`,
		`[]`, `null`, `{"type":1}`, `{"id":-1,"type":"a"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		enc, err := EncodeFrame(&fr)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", fr, err)
		}
		back, err := DecodeFrame(enc)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		enc2, err := EncodeFrame(&back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		// The payload is compacted on encoding; compare it as JSON.
		fr.Payload, back.Payload = compact(t, fr.Payload), compact(t, back.Payload)
		if !reflect.DeepEqual(fr, back) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, back)
		}
		if ev, ok := PushEvent(&back); ok && ev.EventType() == "" {
			t.Fatal("push without a type")
		}
	})
}

func compact(t *testing.T, raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("payload %q is not JSON: %v", raw, err)
	}
	return buf.Bytes()
}

func TestTransitionTable(t *testing.T) {
	states := []ParticipantState{stateNew, StateRinging, StateJoined, StateLeft, StateRejected, StateNoResponse, StateLineBusy}
	events := []callEvent{evInvite, evBusy, evOffline, evAccept, evJoin, evReject, evHangup, evTimeout, evGone}
	want := map[ParticipantState]map[callEvent]ParticipantState{
		stateNew:     {evInvite: StateRinging, evBusy: StateLineBusy, evOffline: StateNoResponse},
		StateRinging: {evAccept: StateJoined, evJoin: StateJoined, evReject: StateRejected, evHangup: StateRejected, evTimeout: StateNoResponse, evGone: StateNoResponse},
		StateJoined:  {evHangup: StateLeft, evGone: StateLeft},
	}
	for _, st := range []ParticipantState{StateLeft, StateRejected, StateNoResponse, StateLineBusy} {
		want[st] = map[callEvent]ParticipantState{evInvite: StateRinging, evBusy: StateLineBusy, evOffline: StateNoResponse, evJoin: StateJoined}
	}
	for _, st := range states {
		for _, ev := range events {
			next, err := transition(st, ev)
			w, allowed := want[st][ev]
			switch {
			case allowed && (err != nil || next != w):
				t.Errorf("(%q, %s) = %q, %v; want %q", st, ev, next, err, w)
			case !allowed && err == nil:
				t.Errorf("(%q, %s) allowed (→ %q); want an error", st, ev, next)
			case !allowed && err.Code == CodeInternal && ev != evTimeout && ev != evGone:
				t.Errorf("(%q, %s): internal error %v; want a client error", st, ev, err)
			}
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, s := range []string{callRinging.String(), callActive.String(), callEnded.String(), evGone.String(),
		MediaVideo.String(), RoleCalled.String(), ConnReconnecting.String(), CodeBusy.String()} {
		if s == "" || s[0] == '(' {
			t.Errorf("bad String() %q", s)
		}
	}
	if MediaType(9).String() != "MediaType(9)" || Code(7).String() != "Code(7)" {
		t.Error("unknown values must print their number")
	}
}

func TestCallBeganSpellsOutVoice(t *testing.T) {
	b, err := EncodeFrame(&Frame{Type: TypeCallBegan, CallID: "c", RoomID: &RoomID{1, "1"}, CallRole: RoleCaller})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"callBegan","callId":"c","roomId":{"intRoomId":1,"strRoomId":"1"},"callRole":1,"mediaType":0}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
