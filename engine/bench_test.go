package engine

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// Engine benchmarks (issue 4 targets), on loopback with a real server, real
// pion and real Opus:
//
//	go test -run '^$' -bench . -benchtime 50x ./engine
//
// BenchmarkCallSetup   invite sent → onCallBegin on both sides and audio
//                      arriving at both (onUserAudioAvailable), the callee
//                      auto-answering: p50 ≤ 50 ms, p95 ≤ 100 ms.
// BenchmarkMouthToEar  tone onset at alice's source → onset in bob's
//                      playout (before the speaker's device buffer): ≤ 60 ms.
// BenchmarkCallCPU     CPU of one endpoint in a 1:1 call: ≤ 2 % of a core.

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
	s := newTestServer(b, nil)
	alice := s.engine("alice", nil)
	bob := s.engine("bob", func(c *Config) { c.AutoAnswer = true })
	var setups []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := alice.Call(ctxT(b), []string{"bob"}, CallParams{}); err != nil {
			b.Fatal(err)
		}
		expect(alice, func(CallBegin) bool { return true })
		expect(bob, func(CallBegin) bool { return true })
		alice.expectEvent(UserAudioAvailable{UserID: "bob", IsAudioAvailable: true})
		bob.expectEvent(UserAudioAvailable{UserID: "alice", IsAudioAvailable: true})
		setups = append(setups, time.Since(start))
		b.StopTimer()
		if err := alice.Hangup(ctxT(b)); err != nil {
			b.Fatal(err)
		}
		expect(alice, func(CallEnd) bool { return true })
		expect(bob, func(CallEnd) bool { return true })
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(setups, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(setups, 95)), "p95-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkMouthToEar unmutes alice's tone and times until bob's playout
// level for alice rises: encode (after waiting for the 20 ms frame to
// fill), RTP over loopback, jitter buffer, decode. The speaker is "none", so
// device buffers are excluded.
func BenchmarkMouthToEar(b *testing.B) {
	s := newTestServer(b, nil)
	alice := s.engine("alice", func(c *Config) { c.Mic = "tone:1000" })
	bob := s.engine("bob", func(c *Config) { c.Mic = "silence" })
	connect(b, alice, bob)
	level := func() int {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		if bob.call == nil || bob.call.remotes["alice"] == nil {
			return -1
		}
		if rx := bob.call.remotes["alice"].rx.Load(); rx != nil {
			return rx.Level()
		}
		return -1
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := alice.SetMicMuted(true); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(wait)
		for quiet := time.Now(); time.Since(quiet) < 200*time.Millisecond; {
			if level() > 0 {
				quiet = time.Now()
			}
			if time.Now().After(deadline) {
				b.Fatal("bob never heard silence")
			}
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
		start := time.Now()
		if err := alice.SetMicMuted(false); err != nil {
			b.Fatal(err)
		}
		for level() <= 10 {
			if time.Now().After(deadline) {
				b.Fatal("bob never heard the tone")
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 95)), "p95-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCallCPU runs a 1:1 call between two engines in this process for
// 10 s per iteration and reports the process CPU per endpoint (the server's
// share is negligible during a call: it only relays a few messages).
func BenchmarkCallCPU(b *testing.B) {
	s := newTestServer(b, nil)
	alice := s.engine("alice", nil)
	bob := s.engine("bob", func(c *Config) { c.Mic = "tone:660" })
	connect(b, alice, bob)
	time.Sleep(2 * time.Second) // past set-up
	var total time.Duration
	var wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0, w0 := cpuTime(), time.Now()
		time.Sleep(10 * time.Second)
		total += cpuTime() - c0
		wall += time.Since(w0)
	}
	b.StopTimer()
	b.ReportMetric(100*float64(total)/float64(wall)/2, "%core/endpoint")
	b.ReportMetric(0, "ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
