package voice

import "math"

// delayEstimator finds the delay from the far end (what was played) to its
// echo in the microphone: a generalized cross-correlation with the phase
// transform (GCC-PHAT, Knapp and Carter 1976), computed block-wise.
//
// Each block, the near end's last two blocks (2n samples) and the far
// end's are transformed; the cross-spectrum of the near window with the far
// window k blocks back is averaged over time for every k (lags 0 to
// (lags-1)·n), only while the far end is active. The lag block whose
// average is most coherent holds the echo's main arrival; the inverse
// transform of its phase alone gives the delay to the sample, within ±n of
// k·n. The magnitude-squared coherence doubles as the confidence.
//
// It works on the pre-emphasized 16 kHz low band, between lo and hi Hz,
// where speech and laptop loudspeakers overlap best.
type delayEstimator struct {
	n, lags int
	lo, hi  int // bin range, inclusive
	fft     *rfft
	alpha   float32

	nearWin, farWin []float32 // 2n each
	dr, di          []float32 // near spectrum (n+1)
	fr, fi          []float32 // scratch (n+1)
	xr, xi          [][]float32
	sr, si          [][]float32 // averaged cross-spectra, per lag
	pd, px          []float32   // averaged powers
	inv             []float32   // 1/(pd·px)
	gr, gi          []float32   // PHAT-weighted cross-spectrum (n+1)
	corr            []float32   // 2n
	updates         int

	// Results of the last update.
	best       int     // the most coherent lag block
	coherence  float64 // of the chosen lag block, 0..1
	haveResult bool
	// Results of the last absolute().
	delay     int     // samples
	peakRatio float64 // correlation peak over its RMS
}

// Estimator parameters.
const (
	delayLoHz = 150.0
	delayHiHz = 4000.0
	// delayAlpha averages the cross-spectra over ~12 active blocks
	// (a quarter second): fast enough to follow a jump within the second.
	delayAlpha = 0.08
	// delayFarActive is the far end's mean square per sample (pre-emphasized,
	// int16 scale) below which a block does not update the averages:
	// about -60 dBFS.
	delayFarActive = 1.0
	// delayMinBins: 400 Hz of far-end bandwidth, at 25 Hz per bin.
	delayMinBins = 16
)

func newDelayEstimator(n, lags, rate int) *delayEstimator {
	bins := n + 1
	hz := float64(rate) / float64(2*n)
	d := &delayEstimator{
		n: n, lags: lags,
		lo:    int(math.Ceil(delayLoHz / hz)),
		hi:    int(math.Floor(delayHiHz / hz)),
		fft:   newRFFT(2 * n),
		alpha: delayAlpha,
	}
	vec := func(l int) []float32 { return make([]float32, l) }
	d.nearWin, d.farWin = vec(2*n), vec(2*n)
	d.dr, d.di = vec(bins), vec(bins)
	d.fr, d.fi = vec(bins), vec(bins)
	d.gr, d.gi = vec(bins), vec(bins)
	d.corr = vec(2 * n)
	nb := d.hi - d.lo + 1
	d.pd, d.px, d.inv = vec(nb), vec(nb), vec(nb)
	for range lags {
		d.xr, d.xi = append(d.xr, vec(nb)), append(d.xi, vec(nb))
		d.sr, d.si = append(d.sr, vec(nb)), append(d.si, vec(nb))
	}
	return d
}

// reset forgets the averages and the result.
func (d *delayEstimator) reset() {
	for _, a := range [][][]float32{d.xr, d.xi, d.sr, d.si} {
		for _, v := range a {
			clear(v)
		}
	}
	for _, v := range [][]float32{d.nearWin, d.farWin, d.pd, d.px} {
		clear(v)
	}
	d.updates = 0
	d.haveResult = false
	d.delay, d.coherence, d.peakRatio = 0, 0, 0
}

// update takes one block of the near and far ends (pre-emphasized, n
// samples each) and, when the far end was active, refreshes the estimate.
// It reports whether it did.
func (d *delayEstimator) update(near, far []float32) bool {
	n := d.n
	copy(d.nearWin, d.nearWin[n:])
	copy(d.nearWin[n:], near[:n])
	copy(d.farWin, d.farWin[n:])
	copy(d.farWin[n:], far[:n])

	// The far spectra move back one lag whether or not the block counts.
	lr, li := d.xr[d.lags-1], d.xi[d.lags-1]
	copy(d.xr[1:], d.xr[:d.lags-1])
	copy(d.xi[1:], d.xi[:d.lags-1])
	d.xr[0], d.xi[0] = lr, li
	d.fft.forward(d.farWin, d.fr, d.fi)
	copy(d.xr[0], d.fr[d.lo:d.hi+1])
	copy(d.xi[0], d.fi[d.lo:d.hi+1])

	if energy(far[:n])/float64(n) < delayFarActive || !d.broadband() {
		return false
	}
	d.fft.forward(d.nearWin, d.dr, d.di)
	dr, di := d.dr[d.lo:d.hi+1], d.di[d.lo:d.hi+1]
	a := d.alpha
	if float32(d.updates) < 1/delayAlpha {
		// Start with a plain average, so the first estimates are not
		// biased toward zero.
		a = 1 / float32(d.updates+1)
	}
	d.updates++
	pd, px := d.pd[:len(dr)], d.px[:len(dr)]
	x0r, x0i := d.xr[0][:len(dr)], d.xi[0][:len(dr)]
	di = di[:len(dr)]
	inv := d.inv[:len(dr)]
	for b := range dr {
		pd[b] += a * (dr[b]*dr[b] + di[b]*di[b] - pd[b])
		px[b] += a * (x0r[b]*x0r[b] + x0i[b]*x0i[b] - px[b])
		inv[b] = 1 / (pd[b]*px[b] + 1e-3)
	}
	best, bestCoh := -1, 0.0
	for k := range d.lags {
		sr, si := d.sr[k][:len(dr)], d.si[k][:len(dr)]
		xr, xi := d.xr[k][:len(dr)], d.xi[k][:len(dr)]
		var coh float32
		for b := range dr {
			// D·conj(X)
			cr := dr[b]*xr[b] + di[b]*xi[b]
			ci := di[b]*xr[b] - dr[b]*xi[b]
			sr[b] += a * (cr - sr[b])
			si[b] += a * (ci - si[b])
			coh += (sr[b]*sr[b] + si[b]*si[b]) * inv[b]
		}
		if c := float64(coh) / float64(len(dr)); c > bestCoh {
			best, bestCoh = k, c
		}
	}
	d.coherence = bestCoh
	d.best = best
	d.haveResult = best >= 0
	return true
}

// broadband reports whether the far end's current window spreads over at
// least delayMinBins bins within 30 dB of its strongest: a tone or a hum
// correlates with itself at every period, and says nothing of the delay.
func (d *delayEstimator) broadband() bool {
	fr, fi := d.fr[d.lo:d.hi+1], d.fi[d.lo:d.hi+1]
	var top float32
	for k := range fr {
		top = max(top, fr[k]*fr[k]+fi[k]*fi[k])
	}
	n := 0
	for k := range fr {
		if fr[k]*fr[k]+fi[k]*fi[k] > 1e-3*top {
			n++
		}
	}
	return n >= delayMinBins
}

// absolute returns the delay to the echo's main arrival, in samples (-1:
// none that makes sense), after an update that found a coherent lag: the
// phase of that lag's cross-spectrum, back in time, peaks at the delay's
// offset from best·n.
func (d *delayEstimator) absolute() int {
	if !d.haveResult {
		return -1
	}
	at, ratio := d.phat(d.sr[d.best], d.si[d.best], nil, nil)
	d.peakRatio = ratio
	d.delay = d.best*d.n + at
	if d.delay < 0 {
		return -1
	}
	return d.delay
}

// phat returns the lag (-n..n-1) of the peak of the inverse transform of
// the phase of a·conj(b) (of a alone when b is nil), and the peak's ratio
// to the RMS of the whole correlation.
func (d *delayEstimator) phat(ar, ai, br, bi []float32) (int, float64) {
	n := d.n
	clear(d.gr)
	clear(d.gi)
	for k := range ar {
		cr, ci := ar[k], ai[k]
		if br != nil {
			cr, ci = ar[k]*br[k]+ai[k]*bi[k], ai[k]*br[k]-ar[k]*bi[k]
		}
		m := float32(math.Sqrt(float64(cr*cr+ci*ci))) + 1e-12
		d.gr[d.lo+k], d.gi[d.lo+k] = cr/m, ci/m
	}
	d.fft.inverse(d.gr, d.gi, d.corr)
	peak, at := float32(0), 0
	var sum float64
	for j, v := range d.corr {
		sum += float64(v * v)
		v = max(v, -v)
		if v > peak {
			peak, at = v, j
		}
	}
	if at >= n {
		at -= 2 * n
	}
	rms := math.Sqrt(sum / float64(len(d.corr)))
	return at, float64(peak) / (rms + 1e-12)
}

// snapshot copies the most coherent lag's cross-spectrum into re, im (the
// echo path's signature at the current delay) and returns that lag.
func (d *delayEstimator) snapshot(re, im []float32) int {
	copy(re, d.sr[d.best])
	copy(im, d.si[d.best])
	return d.best
}

// relative returns how far the echo path moved since the snapshot re, im
// at lag k was taken: the lag between the signatures, to the sample, and
// the correlation's peak ratio as its confidence. Comparing signatures
// rather than peaks makes it exact even when the path has several arrivals
// of similar strength.
//
// It compares the snapshot with the same lag block (a move within a
// block) and with the most coherent one (a jump across blocks). A lag near
// ±n is ambiguous (the correlation is circular over 2n), so results
// beyond ±3n/4 are dropped.
func (d *delayEstimator) relative(re, im []float32, k int) (int, float64) {
	best, bestRatio := 0, 0.0
	for i, kk := range [2]int{k, d.best} {
		if i == 1 && kk == k {
			break
		}
		at, ratio := d.phat(d.sr[kk], d.si[kk], re, im)
		if abs(at) > 3*d.n/4 || ratio <= bestRatio {
			continue
		}
		best, bestRatio = (kk-k)*d.n+at, ratio
	}
	return best, bestRatio
}
