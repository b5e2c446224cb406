package voice

import "math"

// agc brings the near end's speech to a target level: it measures the
// level of speech only (the post-filter's voice activity decision: noise,
// echo and silence do not count) and moves its gain toward
// target − level at a bounded rate, only while speech is present. In pauses
// the gain holds, so the background noise is never pumped up between
// words, and noise alone never raises it. A look-ahead peak limiter after
// the gain keeps every sample below -1 dBFS.
type agc struct {
	level     float64 // speech power estimate (int16 scale, mean square)
	haveLevel bool
	gainDB    float64

	lim limiter
	// gains holds the last frame's total gain per output sample (AGC
	// times limiter): what a shadow processor replays.
	gains []float32
}

// AGC parameters.
const (
	agcTargetDB = -20.0 // dBFS, AES17: the speech level aimed at
	agcMaxGain  = 30.0  // dB
	agcMinGain  = -12.0 // dB
	// Slew rates, in dB per second of speech: fast while far from the
	// target (a new call, a new talker), gentle near it.
	agcUpRate   = 10.0
	agcDownRate = 20.0
	agcFastRate = 30.0
	agcFastAway = 6.0 // dB from the target where the fast rate starts
	// agcLevelWeight is the weight of one 20 ms frame of speech in the
	// level (τ ≈ 0.4 s of speech).
	agcLevelWeight = 0.05
	// fullScaleSineMS is the mean square of a full-scale sine, the 0 dBFS
	// of AES17.
	fullScaleSineMS = 32767.0 * 32767.0 / 2
)

func newAGC(frame int) *agc {
	return &agc{gains: make([]float32, frame), lim: newLimiter()}
}

func (a *agc) reset() {
	a.level, a.haveLevel, a.gainDB = 0, false, 0
	a.lim.reset()
}

// process applies the gain to x (one frame at 48 kHz, int16 scale) in
// place; speech says whether the frame holds near-end speech.
func (a *agc) process(x []float32, speech bool) {
	start := a.gainDB
	if speech {
		ms := meanSquare32(x)
		if !a.haveLevel {
			a.level, a.haveLevel = ms, true
		} else {
			a.level += agcLevelWeight * (ms - a.level)
		}
		want := agcTargetDB - 10*math.Log10(a.level/fullScaleSineMS+1e-12)
		want = min(max(want, agcMinGain), agcMaxGain)
		frameSec := float64(len(x)) / 48000
		up, down := agcUpRate, agcDownRate
		if math.Abs(want-a.gainDB) > agcFastAway {
			up, down = agcFastRate, agcFastRate
		}
		if want > a.gainDB {
			a.gainDB = min(want, a.gainDB+up*frameSec)
		} else {
			a.gainDB = max(want, a.gainDB-down*frameSec)
		}
	}
	g0 := math.Pow(10, start/20)
	g1 := math.Pow(10, a.gainDB/20)
	step := (g1 - g0) / float64(len(x))
	for i := range x {
		g := float32(g0 + step*float64(i+1))
		x[i] *= g
		a.gains[i] = g
	}
	a.lim.process(x, a.gains)
}

func meanSquare32(x []float32) float64 {
	return energy(x) / float64(max(1, len(x)))
}

// limiter is a look-ahead peak limiter, block-wise: the output is the input
// delayed by one block of limLook samples (1 ms), times a gain that is at
// most ceiling/|x| over the block being output and over the next one, and
// moves linearly across each block (no clicks), down at once and back up
// slowly (release).
type limiter struct {
	pend  [limLook]float32 // the block waiting to be output
	pendG [limLook]float32 // its AGC gains
	need  float32          // the gain the pending block needs
	g     float32          // the gain at the end of the last output block
}

const (
	limLook    = 48 // 1 ms at 48 kHz
	limCeiling = 29204.0
	// limRelease: per block, the gain recovers by this fraction of its
	// distance to 1 (τ ≈ 50 ms).
	limRelease = 0.02
)

func newLimiter() limiter {
	l := limiter{}
	l.reset()
	return l
}

func (l *limiter) reset() {
	clear(l.pend[:])
	clear(l.pendG[:])
	l.need, l.g = 1, 1
}

// process limits x in place (delaying it by limLook samples; len(x) must be
// a multiple of it) and multiplies gains (the gain already applied to
// each sample) by the limiter's gain, delayed alike.
func (l *limiter) process(x, gains []float32) {
	for b := 0; b+limLook <= len(x); b += limLook {
		blk := x[b : b+limLook]
		gb := gains[b : b+limLook]
		var hi, lo float32
		for _, v := range blk {
			if v > hi {
				hi = v
			}
			if v < lo {
				lo = v
			}
		}
		peak := hi
		if -lo > peak {
			peak = -lo
		}
		need := float32(1)
		if peak > limCeiling {
			need = limCeiling / peak
		}
		// The pending block goes out now, its gain moving from l.g to an
		// end gain that suits both it and the block behind it.
		// (end ≤ l.need, and l.g ≤ l.need since the last block: the ramp
		// stays within the pending block's need.)
		end := min(l.need, need, l.g+(1-l.g)*limRelease)
		g, step := l.g, (end-l.g)/limLook
		pend, pendG := l.pend[:len(blk)], l.pendG[:len(blk)]
		gb = gb[:len(blk)]
		for i, v := range blk {
			g += step
			out, outG := pend[i]*g, pendG[i]*g
			pend[i], pendG[i] = v, gb[i]
			blk[i], gb[i] = out, outG
		}
		l.g, l.need = end, need
	}
}

// replay delays x like process does and applies gains (another limiter's
// total gains for the same frame) instead of its own.
func (l *limiter) replay(x, gains []float32) {
	for b := 0; b+limLook <= len(x); b += limLook {
		blk := x[b : b+limLook]
		for i, v := range blk {
			blk[i] = l.pend[i] * gains[b+i]
			l.pend[i] = v
		}
	}
}
