package engine

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// TestControllingSideNominatesOnSuccess checks the one change softphone
// makes to pion/ice (third_party/pion-ice, SOFTPHONE.md): as the controlling
// agent (the side that offered), once a check of a host-to-host pair succeeds it
// nominates at once. The remote here is a bare STUN responder that answers
// checks and never sends one of its own (a browser's next check may come
// late), and the agent's check rounds are as far apart as upstream allows
// (2 s: its loop never waits longer than the keepalive default while
// connecting). Upstream sends USE-CANDIDATE at the next round, 2 s after
// the check; with the change it follows the answer at once. The test allows
// 1 s.
func TestControllingSideNominatesOnSuccess(t *testing.T) {
	const ufrag, pwd = "remoteufrag", "remotepasswordremotepassword"
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// The responder: a success response to every check, and what it saw.
	type check struct {
		use bool      // the check carried USE-CANDIDATE
		at  time.Time // when it arrived
	}
	checks := make(chan check, 64)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: from.IP, Port: from.Port},
				stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
			if err != nil {
				t.Error(err)
				return
			}
			// Recorded before it is answered: the answer to a nomination
			// connects the agent, and the test must find the nomination
			// by the time Dial returns.
			select {
			case checks <- check{req.Contains(stun.AttrUseCandidate), time.Now()}:
			default:
			}
			if _, err := conn.WriteToUDP(resp.Raw, from); err != nil {
				return
			}
		}
	}()

	hour := time.Hour
	agent, err := ice.NewAgentWithOptions(
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost}),
		ice.WithIncludeLoopback(),
		ice.WithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithCheckInterval(hour),
		ice.WithDisconnectedTimeout(hour),
		ice.WithFailedTimeout(hour),
		ice.WithKeepaliveInterval(hour),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	gathered := make(chan struct{})
	if err := agent.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			close(gathered)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := agent.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	<-gathered
	remote, err := ice.UnmarshalCandidate(fmt.Sprintf("candidate:1 1 udp 2130706431 127.0.0.1 %d typ host", conn.LocalAddr().(*net.UDPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.AddRemoteCandidate(remote); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dialed := make(chan error, 1)
	go func() {
		_, err := agent.Dial(ctx, ufrag, pwd) // controlling
		dialed <- err
	}()

	wait := time.After(10 * time.Second)
	var first time.Time // the first check answered
	// see takes one check and reports whether it was the nomination.
	see := func(c check) bool {
		if !c.use {
			if first.IsZero() {
				first = c.at
			}
			return false
		}
		if first.IsZero() {
			t.Fatal("USE-CANDIDATE before any check succeeded")
		}
		if d := c.at.Sub(first); d > time.Second {
			t.Fatalf("USE-CANDIDATE %v after the first check was answered: the agent waited for its next check round", d)
		}
		return true
	}
	for {
		select {
		case c := <-checks:
			if !see(c) {
				continue
			}
			// Nominated; the agent connects on the success response.
			select {
			case err := <-dialed:
				if err != nil {
					t.Fatalf("dial after the nomination: %v", err)
				}
			case <-wait:
				t.Fatal("nominated, but the agent did not connect")
			}
			return
		case err := <-dialed:
			if err != nil {
				t.Fatalf("dial ended before any nomination: %v", err)
			}
			// Connected: the nomination's check is already recorded (the
			// responder records before it answers), maybe not yet read.
			for {
				select {
				case c := <-checks:
					if see(c) {
						return
					}
				default:
					t.Fatal("the agent connected without a nomination the responder saw")
				}
			}
		case <-wait:
			t.Fatal("no USE-CANDIDATE within 10 s")
		}
	}
}
