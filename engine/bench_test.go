package engine_test

import (
	"slices"
	"testing"
	"time"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/signaling"
)

// BenchmarkCallSetup (issue 4 target), on loopback with a real server, real
// pion and real Opus: invite sent → onCallBegin on both sides and audio
// arriving at both (onUserAudioAvailable), the callee auto-answering:
// p50 ≤ 50 ms, p95 ≤ 100 ms.
//
//	go test -run '^$' -bench CallSetup -benchtime 50x ./engine
//
// Mouth-to-ear and CPU per endpoint are in mouthtoear_test.go.

// percentile returns the p-th percentile (0–100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func BenchmarkCallSetup(b *testing.B) {
	// Calls back to back send more than the server lets one connection
	// send by default (100 messages/s): the limit is not what this
	// measures.
	s := calltest.NewServer(b, func(c *signaling.Config) { c.RateLimit, c.RateBurst = 100000, 100000 })
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", func(c *Config) { c.AutoAnswer = true })
	var setups []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := alice.Call(calltest.Ctx(b), []string{"bob"}, CallParams{}); err != nil {
			b.Fatal(err)
		}
		calltest.Expect(alice, func(CallBegin) bool { return true })
		calltest.Expect(bob, func(CallBegin) bool { return true })
		alice.ExpectEvent(UserAudioAvailable{UserID: "bob", IsAudioAvailable: true})
		bob.ExpectEvent(UserAudioAvailable{UserID: "alice", IsAudioAvailable: true})
		setups = append(setups, time.Since(start))
		b.StopTimer()
		if err := alice.Hangup(calltest.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		calltest.Expect(alice, func(CallEnd) bool { return true })
		calltest.Expect(bob, func(CallEnd) bool { return true })
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(setups, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(setups, 95)), "p95-ms")
	b.ReportMetric(0, "ns/op")
}
