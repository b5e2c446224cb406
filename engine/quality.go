package engine

import "time"

// linkStats is what the engine measured about one user's media path over the
// last report interval (2 s).
type linkStats struct {
	// HaveData is false until the first media packet or report arrived.
	HaveData bool
	// Failed: ICE failed or the peer connection closed.
	Failed bool
	// SinceMedia is how long ago the last media packet arrived.
	SinceMedia time.Duration
	// LossPct is the share of packets missing on first transmission (before
	// NACK or FEC repaired them), in percent.
	LossPct float64
	// RTT is the round-trip time; 0 when unknown.
	RTT time.Duration
	// Jitter is the RFC 3550 interarrival jitter.
	Jitter time.Duration
}

// mediaTimeout is how long without media makes a user Down. Checked every
// linkCheckEvery, a cut link reads Down within 3 s of its last packet
// (TestDownWithinThreeSeconds).
const mediaTimeout = 2500 * time.Millisecond

// qualityOf maps measurements to the reference's 0–6 scale.
//
// Down: ICE failed, or no media for 2.5 s. Unknown: nothing measured yet.
// Otherwise the worst of three grades:
//
//	grade      loss      RTT       jitter
//	Excellent  < 1 %     < 100 ms  < 30 ms
//	Good       < 3 %     < 200 ms  < 50 ms
//	Poor       < 8 %     < 300 ms  < 80 ms
//	Bad        < 15 %    < 500 ms  < 120 ms
//	Vbad       the rest
//
// Loss counts packets missing on first arrival, so a link NACK and FEC hide
// from the listener still reads as lossy. The RTT bounds follow ITU-T G.114
// (one-way delay under 150 ms is good, over 400 ms unacceptable).
func qualityOf(s linkStats) NetworkQuality {
	if s.Failed || (s.HaveData && s.SinceMedia >= mediaTimeout) {
		return QualityDown
	}
	if !s.HaveData {
		return QualityUnknown
	}
	q := grade(s.LossPct, 1, 3, 8, 15)
	q = max(q, grade(float64(s.RTT.Milliseconds()), 100, 200, 300, 500))
	q = max(q, grade(float64(s.Jitter.Milliseconds()), 30, 50, 80, 120))
	return q
}

// grade returns Excellent..Vbad for v against four ascending upper bounds.
func grade(v, excellent, good, poor, bad float64) NetworkQuality {
	switch {
	case v < excellent:
		return QualityExcellent
	case v < good:
		return QualityGood
	case v < poor:
		return QualityPoor
	case v < bad:
		return QualityBad
	}
	return QualityVbad
}
