package main

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkNATCallSetup measures issue 12's setup target in the NAT lab:
// the time from the call command until both phones hear each other, for a
// call that must go through the relay (a symmetric NAT meets a
// port-restricted one) and for a direct one (endpoint-independent NATs on
// both sides, server-reflexive), side by side: the calls alternate between
// two labs that run at the same time. A third kind, phones forced to relay
// (--ice-transport-policy relay) in the direct lab, shows the relay's cost
// on the very same network. Target: the relay adds ≤ 30 ms to the p50.
//
//	go test -run '^$' -bench NATCallSetup -benchtime 1x .
func BenchmarkNATCallSetup(b *testing.B) {
	bin := softphoneBinary(b)
	direct := newNATLab(b, natEndpointIndependent, natEndpointIndependent)
	relayed := newNATLab(b, natSymmetric, natPortRestricted)
	direct.serve(bin)
	relayed.serve(bin)
	type pair struct {
		a, b  *labPhone
		want  string
		times []time.Duration
	}
	kinds := []*pair{
		{a: direct.phone(bin, 1, "alice", 440), b: direct.phone(bin, 2, "bob", 1000, "--auto-answer"), want: "stun"},
		{a: relayed.phone(bin, 1, "alice", 440), b: relayed.phone(bin, 2, "bob", 1000, "--auto-answer"), want: "relay"},
		{a: direct.phone(bin, 1, "carol", 440, "--ice-transport-policy", "relay"),
			b: direct.phone(bin, 2, "dave", 1000, "--auto-answer", "--ice-transport-policy", "relay"), want: "relay"},
	}
	const calls = 15
	b.ResetTimer()
	for range b.N {
		for i := 0; i < calls; i++ {
			for _, k := range kinds {
				d := labCall(b, k.a, k.b)
				if p := k.a.pathTo(b, k.b.user); p.Type != k.want {
					b.Fatalf("%s → %s went %v, want %s", k.a.user, k.b.user, p, k.want)
				}
				labHangup(b, k.a, k.b)
				k.times = append(k.times, d)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	b.StopTimer()
	p := func(ts []time.Duration, q float64) float64 {
		s := slices.Clone(ts)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1)+0.5)]) / 1e6
	}
	b.ReportMetric(p(kinds[0].times, 0.5), "direct-p50-ms")
	b.ReportMetric(p(kinds[1].times, 0.5), "relay-p50-ms")
	b.ReportMetric(p(kinds[2].times, 0.5), "forced-relay-p50-ms")
	b.ReportMetric(p(kinds[0].times, 0.95), "direct-p95-ms")
	b.ReportMetric(p(kinds[1].times, 0.95), "relay-p95-ms")
	b.ReportMetric(p(kinds[1].times, 0.5)-p(kinds[0].times, 0.5), "relay-added-p50-ms")
	b.ReportMetric(0, "ns/op")
}
