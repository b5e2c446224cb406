package main

import (
	"testing"
	"time"
)

// TestCallsBetweenHomesBehindNATs is issue 12's proof: two phones in two
// homes behind NAT routers, started with nothing but --server (and their
// login), talk through a server started with nothing but `softphone serve
// --listen :7880`, whose built-in STUN/TURN server they learn of at login.
// Each case checks the tones both ways by frequency and the path each
// phone reports.
func TestCallsBetweenHomesBehindNATs(t *testing.T) {
	needNATLab(t)
	bin := softphoneBinary(t)
	for _, tc := range []struct {
		name         string
		home1, home2 natKind
		// blockRelays closes the relay to both homes (blockRelays).
		blockRelays bool
		// want checks alice's (home1) and bob's (home2) reported paths.
		want func(alice, bob labPath) string
	}{{
		// A symmetric NAT meets a port-restricted one: no direct path
		// exists, only the relay gets through.
		name: "symmetric NAT needs the relay", home1: natSymmetric, home2: natPortRestricted,
		want: func(a, b labPath) string {
			if a.Type != "relay" || b.Type != "relay" {
				return "want relayed paths"
			}
			return ""
		},
	}, {
		// Endpoint-independent NATs on both sides: the addresses their
		// STUN server saw work, so the phones talk directly through
		// both NATs. The routers drop the relay's traffic, so this
		// shows the call needs no relay: with it open, ICE takes the
		// relay instead in a few calls in a hundred, when the relay's
		// pair happens to work first (pion nominates the first pair
		// that works; BenchmarkNATCallSetup counts how often).
		name: "endpoint-independent NATs connect without the relay", home1: natEndpointIndependent, home2: natEndpointIndependent, blockRelays: true,
		want: func(a, b labPath) string {
			if a.Type != "stun" || b.Type != "stun" || a.Protocol != "udp" || a.Local == "relay" || a.Remote == "relay" || b.Local == "relay" || b.Remote == "relay" {
				return "want server-reflexive paths over UDP, no relay"
			}
			return ""
		},
	}, {
		// Home1 lets no UDP out: its phone reaches the TURN server over
		// TCP and relays from there.
		name: "UDP blocked goes through TURN over TCP", home1: natNoUDP, home2: natPortRestricted,
		want: func(a, b labPath) string {
			if a.Type != "relay" || a.Local != "relay" || a.Protocol != "tcp" || b.Type != "relay" {
				return "want alice relayed over TCP"
			}
			return ""
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			lab := newNATLab(t, tc.home1, tc.home2)
			if tc.blockRelays {
				lab.blockRelays()
			}
			srv := lab.serve(bin)
			srv.waitOutput(t, "STUN/TURN on UDP and TCP port 3478, told to phones as "+labServerIP)
			alice := lab.phone(bin, 1, "alice", 440)
			bob := lab.phone(bin, 2, "bob", 1000, "--auto-answer")

			setup := labCall(t, alice, bob)
			pa, pb := alice.pathTo(t, "bob"), bob.pathTo(t, "alice")
			t.Logf("connected in %v; alice's path: %v; bob's path: %v", setup.Round(100_000), pa, pb)
			if why := tc.want(pa, pb); why != "" {
				t.Errorf("%s; alice's path: %v; bob's path: %v", why, pa, pb)
			}
			waitAudio(t)
			labHangup(t, alice, bob)
			alice.heard(t, 1000, "bob")
			bob.heard(t, 440, "alice")
		})
	}
}

// waitAudio lets a call carry two seconds of tone.
func waitAudio(*testing.T) { time.Sleep(2 * time.Second) }

// TestServeWithOnlyLoopback: `softphone serve` with its defaults on a
// machine without a network (a namespace with only its loopback) still
// starts, serving STUN/TURN on 127.0.0.1, and says why phones elsewhere
// cannot use it.
func TestServeWithOnlyLoopback(t *testing.T) {
	needNATLab(t)
	bin := softphoneBinary(t)
	lab := newLab(t, "lone")
	srv := lab.serveIn("lone", bin)
	srv.waitOutput(t, "STUN/TURN on UDP and TCP port 3478, told to phones as 127.0.0.1")
	srv.waitOutput(t, "no IPv4 address but loopback")
}
