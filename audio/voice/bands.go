package voice

import "math"

// The processor works on a 16 kHz low band (0–7 kHz), like WebRTC's audio
// processing does at 48 kHz: echo cancellation, noise estimation and the
// suppression gains cost a third of what they would at full rate, and
// speech lives there. The band above gets one gain per 10 ms, derived from
// the low band's. The split is complementary by construction:
//
//	out = up(processed low) + g·(x delayed − up(low))
//
// so with nothing processed (processed low == low, g == 1) the output is the
// input, delayed, to float rounding: the filters only decide where the
// crossover lies, never what comes out.

// Split filter: a linear-phase low-pass FIR at 48 kHz, Kaiser-windowed
// sinc, cut off at 7.3 kHz with about 60 dB of stopband from 8.8 kHz, so
// little aliases into the low band on the way down to 16 kHz.
const (
	splitTaps   = 60
	splitCutoff = 7300.0
	splitBeta   = 5.65 // Kaiser β for ~60 dB
	// splitDelay is the delay of decimation followed by interpolation, in
	// 48 kHz samples: each filter delays by (splitTaps-1)/2, less the two
	// samples the decimator gains by taking the newest of each three.
	splitDelay = splitTaps - 3
)

// splitFilter returns the low-pass taps, normalized to unity gain at DC.
func splitFilter() []float32 {
	h := make([]float64, splitTaps)
	mid := float64(splitTaps-1) / 2
	fc := splitCutoff / 48000
	var sum float64
	for i := range h {
		t := float64(i) - mid
		s := 2 * fc
		if t != 0 {
			s = math.Sin(2*math.Pi*fc*t) / (math.Pi * t)
		}
		r := t / mid
		h[i] = s * bessel0(splitBeta*math.Sqrt(max(0, 1-r*r))) / bessel0(splitBeta)
		sum += h[i]
	}
	out := make([]float32, splitTaps)
	for i := range h {
		out[i] = float32(h[i] / sum)
	}
	return out
}

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// decimator low-passes a 48 kHz stream and keeps every third sample. The
// filter is symmetric (linear phase) and even in length, so each pair of
// taps costs one multiplication.
type decimator struct {
	h   []float32 // the first half of the (even-length, symmetric) taps
	buf []float32 // the last len(taps)-1 inputs, then the frame
	rev []float32 // buf reversed, so both halves are read forward
	l   int       // taps
}

func newDecimator(taps []float32, frame int) *decimator {
	n := len(taps) - 1 + frame
	return &decimator{h: taps[:len(taps)/2], buf: make([]float32, n), rev: make([]float32, n), l: len(taps)}
}

// process decimates in (the frame size given to newDecimator, int16 scale)
// into out (a third as long).
func (d *decimator) process(in []int16, out []float32) {
	l := d.l
	buf := d.buf
	for i, s := range in {
		buf[l-1+i] = float32(s)
	}
	rev := d.rev[:len(buf)]
	for i, v := range buf {
		rev[len(rev)-1-i] = v
	}
	h := d.h
	half := len(h)
	for m := range out[:len(in)/3] {
		// Output m is the filter's output at input 3m+2, the newest of
		// its three: Σ taps[i]·x[i] over the window x = buf[3m+2:][:l],
		// taps[i] == taps[l-1-i]; x's second half, backward, is rev's
		// stretch from len-(3m+2)-l.
		lo := buf[3*m+2:][:half]
		hr := rev[len(rev)-3*m-2-l:][:half]
		// Four accumulators: the additions do not wait on each other.
		var a0, a1, a2, a3 float32
		i := 0
		for ; i+3 < len(h); i += 4 {
			a0 += h[i] * (lo[i] + hr[i])
			a1 += h[i+1] * (lo[i+1] + hr[i+1])
			a2 += h[i+2] * (lo[i+2] + hr[i+2])
			a3 += h[i+3] * (lo[i+3] + hr[i+3])
		}
		for ; i < len(h); i++ {
			a0 += h[i] * (lo[i] + hr[i])
		}
		out[m] = (a0 + a1) + (a2 + a3)
	}
	copy(buf, buf[len(in):])
}

// interpolator brings a 16 kHz stream back to 48 kHz: zero-stuffing and
// the same low-pass, in three polyphase branches.
type interpolator struct {
	// phase[p][j] multiplies v[m-j] for output 3m+p, stored reversed
	// (index l-1-j) so the inner loop runs forward over memory.
	phase [3][]float32
	buf   []float32 // the last l-1 inputs, then the frame
	l     int
}

func newInterpolator(taps []float32, frame int) *interpolator {
	l := (len(taps) + 2) / 3
	it := &interpolator{l: l, buf: make([]float32, l-1+frame)}
	// Output n = 3m+p takes 3·Σ_i h[i]·u[n-i] over the stuffed u, whose
	// nonzero samples u[3m] = v[m] sit at multiples of 3: i = p + 3j.
	for p := range 3 {
		ph := make([]float32, l)
		for j := 0; p+3*j < len(taps); j++ {
			ph[l-1-j] = 3 * taps[p+3*j]
		}
		it.phase[p] = ph
	}
	return it
}

// process interpolates in (16 kHz, the frame size given to
// newInterpolator) into out (3·len(in) samples at 48 kHz).
func (it *interpolator) process(in, out []float32) {
	l := it.l
	buf := it.buf
	copy(buf[l-1:], in)
	p0, p1, p2 := it.phase[0][:l], it.phase[1][:l], it.phase[2][:l]
	for m := range in {
		x := buf[m:][:l] // v[m-l+1] .. v[m]
		var a0, a1, a2, b0, b1, b2 float32
		j := 0
		for ; j+1 < len(x); j += 2 {
			v, w := x[j], x[j+1]
			a0 += p0[j] * v
			a1 += p1[j] * v
			a2 += p2[j] * v
			b0 += p0[j+1] * w
			b1 += p1[j+1] * w
			b2 += p2[j+1] * w
		}
		if j < len(x) {
			v := x[j]
			a0 += p0[j] * v
			a1 += p1[j] * v
			a2 += p2[j] * v
		}
		o := out[3*m:][:3]
		o[0], o[1], o[2] = a0+b0, a1+b1, a2+b2
	}
	copy(buf, buf[len(in):])
}
