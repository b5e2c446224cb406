package engine_test

import (
	"testing"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// TestEngineQualityFollowsTheNetwork: the same through two engines, as
// onUserNetworkQualityChanged: media on a virtual network, signaling on
// loopback.
func TestEngineQualityFollowsTheNetwork(t *testing.T) {
	testenv.NoLeaks(t)
	lan := NewLossyLAN(t)
	s := calltest.NewServer(t, nil)
	alice := s.Engine("alice", func(c *Config) { c.Net = lan.NetA })
	bob := s.Engine("bob", func(c *Config) { c.Net = lan.NetB })
	calltest.Connect(t, alice, bob)

	// Each report covers the 2 s before it: skip one after each change.
	report := func() NetworkQuality {
		calltest.Expect(bob, func(v UserNetworkQualityChanged) bool { return true })
		return calltest.Expect(bob, func(v UserNetworkQualityChanged) bool { return true }).NetworkQuality["alice"]
	}
	if q := report(); q != QualityExcellent && q != QualityGood {
		t.Fatalf("0%% loss: alice reads %v at bob, want Excellent or Good", q)
	}
	lan.SetLoss(t, 10)
	if q := report(); q < QualityPoor {
		t.Fatalf("10%% loss: %v, want Poor or worse", q)
	}
	lan.SetLoss(t, 100)
	// How soon is TestDownWithinThreeSeconds's: here, that it comes.
	calltest.Expect(bob, func(v UserNetworkQualityChanged) bool { return v.NetworkQuality["alice"] == QualityDown })
	bob.WaitHas("onUserAudioAvailable(alice,false)")
	lan.SetLoss(t, 0)
	calltest.Expect(bob, func(v UserNetworkQualityChanged) bool {
		q := v.NetworkQuality["alice"]
		return q == QualityExcellent || q == QualityGood
	})
	bob.WaitHas("onUserAudioAvailable(alice,true)")
	if alice.Has("onCallEnd(caller)") {
		t.Fatal("a 3 s cut must not end the call")
	}
}
