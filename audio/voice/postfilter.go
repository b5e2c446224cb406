package voice

import "math"

// postfilter is the spectral stage after the linear echo canceller: one
// short-time Fourier transform of the low band (20 ms sqrt-Hann windows
// every 10 ms, perfect reconstruction) in which two kinds of interference
// are estimated per bin and suppressed together with one Wiener gain:
//
//   - stationary noise, tracked by minimum statistics (the minimum of the
//     smoothed power over the last second, bias-corrected: Martin 2001), so
//     a fan that starts is learned within a second and speech pauses are
//     not needed;
//   - residual echo, the linear filter's echo estimate scaled by how much
//     of it still shows in the output: per band, the regression of the
//     output's power on the echo estimate's (speexdsp's leak estimate,
//     but not capped at 1, so it also covers a filter that has not
//     converged yet), held over a few frames for the reverberation the
//     filter does not model. Near-end speech is uncorrelated with the echo
//     estimate, so double talk does not inflate it.
//
// The a priori SNR is decision-directed (Ephraim and Malah 1984), which
// keeps the musical noise down. Each kind of interference has its own
// floor: noise is attenuated by at most the level's depth (12 or 20 dB),
// so the background stays natural, echo by up to 40 dB.
type postfilter struct {
	hop, size, bins int
	fft             *rfft
	window          []float32 // sqrt-Hann, periodic

	in, echo []float32 // the last two hops
	ola      []float32 // overlap-add tail (hop)
	frame    []float32 // scratch (size)
	er, ei   []float32
	yr, yi   []float32

	power    []float32 // |E|²
	smooth   []float32 // smoothed |E|² for the minimum
	subMin   []float32 // minimum in the current sub-window
	mins     [][]float32
	minOld   []float32 // minimum over mins
	minIdx   int
	subCount int
	noise    []float32
	resEcho  []float32 // residual echo estimate, held
	echoPow  []float32 // |Y|² of the echo estimate
	farPow   []float32 // the aligned far end's power, with a reverb tail
	xr, xi   []float32
	// Smoothed auto and cross spectra of the aligned far end and the
	// output, for their coherence.
	sxx, see, sxr, sxi []float32
	// The same over a few hops (fxx…), and each bin's recent peak of the
	// long coherence: see estimate.
	fxx, fee, fxr, fxi []float32
	cohPeak            []float32
	band               []int // bin → leak band
	leakY              *bandRegression
	leakX              *bandRegression
	prevGain           []float32
	prevPost           []float32
	gain               []float32 // this hop's gains
	warm               int       // hops seen, for the start-up

	noiseFloor float32 // power gain floor for noise (1: keep the noise)
	echoFloor  float32 // power gain floor for echo

	// Per hop results.
	gHigh  float32 // gain for the band above the low band
	speech bool    // the hop holds near-end speech, and no strong echo
	snr    float64 // near-end power over noise and echo, speech band
}

// leakBandEdges are the edges of the bands of the residual echo's leak
// estimate, in Hz.
var leakBandEdges = []float64{300, 600, 1000, 1500, 2200, 3200, 4500}

const (
	pfSmooth     = 0.85 // periodogram smoothing for the minimum (τ ≈ 60 ms)
	pfSubWindows = 8    // sub-windows of the minimum search
	pfSubLen     = 10   // hops per sub-window: 8·10·10 ms = 0.8 s
	// pfBias corrects the minimum of the smoothed periodogram to the
	// noise's mean (measured on white and pink noise).
	pfBias     = 2.2
	pfDD       = 0.98 // decision-directed weight
	pfEchoHold = 0.6  // residual echo decays by this per hop (reverb)
	// farReverb: the far end's power decays by this per hop in the
	// reference for the residual echo (about a 200 ms RT60).
	farReverb = 0.5
	// cohSmooth averages the spectra for the coherence (τ ≈ 60 ms), and
	// cohBias is the coherence two unrelated signals show with that much
	// averaging: below it, none is counted.
	cohSmooth = 0.85
	cohBias   = 0.2
	// cohFastSmooth and cohFastBias: the short averages (τ ≈ 8 ms), and
	// the coherence below which they count none. Over so few hops
	// unrelated signals often read coherent, so the short coherence
	// counts only in a bin the echo held a moment ago: one whose long
	// coherence peaked above cohPeakMin, the peak falling by cohPeakFall
	// per hop (below the minimum after ~70 ms). Near-end speech over the
	// far end, or right after it, loses nothing measurable to it.
	cohFastSmooth = 0.3
	cohFastBias   = 0.6
	cohPeakFall   = 0.9
	cohPeakMin    = 0.5
	// nsOversubtract: with noise suppression on, the gain rule sees twice
	// the noise estimate, which takes 1–2 dB more noise off while speech
	// is present and costs the speech well under a dB.
	nsOversubtract = 2
	// excessMargin: the output's power beyond this many times the
	// microphone's, in a bin, counts as echo.
	excessMargin = 4
	// echoOverestimate scales the residual echo estimate.
	echoOverestimate = 2
	// Leak regression: smoothing of the means, and the most and least
	// it may say.
	leakMeanWeight = 0.05
	leakRate       = 0.05
	leakMin        = 0.003
	leakMax        = 30.0
	// leakFall: a band's leak falls by at most this per hop (13 dB/s):
	// the filter's misadjustment comes and goes with the far end's
	// spectrum, faster than a regression follows.
	leakFall  = 0.97
	echoFloor = 1e-4 // -40 dB
	// The speech band for the voice activity decision.
	speechLoHz = 300.0
	speechHiHz = 4000.0
	// speechSNR is the ratio of power to estimated noise and echo, over
	// the speech band, above which a hop counts as near-end speech.
	speechSNR = 3.0
	// speechWarm: hops before the noise estimate is trusted for it.
	speechWarm = 10
	// The bins whose gains set the band above: 4–7 kHz.
	highLoHz = 4000.0
	highHiHz = 7000.0
)

func newPostfilter(hop, rate int) *postfilter {
	size := 2 * hop
	bins := hop + 1
	p := &postfilter{hop: hop, size: size, bins: bins, fft: newRFFT(size)}
	vec := func(l int) []float32 { return make([]float32, l) }
	p.window = vec(size)
	for i := range p.window {
		p.window[i] = float32(math.Sqrt(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(size))))
	}
	p.in, p.echo, p.frame = vec(size), vec(size), vec(size)
	p.ola = vec(hop)
	p.er, p.ei, p.yr, p.yi = vec(bins), vec(bins), vec(bins), vec(bins)
	// The noise and gain arrays have one more entry, the band above the
	// low band, treated as one more bin (see setHigh).
	p.power, p.smooth, p.subMin = vec(bins+1), vec(bins+1), vec(bins+1)
	for range pfSubWindows {
		p.mins = append(p.mins, vec(bins+1))
	}
	p.minOld = vec(bins + 1)
	p.noise, p.resEcho, p.echoPow = vec(bins+1), vec(bins+1), vec(bins)
	p.farPow, p.xr, p.xi = vec(bins), vec(bins), vec(bins)
	p.sxx, p.see, p.sxr, p.sxi = vec(bins), vec(bins), vec(bins), vec(bins)
	p.fxx, p.fee, p.fxr, p.fxi = vec(bins), vec(bins), vec(bins), vec(bins)
	p.cohPeak = vec(bins)
	p.band = make([]int, bins)
	for k := range p.band {
		hz := float64(k) * float64(rate) / float64(size)
		for p.band[k] = 0; p.band[k] < len(leakBandEdges) && hz >= leakBandEdges[p.band[k]]; p.band[k]++ {
		}
	}
	p.leakY = newBandRegression(p.band, 1)
	perBin := make([]int, bins)
	for k := range perBin {
		perBin[k] = k
	}
	p.leakX = newBandRegression(perBin, 1)
	p.prevGain, p.prevPost, p.gain = vec(bins+1), vec(bins+1), vec(bins+1)
	p.noiseFloor, p.echoFloor = 1, echoFloor
	p.reset()
	return p
}

func (p *postfilter) reset() {
	for _, v := range [][]float32{p.in, p.echo, p.ola, p.smooth, p.noise, p.resEcho, p.prevPost} {
		clear(v)
	}
	clear(p.farPow)
	p.leakY.reset(1)
	p.leakX.reset(1)
	for i := range p.prevGain {
		p.prevGain[i] = 1
	}
	p.warm = 0
	p.minIdx, p.subCount = 0, 0
	p.gHigh = 1
}

// binOf returns the bin of hz.
func (p *postfilter) binOf(hz float64, rate int) int {
	return int(math.Round(hz * float64(p.size) / float64(rate)))
}

// restartCoherence forgets the averaged spectra behind the coherence with
// the far end: with a single hop to go on, every bin reads fully coherent.
func (p *postfilter) restartCoherence() {
	for _, v := range [][]float32{p.sxx, p.see, p.sxr, p.sxi, p.fxx, p.fee, p.fxr, p.fxi, p.cohPeak} {
		clear(v)
	}
}

// transform takes one hop of the echo canceller's output e and computes
// the spectrum of the last two.
func (p *postfilter) transform(e []float32) {
	h := p.hop
	copy(p.in, p.in[h:])
	copy(p.in[h:], e[:h])
	for i, v := range p.in {
		p.frame[i] = v * p.window[i]
	}
	p.fft.forward(p.frame, p.er, p.ei)
}

// estimate computes this hop's gains, after transform: y is the hop of
// the echo estimate (nil without echo cancellation), and farWin the far
// end's window (size samples) aligned with the echo the transformed
// window holds (nil while the delay is unknown). apply writes the output.
func (p *postfilter) estimate(y, farWin []float32, rate int) {
	h := p.hop
	powerSpectrum(p.er, p.ei, p.power)

	// Residual echo: the echo estimate's power times the band's leak,
	// held over a few hops for the reverberation.
	if y != nil {
		copy(p.echo, p.echo[h:])
		copy(p.echo[h:], y[:h])
		for i, v := range p.echo {
			p.frame[i] = v * p.window[i]
		}
		p.fft.forward(p.frame, p.yr, p.yi)
		powerSpectrum(p.yr, p.yi, p.echoPow)
		p.leakY.update(p.power, p.echoPow)
		if farWin != nil {
			for i, v := range farWin {
				p.frame[i] = v * p.window[i]
			}
			p.fft.forward(p.frame, p.xr, p.xi)
			n := len(p.farPow)
			xr, xi, er, ei := p.xr[:n], p.xi[:n], p.er[:n], p.ei[:n]
			pw, sxx, see, sxr, sxi := p.power[:n], p.sxx[:n], p.see[:n], p.sxr[:n], p.sxi[:n]
			const a, b = cohSmooth, cohFastSmooth
			fxx, fee, fxr, fxi := p.fxx[:n], p.fee[:n], p.fxr[:n], p.fxi[:n]
			for k, fp := range p.farPow {
				xp := xr[k]*xr[k] + xi[k]*xi[k]
				p.farPow[k] = max(farReverb*fp, xp)
				// X·conj(E)
				cr, ci := xr[k]*er[k]+xi[k]*ei[k], xi[k]*er[k]-xr[k]*ei[k]
				sxx[k] = a*sxx[k] + (1-a)*xp
				see[k] = a*see[k] + (1-a)*pw[k]
				sxr[k] = a*sxr[k] + (1-a)*cr
				sxi[k] = a*sxi[k] + (1-a)*ci
				fxx[k] = b*fxx[k] + (1-b)*xp
				fee[k] = b*fee[k] + (1-b)*pw[k]
				fxr[k] = b*fxr[k] + (1-b)*cr
				fxi[k] = b*fxi[k] + (1-b)*ci
			}
			p.leakX.update(p.power, p.farPow)
		}
		n := p.bins
		res, band, ep, pw := p.resEcho[:n], p.band[:n], p.echoPow[:n], p.power[:n]
		fp, sxx, see, sxr, sxi := p.farPow[:n], p.sxx[:n], p.see[:n], p.sxr[:n], p.sxi[:n]
		cy, cx := p.leakY.coef, p.leakX.coef[:n]
		for k := range res {
			r := cy[band[k]] * ep[k]
			if farWin != nil {
				r = max(r, cx[k]*fp[k])
				// The share of the output that is coherent with the far
				// end is echo, whatever the filter has learned.
				coh := (sxr[k]*sxr[k] + sxi[k]*sxi[k]) / (sxx[k]*see[k] + 1e-3)
				p.cohPeak[k] = max(coh, cohPeakFall*p.cohPeak[k])
				coh = max(0, coh-cohBias) * (1 / (1 - cohBias))
				if p.cohPeak[k] > cohPeakMin {
					// The echo path jumped (a sound server that dropped
					// out and resumed a few milliseconds off): the
					// output's phase against the far end changed, and
					// the long averages read incoherent until the old
					// phase fades. The short ones see the new phase in
					// two hops.
					f := (p.fxr[k]*p.fxr[k] + p.fxi[k]*p.fxi[k]) / (p.fxx[k]*p.fee[k] + 1e-3)
					coh = max(coh, max(0, f-cohFastBias)*(1/(1-cohFastBias)))
				}
				r = max(r, coh*pw[k])
			}
			// The microphone's spectrum is the output's plus the echo
			// estimate's. An output well beyond it (6 dB: near-end
			// speech and echo that happen to cancel in a bin rarely
			// reach that) is the filter's own estimate, sent where the
			// echo is not (it dropped out, or moved).
			dr, di := p.er[k]+p.yr[k], p.ei[k]+p.yi[k]
			r = max(r, pw[k]-excessMargin*(dr*dr+di*di))
			// A regression fits the mean; the echo is above it half the
			// time. speexdsp doubles its leak for the same reason.
			r *= echoOverestimate
			res[k] = max(pfEchoHold*res[k], r)
		}
	} else {
		clear(p.resEcho)
	}

	// The band above has no linear echo cancellation: its echo is all
	// there. Its share of the band is taken from the top of the low band,
	// where the microphone heard the near end (the output less its
	// residual echo) and the echo (the linear estimate plus the residual).
	hlo, hhi := p.binOf(highLoHz, rate), p.binOf(highHiHz, rate)
	var pp, rr, yy float64
	for k := hlo; k <= hhi; k++ {
		pp += float64(p.power[k])
		rr += float64(p.resEcho[k])
		if y != nil {
			yy += float64(p.echoPow[k])
		}
	}
	// Its echo gain comes straight from that share; its noise gain is
	// computed like a bin's, with the noise tracking paused while echo
	// fills the band.
	gEcho := float32(1)
	p.resEcho[p.bins] = 0
	if echo := yy + rr; echo > 0 {
		near := max(pp-rr, 0)
		share := echo / (near + echo)
		gEcho = float32(math.Sqrt(max(1-share, echoFloor)))
		p.resEcho[p.bins] = p.power[p.bins] * float32(share)
	}

	p.trackNoise()

	// Gains.
	lo, hi := p.binOf(speechLoHz, rate), p.binOf(speechHiHz, rate)
	var sp, sn float64
	over := float32(1)
	if p.noiseFloor < 1 {
		over = nsOversubtract
	}
	nb := len(p.gain)
	noise, res, pw := p.noise[:nb], p.resEcho[:nb], p.power[:nb]
	prevG, prevP := p.prevGain[:nb], p.prevPost[:nb]
	for k := range p.gain {
		n := noise[k] * over
		r := res[k]
		if k == p.bins {
			r = 0 // the band above: noise only (its echo gain is gEcho)
		}
		lambda := n + r + 1e-3
		inv := 1 / lambda
		post := min(pw[k]*inv, 1000)
		prior := pfDD*prevG[k]*prevG[k]*prevP[k] + (1-pfDD)*max(post-1, 0)
		g := prior / (1 + prior)
		// The noise floor keeps a bin's noise natural; it must not shelter
		// echo the noise estimate took in (a steady echo, a tone, looks
		// stationary): with echo about, the noise it keeps is at most what
		// the bin holds beside the echo.
		nf := n
		if r > 0 {
			nf = min(n, max(pw[k]-r, 0))
		}
		if f := (p.noiseFloor*nf + p.echoFloor*r) * inv; g*g < f {
			g = float32(math.Sqrt(float64(f)))
		}
		g = min(g, 1)
		p.gain[k] = g
		prevG[k] = g
		prevP[k] = post
		if k >= lo && k <= hi {
			sp += float64(pw[k])
			sn += float64(lambda)
		}
	}
	p.snr = sp / (sn + 1e-9)
	p.speech = p.warm >= speechWarm && p.snr > speechSNR
	if y != nil && p.speech {
		// While the far end's echo fills the microphone (its linear
		// estimate at least half of what is left), this is no hop to
		// learn the near end's level from: double talk, or echo the
		// suppressor let through, which gain control must never raise.
		var ey float64
		for _, v := range p.echoPow[lo : hi+1] {
			ey += float64(v)
		}
		p.speech = ey < 0.5*sp
	}

	p.gHigh = min(p.gain[p.bins], gEcho)
}

// setHigh sets the power of the band above the low band over the window
// the next estimate analyzes (any scale: it is only compared with itself).
func (p *postfilter) setHigh(power float32) {
	p.power[p.bins] = power
}

// bandRegression is a per-band linear regression of one power spectrum
// (the output's) on another (the echo estimate's, the far end's), from the
// covariance of their deviations from their means: like speexdsp's leak
// estimate, but per band and not capped at 1. It learns faster when the
// reference is large against the output.
type bandRegression struct {
	band         []int
	e, r         []float64 // this hop's band powers
	meanE, meanR []float64
	cov, vr      []float64
	fit          []float32 // the regression's slope
	coef         []float32 // what is used: rises at once, falls slowly
}

func newBandRegression(band []int, initial float32) *bandRegression {
	nb := 0
	for _, b := range band {
		nb = max(nb, b+1)
	}
	g := &bandRegression{band: band}
	for _, p := range []*[]float64{&g.e, &g.r, &g.meanE, &g.meanR, &g.cov, &g.vr} {
		*p = make([]float64, nb)
	}
	g.coef = make([]float32, nb)
	g.fit = make([]float32, nb)
	g.reset(initial)
	return g
}

func (g *bandRegression) reset(initial float32) {
	for _, v := range [][]float64{g.meanE, g.meanR, g.cov, g.vr} {
		clear(v)
	}
	for i := range g.coef {
		g.coef[i], g.fit[i] = initial, initial
	}
}

func (g *bandRegression) update(out, ref []float32) {
	clear(g.e)
	clear(g.r)
	for k, b := range g.band {
		g.e[b] += float64(out[k])
		g.r[b] += float64(ref[k])
	}
	for b := range g.coef {
		e, r := g.e[b], g.r[b]
		de, dr := e-g.meanE[b], r-g.meanR[b]
		g.meanE[b] += leakMeanWeight * de
		g.meanR[b] += leakMeanWeight * dr
		a := min(leakRate, leakRate*r/(e+1e-3))
		g.cov[b] += a * (de*dr - g.cov[b])
		g.vr[b] += a * (dr*dr - g.vr[b])
		if g.vr[b] > 1e-6 {
			g.fit[b] = float32(min(max(g.cov[b]/g.vr[b], leakMin), leakMax))
		}
		g.coef[b] = max(g.fit[b], leakFall*g.coef[b])
	}
}

// trackNoise updates the noise estimate by minimum statistics. A bin
// that holds more residual echo than noise is not updated: with the far
// end talking, the minimum would otherwise learn the echo as noise (and
// the noise floor would then protect it from suppression).
func (p *postfilter) trackNoise() {
	first := p.warm == 0
	p.warm++
	for k, v := range p.power {
		if first {
			p.smooth[k] = v
			p.subMin[k] = v
			for _, m := range p.mins {
				m[k] = v
			}
		}
		if !first && p.resEcho[k] > p.noise[k] {
			continue
		}
		s := pfSmooth*p.smooth[k] + (1-pfSmooth)*v
		p.smooth[k] = s
		p.subMin[k] = min(p.subMin[k], s)
	}
	p.subCount++
	if first || p.subCount == pfSubLen {
		if !first {
			p.subCount = 0
			copy(p.mins[p.minIdx], p.subMin)
			p.minIdx = (p.minIdx + 1) % pfSubWindows
			copy(p.subMin, p.smooth)
		}
		// The minimum of the finished sub-windows changes only here.
		copy(p.minOld, p.mins[0])
		for _, w := range p.mins[1:] {
			for k, v := range w {
				p.minOld[k] = min(p.minOld[k], v)
			}
		}
	}
	for k, m := range p.subMin {
		p.noise[k] = pfBias * min(m, p.minOld[k])
	}
}

// apply writes this hop's output (hop samples, delayed by one hop) with
// the given gains (p.gain, or another post-filter's).
func (p *postfilter) apply(gain []float32, out []float32) {
	for k := range p.er {
		p.er[k] *= gain[k]
		p.ei[k] *= gain[k]
	}
	p.fft.inverse(p.er, p.ei, p.frame)
	h := p.hop
	for i := range h {
		out[i] = p.ola[i] + p.frame[i]*p.window[i]
		p.ola[i] = p.frame[h+i] * p.window[h+i]
	}
}
