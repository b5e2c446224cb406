package voice

import (
	"math"
	"math/rand/v2"
	"testing"

	"softphone/internal/testenv"
)

// Test signals, all made here: espeak-ng speech (resampled by sox), pink
// noise, tones, and a room: a delay plus an impulse response of
// exponentially decaying noise.

// Two talkers: the far end (what the loudspeaker plays) and the near end
// (the person at the microphone), with different voices and words.
const (
	farVoice  = "en-us"
	nearVoice = "en+f3"
	farText   = "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. " +
		"How much wood would a woodchuck chuck if a woodchuck could chuck wood? " +
		"Peter Piper picked a peck of pickled peppers. A stitch in time saves nine. " +
		"All that glitters is not gold. The early bird catches the worm, but the second mouse gets the cheese."
	nearText = "Hello, can you hear me? I think there is an echo on this line. " +
		"Let me try again with the headset unplugged. Is that better now, or do you still hear yourself? " +
		"We should talk about the schedule for next week before the meeting starts. " +
		"I will send you the notes later this afternoon."
)

// speech returns text spoken by voice at rate Hz, in int16 scale.
func speech(t testing.TB, voice, text string, rate int) []float64 {
	t.Helper()
	pcm := testenv.Speech(t, voice, text, rate)
	x := make([]float64, len(pcm))
	for i, v := range pcm {
		x[i] = float64(v)
	}
	return x
}

// loop repeats x (with a gap of silence between repeats) to n samples.
func loop(x []float64, n, gap int) []float64 {
	out := make([]float64, n)
	for i := 0; i < n; {
		i += copy(out[i:], x)
		i += gap
	}
	return out
}

// dbfs is the level of x (int16 scale) in dBFS, AES17: a full-scale sine
// reads 0.
func dbfs(x []float64) float64 {
	return 10 * math.Log10(meanSquare(x)/(32767*32767/2.0)+1e-30)
}

func meanSquare(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return s / float64(max(1, len(x)))
}

// activeLevel is the level of x over its active 20 ms frames (those within
// 30 dB of the loudest), a simple take on ITU-T P.56's active speech level.
// It returns the level and the mask of active frames.
func activeLevel(x []float64, rate int) (float64, []bool) {
	fl := rate / 50
	var ms []float64
	peak := 0.0
	for i := 0; i+fl <= len(x); i += fl {
		m := meanSquare(x[i : i+fl])
		ms = append(ms, m)
		peak = max(peak, m)
	}
	mask := make([]bool, len(ms))
	var sum float64
	var cnt int
	for i, m := range ms {
		if m > peak*1e-3 {
			mask[i] = true
			sum += m
			cnt++
		}
	}
	return 10 * math.Log10(sum/float64(max(1, cnt))/(32767*32767/2.0)), mask
}

// scaleTo scales x so its active level is db dBFS.
func scaleTo(x []float64, rate int, db float64) []float64 {
	l, _ := activeLevel(x, rate)
	g := math.Pow(10, (db-l)/20)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * g
	}
	return out
}

// pinkNoise returns n samples of pink (1/f) noise at db dBFS, from Paul
// Kellet's filter over white noise: a fan, an air conditioner.
func pinkNoise(n int, db float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]float64, n)
	var b0, b1, b2, b3, b4, b5, b6 float64
	for i := range out {
		w := rng.NormFloat64()
		b0 = 0.99886*b0 + w*0.0555179
		b1 = 0.99332*b1 + w*0.0750759
		b2 = 0.96900*b2 + w*0.1538520
		b3 = 0.86650*b3 + w*0.3104856
		b4 = 0.55000*b4 + w*0.5329522
		b5 = -0.7616*b5 - w*0.0168980
		out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w*0.5362
		b6 = w * 0.115926
	}
	g := math.Pow(10, (db-dbfs(out))/20)
	for i := range out {
		out[i] *= g
	}
	return out
}

// whiteNoise returns n samples of white noise at db dBFS.
func whiteNoise(n int, db float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]float64, n)
	sd := 32767 / math.Sqrt2 * math.Pow(10, db/20)
	for i := range out {
		out[i] = rng.NormFloat64() * sd
	}
	return out
}

// tone returns n samples of a hz sine at db dBFS.
func tone(n, rate int, hz, db float64) []float64 {
	out := make([]float64, n)
	a := 32767 * math.Pow(10, db/20)
	for i := range out {
		out[i] = a * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))
	}
	return out
}

// room is an echo path: delay, then exponentially decaying noise with the
// given RT60 (the time the energy takes to fall by 60 dB), scaled so the
// echo's level is gainDB relative to the loudspeaker signal for white
// input.
func room(rate int, delay, rt60, length, gainDB float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 11))
	d := int(delay * float64(rate))
	l := int(length * float64(rate))
	h := make([]float64, d+l)
	tau := rt60 / math.Log(1000) // amplitude e-folding: 60 dB of energy in rt60
	var e float64
	for i := range l {
		v := rng.NormFloat64() * math.Exp(-float64(i)/float64(rate)/tau)
		h[d+i] = v
		e += v * v
	}
	g := math.Pow(10, gainDB/20) / math.Sqrt(e)
	for i := range h {
		h[i] *= g
	}
	return h
}

// convolve returns x filtered by h (len(x) samples), by FFT overlap-add.
func convolve(x, h []float64) []float64 {
	size := 1
	for size < 2*len(h) {
		size *= 2
	}
	block := size - len(h) + 1
	r := newRFFT(size)
	hb := make([]float32, size)
	for i, v := range h {
		hb[i] = float32(v)
	}
	hr, hi := make([]float32, size/2+1), make([]float32, size/2+1)
	r.forward(hb, hr, hi)
	out := make([]float64, len(x)+size)
	buf := make([]float32, size)
	xr, xi := make([]float32, size/2+1), make([]float32, size/2+1)
	for start := 0; start < len(x); start += block {
		clear(buf)
		for i := 0; i < block && start+i < len(x); i++ {
			buf[i] = float32(x[start+i])
		}
		r.forward(buf, xr, xi)
		for k := range xr {
			a, b := xr[k], xi[k]
			xr[k] = a*hr[k] - b*hi[k]
			xi[k] = a*hi[k] + b*hr[k]
		}
		r.inverse(xr, xi, buf)
		for i, v := range buf {
			// Both transforms scaled by 1/size; the inverse does not undo
			// the filter's.
			out[start+i] += float64(v) * float64(size)
		}
	}
	return out[:len(x)]
}

// toInt16 rounds and saturates x into frames-ready int16 samples.
func toInt16(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	return out
}

func add(xs ...[]float64) []float64 {
	out := make([]float64, len(xs[0]))
	for _, x := range xs {
		for i := range out {
			out[i] += x[i]
		}
	}
	return out
}

// erle returns 10·log10(Σd²/Σe²) over [from, to) samples.
func erle(d, e []float64, from, to int) float64 {
	return 10 * math.Log10(meanSquare(d[from:to])/(meanSquare(e[from:to])+1e-9))
}
