package engine

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"softphone/internal/testenv"
	"softphone/signaling"
)

// startTURN runs the call server's TURN service on 127.0.0.1 (random port)
// with relays in a random 500-port block, so runs at the same time on
// this machine seldom meet (a taken port is simply skipped).
func startTURN(t testing.TB) *signaling.TURNServer {
	t.Helper()
	lo := 40000 + 500*rand.IntN(40)
	srv, err := signaling.StartTURN(signaling.TURNConfig{
		Listen: "127.0.0.1:0", MinPort: lo, MaxPort: lo + 499,
		Secret: signaling.TURNSecret(testKey), Logger: debugLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// connectedPath waits for the quality report's path to other at te.
func connectedPath(te *testEngine, other string) ConnectionPath {
	te.t.Helper()
	q := expect(te, func(v UserNetworkQualityChanged) bool { _, ok := v.Connection[other]; return ok })
	return q.Connection[other]
}

// TestRelayPolicyCallOnLoopback: two phones that allow only relayed paths
// talk through the call server's own TURN service, with the credentials
// from their login replies, and say so in the quality report.
func TestRelayPolicyCallOnLoopback(t *testing.T) {
	leakCheck(t)
	turn := startTURN(t)
	s := newTestServer(t, func(c *signaling.Config) { c.ICE = turn.Service() })
	relayOnly := func(c *Config) { c.ICETransportPolicy = webrtc.ICETransportPolicyRelay }
	alice := s.engine("alice", relayOnly)
	bob := s.engine("bob", relayOnly)

	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	must(t, "accept", bob.Accept(ctxT(t)))
	volumeOf(alice, "bob", 5)
	volumeOf(bob, "alice", 5)
	for _, pair := range [][2]*testEngine{{alice, bob}, {bob, alice}} {
		p := connectedPath(pair[0], pair[1].UserID())
		if p.Type != "relay" || p.Local != "relay" || p.Protocol != "udp" {
			t.Errorf("%s's path to %s: %+v, want a relay over UDP", pair[0].UserID(), pair[1].UserID(), p)
		}
	}
	if st := turn.Stats(); st.Allocations < 2 || st.RelayedBytes == 0 {
		t.Fatalf("TURN server stats %+v: the call did not go through it", st)
	}
	must(t, "hangup", alice.Hangup(ctxT(t)))
	expect(bob, func(CallEnd) bool { return true })
}

// TestTURNCredentialsRenewedInALongCall: credentials that last 8 s are
// pushed anew before they expire, and a relayed call restarts ICE with
// the fresh ones in time, keeping its audio.
func TestTURNCredentialsRenewedInALongCall(t *testing.T) {
	turn := startTURN(t)
	ice := turn.Service()
	ice.MaxLifetime = 8 * time.Second
	s := newTestServer(t, func(c *signaling.Config) { c.ICE = ice })
	logs := &testenv.Buffer{}
	alice := s.engine("alice", func(c *Config) {
		c.ICETransportPolicy = webrtc.ICETransportPolicyRelay
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	bob := s.engine("bob", func(c *Config) { c.ICETransportPolicy = webrtc.ICETransportPolicyRelay })
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(bob, func(CallReceived) bool { return true })
	must(t, "accept", bob.Accept(ctxT(t)))
	volumeOf(alice, "bob", 5)
	start := time.Now()

	deadline := start.Add(wait)
	for strings.Count(logs.String(), "ice restart: fresh TURN credentials") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no ICE restart with fresh credentials within %v", wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The credentials of the first gathering have expired now; audio
	// flows over the new relay.
	time.Sleep(time.Until(start.Add(9 * time.Second)))
	volumeOf(alice, "bob", 5)
	volumeOf(bob, "alice", 5)
	if p := connectedPath(alice, "bob"); p.Type != "relay" {
		t.Fatalf("path after the restart: %+v", p)
	}
	if strings.Count(logs.String(), "no fresh ones arrived") > 0 {
		t.Fatal("a renewal found no fresh credentials")
	}
}

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
