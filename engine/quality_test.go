package engine

import (
	"testing"
	"time"
)

func TestQualityMapping(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name string
		in   linkStats
		want NetworkQuality
	}{
		{"nothing yet", linkStats{}, QualityUnknown},
		{"failed before data", linkStats{Failed: true}, QualityDown},
		{"clean loopback", linkStats{HaveData: true, RTT: 1 * ms, Jitter: 2 * ms}, QualityExcellent},
		{"2% loss", linkStats{HaveData: true, LossPct: 2}, QualityGood},
		{"5% loss", linkStats{HaveData: true, LossPct: 5}, QualityPoor},
		{"10% loss", linkStats{HaveData: true, LossPct: 10}, QualityBad},
		{"40% loss", linkStats{HaveData: true, LossPct: 40}, QualityVbad},
		{"slow rtt", linkStats{HaveData: true, RTT: 250 * ms}, QualityPoor},
		{"jittery", linkStats{HaveData: true, Jitter: 60 * ms}, QualityPoor},
		{"worst wins", linkStats{HaveData: true, LossPct: 0.5, RTT: 600 * ms, Jitter: 1 * ms}, QualityVbad},
		{"silent 3s", linkStats{HaveData: true, SinceMedia: 3 * time.Second}, QualityDown},
		{"silent 2.5s", linkStats{HaveData: true, SinceMedia: 2500 * ms}, QualityDown},
		{"silent 2.4s", linkStats{HaveData: true, SinceMedia: 2400 * ms}, QualityExcellent},
		{"ice failed", linkStats{HaveData: true, Failed: true}, QualityDown},
	}
	for _, c := range cases {
		if got := qualityOf(c.in); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
