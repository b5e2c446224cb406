package audio

import (
	"fmt"
	"math"
)

// Tone is a sine generator: the tone:HZ microphone and test signals. It
// rotates a unit phasor instead of calling math.Sin per sample (a loadtest
// runs dozens of tone microphones in one process), renormalizing it once
// per Read so the amplitude cannot drift.
type Tone struct {
	c, s   float64 // the phasor: cos and sin of the current phase
	dc, ds float64 // cos and sin of the phase step per sample
	amp    float64 // peak amplitude in sample units
}

// DefaultToneAmplitude is the amplitude of the tone:HZ source: 0.25 of full
// scale, -12 dBFS, a meter reading of 80.
const DefaultToneAmplitude = 0.25

// NewTone returns a sine generator of hz hertz with a peak amplitude of
// amplitude × full scale. hz must lie strictly between 0 and the Nyquist
// frequency (24 kHz) and amplitude within 0..1.
func NewTone(hz, amplitude float64) (*Tone, error) {
	if !(hz > 0 && hz < SampleRate/2) {
		return nil, fmt.Errorf("tone of %g Hz: the frequency must be between 0 and %d Hz", hz, SampleRate/2)
	}
	if !(amplitude >= 0 && amplitude <= 1) {
		return nil, fmt.Errorf("tone amplitude %g: must be between 0 and 1", amplitude)
	}
	w := 2 * math.Pi * hz / SampleRate
	return &Tone{c: 1, dc: math.Cos(w), ds: math.Sin(w), amp: amplitude * math.MaxInt16}, nil
}

// Read fills pcm with the next samples of the tone, continuing the phase of
// the previous call.
func (t *Tone) Read(pcm []int16) {
	c, s := t.c, t.s
	for i := range pcm {
		pcm[i] = int16(math.Round(t.amp * s))
		c, s = c*t.dc-s*t.ds, s*t.dc+c*t.ds
	}
	m := math.Hypot(c, s)
	t.c, t.s = c/m, s/m
}
