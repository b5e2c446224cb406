package engine

import (
	"reflect"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestParseICEServer(t *testing.T) {
	good := map[string]webrtc.ICEServer{
		"stun:stun.example.org:3478":                     {URLs: []string{"stun:stun.example.org:3478"}},
		"turn:al:pw@turn.example.org:3478?transport=udp": {URLs: []string{"turn:turn.example.org:3478?transport=udp"}, Username: "al", Credential: "pw"},
		"turns:al:p@ss@turn.example.org:5349":            {URLs: []string{"turns:turn.example.org:5349"}, Username: "al", Credential: "p@ss"},
	}
	for in, want := range good {
		got, err := ParseICEServer(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "stun", "http://x", "stun:", "turn:host:3478", "stun:u:p@host", "turn::p@host", "turn:u:p@",
		"turns:u:p@[::1]5349", "stun:[::1]x"} { // the last two sent pion/stun into endless recursion
		if _, err := ParseICEServer(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
