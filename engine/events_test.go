package engine

import (
	"encoding/json"
	"testing"
)

func TestMarshalEventNamesAndFields(t *testing.T) {
	cases := []struct {
		ev   Event
		want string
	}{
		{KickedOffline{}, `{"event":"onKickedOffline"}`},
		{UserSigExpired{}, `{"event":"onUserSigExpired"}`},
		{ErrorEvent{Code: 7, Message: "x"}, `{"event":"onError","code":7,"message":"x"}`},
		{CallCancelled{CallerID: "alice"}, `{"event":"onCallCancelled","callerId":"alice"}`},
		{UserReject{UserID: "bob"}, `{"event":"onUserReject","userId":"bob"}`},
		{UserNoResponse{UserID: "bob"}, `{"event":"onUserNoResponse","userId":"bob"}`},
		{UserLineBusy{UserID: "bob"}, `{"event":"onUserLineBusy","userId":"bob"}`},
		{UserJoin{UserID: "bob"}, `{"event":"onUserJoin","userId":"bob"}`},
		{UserLeave{UserID: "bob"}, `{"event":"onUserLeave","userId":"bob"}`},
		{CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo},
			`{"event":"onCallMediaTypeChanged","oldCallMediaType":0,"newCallMediaType":1}`},
		{CallBegin{RoomID: RoomID{IntRoomID: 42, StrRoomID: "42"}, CallMediaType: MediaVoice, CallRole: RoleCaller, CallID: "c1"},
			`{"event":"onCallBegin","roomId":{"intRoomId":42,"strRoomId":"42"},"callMediaType":0,"callRole":1,"callId":"c1"}`},
		{CallEnd{RoomID: RoomID{IntRoomID: 42, StrRoomID: "42"}, CallMediaType: MediaVideo, CallRole: RoleCalled, TotalTime: 12, CallID: "c1"},
			`{"event":"onCallEnd","roomId":{"intRoomId":42,"strRoomId":"42"},"callMediaType":1,"callRole":2,"totalTime":12,"callId":"c1"}`},
		{CallReceived{CallerID: "alice", CalleeIDList: []string{"bob", "carol"}, GroupID: "g", CallMediaType: MediaVoice, UserData: "hi", CallID: "c1"},
			`{"event":"onCallReceived","callerId":"alice","calleeIdList":["bob","carol"],"groupId":"g","callMediaType":0,"userData":"hi","callId":"c1"}`},
		{UserAudioAvailable{UserID: "alice", IsAudioAvailable: false}, `{"event":"onUserAudioAvailable","userId":"alice","isAudioAvailable":false}`},
		{UserVideoAvailable{UserID: "alice", IsVideoAvailable: true}, `{"event":"onUserVideoAvailable","userId":"alice","isVideoAvailable":true}`},
		{UserVoiceVolumeChanged{VolumeMap: map[string]int{"a": 3, "b": 60}}, `{"event":"onUserVoiceVolumeChanged","volumeMap":{"a":3,"b":60}}`},
		{UserNetworkQualityChanged{NetworkQuality: map[string]NetworkQuality{"a": QualityGood}}, `{"event":"onUserNetworkQualityChanged","networkQuality":{"a":2}}`},
		{ConnectionChanged{State: ConnReconnecting}, `{"event":"onConnectionChanged","state":"reconnecting"}`},
	}
	for _, c := range cases {
		got, err := MarshalEvent(c.ev)
		if err != nil {
			t.Fatalf("%s: %v", c.ev.EventName(), err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.ev.EventName(), got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", c.ev.EventName(), got)
		}
	}
}

func TestLossyClasses(t *testing.T) {
	if !IsLossy(UserVoiceVolumeChanged{}) || !IsLossy(UserNetworkQualityChanged{}) {
		t.Fatal("volume and quality must be lossy")
	}
	for _, e := range []Event{CallBegin{}, CallEnd{}, UserJoin{}, UserLeave{}, CallCancelled{}, ErrorEvent{}} {
		if IsLossy(e) {
			t.Fatalf("%s must not be lossy", e.EventName())
		}
	}
}
