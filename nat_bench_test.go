package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
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
	const calls = 30
	b.ResetTimer()
	for range b.N {
		for i := 0; i < calls; i++ {
			for _, k := range kinds {
				k.times = append(k.times, labCall(b, k.a, k.b))
				labHangup(b, k.a, k.b)
				// Calls placed right after the last one between the same
				// phones sometimes find stale NAT state and take the relay
				// where a direct path exists; people do not call that fast.
				time.Sleep(1500 * time.Millisecond)
			}
		}
	}
	b.StopTimer()
	// Every call took the path its kind is about: each phone logs the
	// path ICE chose ("media path type=…"), once per call or more.
	for _, k := range kinds {
		log, err := os.ReadFile(k.a.log)
		if err != nil {
			b.Fatal(err)
		}
		paths := regexp.MustCompile(`msg="media path".* type=(\w+)`).FindAllStringSubmatch(string(log), -1)
		if len(paths) < len(k.times) {
			b.Fatalf("%s logged %d paths for %d calls", k.a.user, len(paths), len(k.times))
		}
		for _, m := range paths {
			if m[1] != k.want {
				b.Fatalf("a call of %s → %s went %s, want %s:\n%s", k.a.user, k.b.user, m[1], k.want, strings.Join(regexp.MustCompile(`.*msg="media path".*`).FindAllString(string(log), -1), "\n"))
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
