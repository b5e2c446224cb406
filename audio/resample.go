package audio

import "math"

// resampleZeroCrossings is the half-length of the interpolation filter in
// zero crossings of its sinc: 16 gives a steep low-pass (about 90 dB of
// stopband with the Blackman window) at modest cost.
const resampleZeroCrossings = 16

// resample converts x from one sample rate to another with a polyphase
// windowed-sinc filter: band-limited interpolation when upsampling, and an
// anti-aliasing low-pass at the new Nyquist frequency when downsampling.
// Because both rates are integers the filter phases repeat, so the taps are
// computed once per phase.
func resample(x []float32, from, to int) []float32 {
	if from == to || len(x) == 0 {
		return x
	}
	g := gcd(from, to)
	up, down := to/g, from/g // output n sits at input position n×down/up

	// Cutoff as a fraction of the input Nyquist frequency, a little below
	// the lower of the two Nyquist frequencies.
	fc := 0.97 * min(1, float64(to)/float64(from))
	half := int(math.Ceil(resampleZeroCrossings / fc))
	taps := make([][]float32, up)
	for p := range taps {
		taps[p] = make([]float32, 2*half)
		frac := float64(p) / float64(up)
		var sum float64
		for j := range taps[p] {
			u := frac - float64(j-half+1) // distance from tap to the output position
			v := fc * sinc(fc*u) * blackman(u, float64(half))
			taps[p][j] = float32(v)
			sum += v
		}
		for j := range taps[p] { // unity gain at DC for every phase
			taps[p][j] = float32(float64(taps[p][j]) / sum)
		}
	}

	n := int(int64(len(x)) * int64(up) / int64(down))
	out := make([]float32, n)
	for i := range out {
		pos := int64(i) * int64(down)
		k0 := int(pos / int64(up))
		h := taps[pos%int64(up)]
		first := k0 - half + 1
		var acc float32
		if first >= 0 && first+len(h) <= len(x) {
			for j, c := range h {
				acc += c * x[first+j]
			}
		} else {
			for j, c := range h {
				if k := first + j; k >= 0 && k < len(x) {
					acc += c * x[k]
				}
			}
		}
		out[i] = acc
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window over |u| <= r, zero outside.
func blackman(u, r float64) float64 {
	if u < -r || u > r {
		return 0
	}
	a := math.Pi * u / r
	return 0.42 + 0.5*math.Cos(a) + 0.08*math.Cos(2*a)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
