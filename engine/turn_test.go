package engine_test

import (
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
	"softphone/signaling"
)

// The relay on loopback: the call server's own TURN service, real pion
// TURN allocations and real engines that may use only relayed paths.

// startTURN runs the call server's TURN service on 127.0.0.1 (random port)
// with relays in a random 500-port block, so runs at the same time on
// this machine seldom meet (a taken port is simply skipped).
func startTURN(t testing.TB) *signaling.TURNServer {
	t.Helper()
	lo := 40000 + 500*rand.IntN(40)
	srv, err := signaling.StartTURN(signaling.TURNConfig{
		Listen: "127.0.0.1:0", MinPort: lo, MaxPort: lo + 499,
		Secret: signaling.TURNSecret(calltest.Key), Logger: calltest.DebugLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// connectedPath waits for the quality report's path to other at te.
func connectedPath(te *calltest.Engine, other string) ConnectionPath {
	te.T.Helper()
	q := calltest.Expect(te, func(v UserNetworkQualityChanged) bool { _, ok := v.Connection[other]; return ok })
	return q.Connection[other]
}

// TestRelayPolicyCallOnLoopback: two phones that allow only relayed paths
// talk through the call server's own TURN service, with the credentials
// from their login replies, and say so in the quality report.
func TestRelayPolicyCallOnLoopback(t *testing.T) {
	testenv.NoLeaks(t)
	turn := startTURN(t)
	s := calltest.NewServer(t, func(c *signaling.Config) { c.ICE = turn.Service() })
	relayOnly := func(c *Config) { c.ICETransportPolicy = webrtc.ICETransportPolicyRelay }
	alice := s.Engine("alice", relayOnly)
	bob := s.Engine("bob", relayOnly)

	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	calltest.Must(t, "accept", bob.Accept(calltest.Ctx(t)))
	alice.VolumeOf("bob", 5)
	bob.VolumeOf("alice", 5)
	for _, pair := range [][2]*calltest.Engine{{alice, bob}, {bob, alice}} {
		p := connectedPath(pair[0], pair[1].UserID())
		// The login reply offers the relay over UDP and TCP; UDP's pair has
		// the higher priority, but pion nominates the best pair that has
		// succeeded 2 s in, and on a loaded machine that was once TCP's.
		if p.Type != "relay" || p.Local != "relay" || (p.Protocol != "udp" && p.Protocol != "tcp") {
			t.Errorf("%s's path to %s: %+v, want a relay over UDP or TCP", pair[0].UserID(), pair[1].UserID(), p)
		}
		t.Logf("%s's path to %s: %+v", pair[0].UserID(), pair[1].UserID(), p)
	}
	if st := turn.Stats(); st.Allocations < 2 || st.RelayedBytes == 0 {
		t.Fatalf("TURN server stats %+v: the call did not go through it", st)
	}
	calltest.Must(t, "hangup", alice.Hangup(calltest.Ctx(t)))
	calltest.Expect(bob, func(CallEnd) bool { return true })
}

// TestTURNCredentialsRenewedInALongCall: credentials that last 8 s are
// pushed anew before they expire, and a relayed call restarts ICE with
// the fresh ones in time, keeping its audio.
func TestTURNCredentialsRenewedInALongCall(t *testing.T) {
	turn := startTURN(t)
	ice := turn.Service()
	ice.MaxLifetime = 8 * time.Second
	s := calltest.NewServer(t, func(c *signaling.Config) { c.ICE = ice })
	logs := &testenv.Buffer{}
	alice := s.Engine("alice", func(c *Config) {
		c.ICETransportPolicy = webrtc.ICETransportPolicyRelay
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	bob := s.Engine("bob", func(c *Config) { c.ICETransportPolicy = webrtc.ICETransportPolicyRelay })
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{}))
	calltest.Expect(bob, func(CallReceived) bool { return true })
	calltest.Must(t, "accept", bob.Accept(calltest.Ctx(t)))
	alice.VolumeOf("bob", 5)
	start := time.Now()

	deadline := start.Add(calltest.Wait)
	for strings.Count(logs.String(), "ice restart: fresh TURN credentials") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no ICE restart with fresh credentials within %v", calltest.Wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The credentials of the first gathering have expired now; audio
	// flows over the new relay.
	time.Sleep(time.Until(start.Add(9 * time.Second)))
	alice.VolumeOf("bob", 5)
	bob.VolumeOf("alice", 5)
	if p := connectedPath(alice, "bob"); p.Type != "relay" {
		t.Fatalf("path after the restart: %+v", p)
	}
	if strings.Count(logs.String(), "no fresh ones arrived") > 0 {
		t.Fatal("a renewal found no fresh credentials")
	}
}
