package audio

import "math"

// Mixer sums any number of 20 ms streams into one with clipping protection.
//
// Streams are summed in 32 bits, so nothing wraps around. When the sum would
// exceed full scale, a limiter lowers the gain within 2 ms (a ramp, so there
// is no click) to bring the peak to full scale, then recovers
// toward unity gain by about 3 dB per 100 ms once the loud passage is over. A
// single stream below full scale passes through bit-exact.
//
// A Mixer is not safe for concurrent use; the pipeline's run loop owns one.
type Mixer struct {
	acc  [FrameSamples]int32
	n    int     // streams added since the last Mix
	gain float64 // limiter gain at the end of the previous frame
}

// NewMixer returns a mixer at unity gain.
func NewMixer() *Mixer {
	return &Mixer{gain: 1}
}

// limiterAttack is the length of the gain ramp when the limiter engages: 2 ms.
const limiterAttack = SampleRate / 500

// limiterRelease is how much of the distance back to unity gain the limiter
// recovers per 20 ms frame: 0.15 gives about 3 dB per 100 ms from -6 dB.
const limiterRelease = 0.15

// Add adds one stream's frame to the mix. pcm must hold FrameSamples samples;
// a shorter frame is treated as padded with silence and a longer one is cut.
func (m *Mixer) Add(pcm []int16) {
	pcm = pcm[:min(len(pcm), FrameSamples)]
	for i, s := range pcm {
		m.acc[i] += int32(s)
	}
	m.n++
}

// Streams returns how many streams were added since the last Mix.
func (m *Mixer) Streams() int { return m.n }

// Mix writes the limited sum of the added streams to out (FrameSamples long)
// and clears the mixer for the next frame.
func (m *Mixer) Mix(out []int16) {
	out = out[:FrameSamples]
	peak := int32(0)
	for _, v := range m.acc {
		if v < 0 {
			v = -v
		}
		peak = max(peak, v)
	}
	want := 1.0
	if peak > math.MaxInt16 {
		want = float64(math.MaxInt16) / float64(peak)
	}
	start := m.gain
	end := want
	if want > start {
		// Release: recover slowly instead of jumping back to unity.
		end = start + (want-start)*limiterRelease
		if want-end < 1e-4 {
			end = want
		}
	}
	switch {
	case start == 1 && end == 1:
		for i, v := range m.acc {
			out[i] = int16(v) // |v| <= MaxInt16: the peak was checked above
		}
	case end < start:
		// Attack: reach the new gain within limiterAttack samples; the
		// few samples inside the ramp that still exceed full scale are
		// saturated, never wrapped.
		step := (end - start) / limiterAttack
		for i, v := range m.acc {
			g := end
			if i < limiterAttack {
				g = start + step*float64(i+1)
			}
			out[i] = clamp16(math.Round(float64(v) * g))
		}
	default:
		// Release (or steady limiting): the ramp stays at or below the
		// gain this frame needs, so nothing exceeds full scale.
		step := (end - start) / FrameSamples
		for i, v := range m.acc {
			g := start + step*float64(i+1)
			out[i] = clamp16(math.Round(float64(v) * g))
		}
	}
	m.gain = end
	clear(m.acc[:])
	m.n = 0
}

// Gain returns the limiter gain at the end of the last mixed frame (1 when
// nothing was limited).
func (m *Mixer) Gain() float64 { return m.gain }

// clamp16 converts to int16 with saturation.
func clamp16(v float64) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}
