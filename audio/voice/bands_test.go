package voice

import (
	"math"
	"testing"
)

// TestSplitReconstructs: the low band of a sine below the crossover comes
// back through decimation and interpolation as the same sine, delayed by
// splitDelay; a sine above it leaves nearly nothing in the low band.
func TestSplitReconstructs(t *testing.T) {
	taps := splitFilter()
	for _, tc := range []struct {
		hz      float64
		wantLow bool
	}{{200, true}, {1000, true}, {3000, true}, {6000, true}, {9500, false}, {15000, false}} {
		dec, it := newDecimator(taps, 960), newInterpolator(taps, 320)
		var in, back []float64
		low := make([]float32, 320)
		up := make([]float32, 960)
		frame := make([]int16, 960)
		n := 0
		for range 20 {
			for i := range frame {
				frame[i] = int16(math.Round(10000 * math.Sin(2*math.Pi*tc.hz*float64(n)/48000)))
				in = append(in, float64(frame[i]))
				n++
			}
			dec.process(frame, low)
			it.process(low, up)
			for _, v := range up {
				back = append(back, float64(v))
			}
		}
		var errE, sigE, lowE float64
		for i := 4800; i < len(in); i++ {
			d := back[i] - in[i-splitDelay]
			errE += d * d
			sigE += in[i-splitDelay] * in[i-splitDelay]
			lowE += back[i] * back[i]
		}
		if tc.wantLow {
			if snr := 10 * math.Log10(sigE/errE); snr < 35 {
				t.Errorf("%g Hz: reconstruction SNR %.1f dB, want >= 35 (delay %d)", tc.hz, snr, splitDelay)
			}
		} else if rej := 10 * math.Log10(sigE/lowE); rej < 50 {
			t.Errorf("%g Hz: only %.1f dB kept out of the low band, want >= 50", tc.hz, rej)
		}
	}
}
