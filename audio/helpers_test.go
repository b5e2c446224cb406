package audio

import (
	"math"
	"testing"
)

// goertzelPower returns the power of pcm at hz (sample rate SampleRate).
func goertzelPower(pcm []int16, hz float64) float64 {
	w := 2 * math.Pi * hz / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// dominantFreq returns the strongest frequency in pcm between 50 Hz and
// 4 kHz, to about 1 Hz: a coarse 10 Hz scan refined around the peak.
func dominantFreq(pcm []int16) float64 {
	best, bestP := 0.0, -1.0
	for f := 50.0; f <= 4000; f += 10 {
		if p := goertzelPower(pcm, f); p > bestP {
			best, bestP = f, p
		}
	}
	lo := best - 10
	for f := lo; f <= best+10; f += 0.5 {
		if p := goertzelPower(pcm, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// wantFreq fails unless pcm's dominant frequency is within 3 Hz of hz.
func wantFreq(t *testing.T, what string, pcm []int16, hz float64) {
	t.Helper()
	if len(pcm) < SampleRate/10 {
		t.Fatalf("%s: only %d samples to measure", what, len(pcm))
	}
	if got := dominantFreq(pcm); math.Abs(got-hz) > 3 {
		t.Errorf("%s: dominant frequency %.1f Hz, want %.0f Hz (level %d)", what, got, hz, Level(pcm))
	}
}

// toneFrames returns n frames of a hz tone at amplitude amp.
func toneFrames(t testing.TB, hz, amp float64, n int) [][]int16 {
	t.Helper()
	tone, err := NewTone(hz, amp)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]int16, n)
	for i := range out {
		out[i] = make([]int16, FrameSamples)
		tone.Read(out[i])
	}
	return out
}
