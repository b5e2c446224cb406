package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"softphone/signaling"
)

func TestClassifyPath(t *testing.T) {
	c := func(typ webrtc.ICECandidateType, ip string, port int32, proto, relay string) webrtc.ICECandidateStats {
		return webrtc.ICECandidateStats{CandidateType: typ, IP: ip, Port: port, Protocol: proto, RelayProtocol: relay}
	}
	host := webrtc.ICECandidateTypeHost
	srflx := webrtc.ICECandidateTypeSrflx
	prflx := webrtc.ICECandidateTypePrflx
	relay := webrtc.ICECandidateTypeRelay
	remotes := []webrtc.ICECandidateStats{
		c(host, "192.168.1.5", 5000, "udp", ""),
		c(srflx, "198.51.100.7", 6000, "udp", ""),
	}
	for _, tc := range []struct {
		name          string
		local, remote webrtc.ICECandidateStats
		want          string
	}{
		{"LAN", c(host, "192.168.1.4", 4000, "udp", ""), c(host, "192.168.1.5", 5000, "udp", ""), "direct udp host host"},
		{"through NAT", c(host, "10.0.0.2", 4000, "udp", ""), c(srflx, "198.51.100.7", 6000, "udp", ""), "stun udp host srflx"},
		{"prflx that is an announced host", c(host, "192.168.1.4", 4000, "udp", ""), c(prflx, "192.168.1.5", 5000, "udp", ""), "direct udp host prflx"},
		{"prflx from a symmetric NAT", c(host, "192.168.1.4", 4000, "udp", ""), c(prflx, "198.51.100.7", 6001, "udp", ""), "stun udp host prflx"},
		{"prflx on our LAN (a browser's mDNS host)", c(host, "192.168.1.4", 4000, "udp", ""), c(prflx, "192.168.1.9", 6001, "udp", ""), "direct udp host prflx"},
		{"our relay over TCP", c(relay, "203.0.113.1", 49170, "udp", "tcp"), c(srflx, "198.51.100.7", 6000, "udp", ""), "relay tcp relay srflx"},
		{"their relay", c(srflx, "198.51.100.9", 4000, "udp", ""), c(relay, "203.0.113.1", 49171, "udp", ""), "relay udp srflx relay"},
		{"ICE-TCP", c(host, "192.168.1.4", 9, "tcp", ""), c(host, "192.168.1.5", 5000, "tcp", ""), "direct tcp host host"},
	} {
		lan := func(a, b string) bool {
			return strings.HasPrefix(a, "192.168.1.") && strings.HasPrefix(b, "192.168.1.")
		}
		p := classifyPath(tc.local, tc.remote, remotes, lan)
		if got := strings.Join([]string{p.Type, p.Protocol, p.Local, p.Remote}, " "); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if s := (ConnectionPath{Type: "stun", Protocol: "udp"}).String(); s != "STUN UDP" {
		t.Errorf("String %q", s)
	}
}

func TestServerICEConversion(t *testing.T) {
	got, exp := serverICE([]signaling.ICEServer{
		{URLs: []string{"stun:192.0.2.1:3478", "xmpp:nope"}},
		{URLs: []string{"turn:192.0.2.1:3478?transport=udp", "turn:192.0.2.1:3478?transport=tcp"}, Username: "1:u", Credential: "c", Expires: 2000},
		{URLs: []string{"turn:192.0.2.2:3478"}, Expires: 1000}, // no credentials: unusable
		{URLs: nil},
	})
	if len(got) != 2 || len(got[0].URLs) != 1 || len(got[1].URLs) != 2 || got[1].Username != "1:u" {
		t.Fatalf("%+v", got)
	}
	if exp.Unix() != 2000 {
		t.Fatalf("expiry %v", exp)
	}
	if _, err := ParseICETransportPolicy("relay"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseICETransportPolicy("direct"); err == nil {
		t.Fatal("bad policy accepted")
	}
}

// FuzzServerICE: whatever ICE servers a call server sends, the engine keeps
// only ones pion accepts, so a bad entry cannot stop every call.
func FuzzServerICE(f *testing.F) {
	for _, s := range []string{
		`[{"urls":["stun:192.0.2.1:3478"]},{"urls":["turn:192.0.2.1:3478?transport=udp"],"username":"1:u","credential":"c","expires":5}]`,
		`[{"urls":["turn:host"]}]`, `[{"urls":["stun:"]}]`, `[{"urls":["turns:[::1]:5349?transport=tcp"],"username":"a","credential":"b"}]`,
		`[{"urls":["turn:x:99999"],"username":"a","credential":"b"}]`, `[{}]`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var in []signaling.ICEServer
		if json.Unmarshal([]byte(js), &in) != nil {
			return
		}
		got, _ := serverICE(in)
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{ICEServers: got})
		if err != nil {
			t.Fatalf("pion refuses %+v (from %s): %v", got, js, err)
		}
		pc.Close()
	})
}
