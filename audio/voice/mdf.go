package voice

import "math"

// mdf is the linear echo canceller: a partitioned-block frequency-domain
// adaptive filter (the multidelay filter of Soo and Pang, 1990, in the
// alternately-updated AUMDF variant) with the learning-rate control and
// two-path structure of speexdsp's mdf.c (Valin, "On adjusting the learning
// rate in frequency domain echo cancellation with double-talk", IEEE TASLP
// 15(3), 2007). Written afresh in Go; the constants are speexdsp's, and so
// is the FFT scaling they assume (forward 1/n).
//
// There is no explicit double-talk detector: the step size in each bin is
// the estimated residual-echo-to-error ratio, which double talk and noise
// drive down, so the filter slows down instead of diverging. A foreground
// filter produces the output; the background filter adapts and is copied
// to the foreground only when it does measurably better, and reset to it
// when it does measurably worse.
//
// One block is n samples (20 ms at 16 kHz); the filter spans m blocks.
// Signals are float32 in int16 scale.
type mdf struct {
	n, m, f, bins int
	fft           *rfft
	window        []float32 // Hann, f long: crossfade when the foreground changes

	xwin   []float32   // the far end's last two blocks (pre-emphasized)
	xr, xi [][]float32 // far spectra, newest first (m+1)
	wr, wi [][]float32 // background filter (m partitions)
	fr, fi [][]float32 // foreground filter
	er, ei []float32   // error spectrum of the last block
	sr, si []float32   // scratch spectrum

	power, power1 []float32 // far power (smoothed) and per-bin step
	prop          []float32 // per-partition step share
	eh, yh        []float32
	rf, yf, xf    []float32 // error, echo and far power spectra

	e, y, tmp []float32 // f long
	yfg       []float32 // foreground echo estimate (n)
	input     []float32 // near block after the DC notch and pre-emphasis

	memD, memE float32
	notch      [2]float32
	notchR     float32
	preemph    float32

	pey, pyy                   float64
	leak                       float64
	davg1, davg2, dvar1, dvar2 float64
	adapted                    bool
	sumAdapt                   float64
	saturated                  int
	screwedUp                  int
	count                      int
	specAverage, beta0, betaMx float64

	// resets counts the times the filter diverged and was reset.
	resets int
	// lastSdd and lastSff are the last block's near and output energies.
	lastSdd, lastSff float64
	// lastSxx is the last far block's energy (pre-emphasized).
	lastSxx float64
}

// Constants from speexdsp's float build.
const (
	mdfMinLeak     = 0.005
	mdfVar1Smooth  = 0.36
	mdfVar2Smooth  = 0.7225
	mdfVar1Update  = 0.5
	mdfVar2Update  = 0.25
	mdfVarBacktrk  = 4.0
	mdfPreemph     = 0.9
	mdfNotchRadius = 0.982 // for 16 kHz
)

func newMDF(n, m, rate int) *mdf {
	f := 2 * n
	bins := n + 1
	c := &mdf{n: n, m: m, f: f, bins: bins, fft: newRFFT(f)}
	mat := func(rows int) [][]float32 {
		a := make([][]float32, rows)
		for i := range a {
			a[i] = make([]float32, bins)
		}
		return a
	}
	vec := func(l int) []float32 { return make([]float32, l) }
	c.window = vec(f)
	for i := range c.window {
		c.window[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(f)))
	}
	c.xwin = vec(f)
	c.xr, c.xi = mat(m+1), mat(m+1)
	c.wr, c.wi = mat(m), mat(m)
	c.fr, c.fi = mat(m), mat(m)
	c.er, c.ei = vec(bins), vec(bins)
	c.sr, c.si = vec(bins), vec(bins)
	c.power, c.power1 = vec(bins), vec(bins)
	c.prop = vec(m)
	c.eh, c.yh = vec(bins), vec(bins)
	c.rf, c.yf, c.xf = vec(bins), vec(bins), vec(bins)
	c.e, c.y, c.tmp = vec(f), vec(f), vec(f)
	c.yfg = vec(n)
	c.input = vec(n)
	c.specAverage = float64(n) / float64(rate)
	c.beta0 = 2 * float64(n) / float64(rate)
	c.betaMx = 0.5 * float64(n) / float64(rate)
	c.preemph = mdfPreemph
	c.notchR = mdfNotchRadius
	c.reset()
	return c
}

// reset forgets everything: the filters, the far history and the
// statistics.
func (c *mdf) reset() {
	for _, a := range [][][]float32{c.xr, c.xi, c.wr, c.wi, c.fr, c.fi} {
		for _, v := range a {
			clear(v)
		}
	}
	for _, v := range [][]float32{c.xwin, c.er, c.ei, c.power, c.eh, c.yh} {
		clear(v)
	}
	for i := range c.power1 {
		c.power1[i] = 1
	}
	// Initial step shares: ~10× more for the first partition than the
	// last, summing to 0.8.
	decay := math.Exp(-2.4 / float64(c.m))
	p, sum := 0.7, 0.0
	for i := range c.prop {
		c.prop[i] = float32(p)
		sum += p
		p *= decay
	}
	for i := range c.prop {
		c.prop[i] = float32(0.8 * float64(c.prop[i]) / sum)
	}
	c.memD, c.memE = 0, 0
	c.notch = [2]float32{}
	c.pey, c.pyy = 1, 1
	c.leak = 0
	c.davg1, c.davg2, c.dvar1, c.dvar2 = 0, 0, 0, 0
	c.adapted = false
	c.sumAdapt = 0
	c.saturated = 0
	c.screwedUp = 0
	c.count = 0
}

// spectralMulAccum sets (or, oi) = Σ_j x[j]·w[j], two partitions per pass
// over the output.
func spectralMulAccum(xr, xi, wr, wi [][]float32, or, oi []float32) {
	clear(or)
	clear(oi)
	n := len(or)
	oi = oi[:n]
	j := 0
	for ; j+1 < len(wr); j += 2 {
		a, b, c, d := xr[j][:n], xi[j][:n], wr[j][:n], wi[j][:n]
		e, f, g, h := xr[j+1][:n], xi[j+1][:n], wr[j+1][:n], wi[j+1][:n]
		for k := range or {
			or[k] += a[k]*c[k] - b[k]*d[k] + e[k]*g[k] - f[k]*h[k]
			oi[k] += a[k]*d[k] + b[k]*c[k] + e[k]*h[k] + f[k]*g[k]
		}
	}
	for ; j < len(wr); j++ {
		a, b, c, d := xr[j][:n], xi[j][:n], wr[j][:n], wi[j][:n]
		for k := range or {
			or[k] += a[k]*c[k] - b[k]*d[k]
			oi[k] += a[k]*d[k] + b[k]*c[k]
		}
	}
}

func energy(x []float32) float64 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+3 < len(x); i += 4 {
		s0 += x[i] * x[i]
		s1 += x[i+1] * x[i+1]
		s2 += x[i+2] * x[i+2]
		s3 += x[i+3] * x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * x[i]
	}
	return float64(s0+s1) + float64(s2+s3)
}

func powerSpectrum(re, im, out []float32) {
	im = im[:len(re)]
	out = out[:len(re)]
	for k := range re {
		out[k] = re[k]*re[k] + im[k]*im[k]
	}
}

// pushFar appends one block of pre-emphasized far-end samples and
// transforms the last two blocks.
func (c *mdf) pushFar(x []float32) {
	n := c.n
	copy(c.xwin, c.xwin[n:])
	copy(c.xwin[n:], x[:n])
	// Rotate the spectra: the oldest buffers become the newest.
	lr, li := c.xr[c.m], c.xi[c.m]
	copy(c.xr[1:], c.xr[:c.m])
	copy(c.xi[1:], c.xi[:c.m])
	c.xr[0], c.xi[0] = lr, li
	c.fft.forward(c.xwin, c.xr[0], c.xi[0])
}

// loadFar replaces the far history: window(j, buf) must fill buf (2n) with
// the pre-emphasized far-end samples of the window that ended j blocks ago
// (j = 0 is the current one). The echo canceller calls it when it moves
// the far end's alignment.
func (c *mdf) loadFar(window func(j int, buf []float32)) {
	for j := 0; j <= c.m; j++ {
		window(j, c.tmp)
		if j == 0 {
			copy(c.xwin, c.tmp)
		}
		c.fft.forward(c.tmp, c.xr[j], c.xi[j])
	}
}

// process cancels the echo in one block: near is the microphone (n samples,
// int16 scale) and far the far end's block at the current alignment,
// already pre-emphasized (pushFar is called here). out receives the near
// block minus the echo estimate (n samples).
func (c *mdf) process(near, far, out []float32) {
	n, f := c.n, c.f
	// DC notch, then pre-emphasis, of the near end; a nearly clipping
	// microphone freezes adaptation for the block.
	den2 := c.notchR*c.notchR + 0.7*(1-c.notchR)*(1-c.notchR)
	for i, v := range near[:n] {
		vout := c.notch[0] + v
		c.notch[0] = c.notch[1] + 2*(-v+c.notchR*vout)
		c.notch[1] = v - den2*vout
		s := c.notchR * vout
		c.input[i] = s - c.preemph*c.memD
		c.memD = s
		if v <= -32000 || v >= 32000 {
			if c.saturated == 0 {
				c.saturated = 1
			}
		}
	}
	c.pushFar(far)

	// Foreground filter: the output's echo estimate.
	spectralMulAccum(c.xr, c.xi, c.fr, c.fi, c.sr, c.si)
	c.fft.inverse(c.sr, c.si, c.y)
	for i := range n {
		c.yfg[i] = c.y[n+i]
		c.e[i] = c.input[i] - c.yfg[i]
	}
	sff := energy(c.e[:n])

	// Background filter.
	spectralMulAccum(c.xr, c.xi, c.wr, c.wi, c.sr, c.si)
	c.fft.inverse(c.sr, c.si, c.y)
	ybg := c.y[n:]
	var dbf float64 = 10
	for i := range n {
		d := c.yfg[i] - ybg[i]
		dbf += float64(d * d)
		c.e[i] = c.input[i] - ybg[i]
	}
	see := energy(c.e[:n])

	// Two-path logic: is the background filter significantly better (or
	// worse) than the foreground, over two time windows?
	diff := sff - see
	c.davg1 = 0.6*c.davg1 + 0.4*diff
	c.davg2 = 0.85*c.davg2 + 0.15*diff
	c.dvar1 = mdfVar1Smooth*c.dvar1 + 0.16*sff*dbf
	c.dvar2 = mdfVar2Smooth*c.dvar2 + 0.0225*sff*dbf
	yout := c.yfg
	switch {
	case diff*math.Abs(diff) > sff*dbf,
		c.davg1*math.Abs(c.davg1) > mdfVar1Update*c.dvar1,
		c.davg2*math.Abs(c.davg2) > mdfVar2Update*c.dvar2:
		c.davg1, c.davg2, c.dvar1, c.dvar2 = 0, 0, 0, 0
		for j := range c.m {
			copy(c.fr[j], c.wr[j])
			copy(c.fi[j], c.wi[j])
		}
		// Crossfade from the old foreground to the new one.
		for i := range n {
			c.yfg[i] = c.window[i+n]*c.yfg[i] + c.window[i]*ybg[i]
		}
	case -diff*math.Abs(diff) > mdfVarBacktrk*sff*dbf,
		-c.davg1*math.Abs(c.davg1) > mdfVarBacktrk*c.dvar1,
		-c.davg2*math.Abs(c.davg2) > mdfVarBacktrk*c.dvar2:
		// The background diverged: restart it from the foreground.
		for j := range c.m {
			copy(c.wr[j], c.fr[j])
			copy(c.wi[j], c.fi[j])
		}
		for i := range n {
			ybg[i] = c.yfg[i]
			c.e[i] = c.input[i] - ybg[i]
		}
		see = sff
		c.davg1, c.davg2, c.dvar1, c.dvar2 = 0, 0, 0, 0
	}

	// Output, de-emphasized.
	for i := range n {
		v := c.input[i] - yout[i] + c.preemph*c.memE
		c.memE = v
		out[i] = v
	}

	// Error and echo estimate spectra for the update.
	copy(c.tmp[n:], c.e[:n])
	clear(c.tmp[:n])
	sey, syy, sdd := 0.0, 0.0, energy(c.input[:n])
	for i := range n {
		sey += float64(c.e[i] * ybg[i])
		syy += float64(ybg[i] * ybg[i])
	}
	c.lastSdd, c.lastSff = sdd, sff
	c.fft.forward(c.tmp, c.er, c.ei)
	clear(c.y[:n])
	c.fft.forward(c.y, c.sr, c.si)
	powerSpectrum(c.er, c.ei, c.rf)
	powerSpectrum(c.sr, c.si, c.yf)

	// Sanity: a filter that adds echo instead of removing it for a second
	// is reset.
	sxx := energy(c.xwin[n:])
	c.lastSxx = sxx
	switch {
	case !(syy >= 0 && sxx >= 0 && see >= 0) || !(sff < float64(f)*1e9 && syy < float64(f)*1e9 && sxx < float64(f)*1e9):
		c.screwedUp += 50
		clear(out[:n])
	case sff/4 > sdd+float64(f)*10000/64:
		c.screwedUp++
	default:
		c.screwedUp = 0
	}
	if c.screwedUp >= 50 {
		c.resets++
		c.reset()
		return
	}
	see = max(see, float64(f)*100/64)
	// speexdsp adds the far energy twice; its rates are tuned with that.
	sxx2 := 2 * sxx

	// Far-end power, smoothed over time.
	powerSpectrum(c.xr[0], c.xi[0], c.xf)
	ss := float32(0.35 / float64(c.m))
	for k := range c.power {
		c.power[k] = (1-ss)*c.power[k] + 1 + ss*c.xf[k]
	}

	// Leak: the linear regression of the error's power on the echo
	// estimate's, over frequency, smoothed over time.
	pey, pyy := 1.0, 1.0
	sa := float32(c.specAverage)
	for k := range c.rf {
		eh := float64(c.rf[k] - c.eh[k])
		yh := float64(c.yf[k] - c.yh[k])
		pey += eh * yh
		pyy += yh * yh
		c.eh[k] = (1-sa)*c.eh[k] + sa*c.rf[k]
		c.yh[k] = (1-sa)*c.yh[k] + sa*c.yf[k]
	}
	pyy = math.Sqrt(pyy)
	pey /= pyy
	alpha := min(c.beta0*syy, c.betaMx*see) / see
	c.pey = (1-alpha)*c.pey + alpha*pey
	c.pyy = (1-alpha)*c.pyy + alpha*pyy
	c.pyy = max(c.pyy, 1)
	c.pey = min(max(c.pey, mdfMinLeak*c.pyy), c.pyy)
	c.leak = c.pey / c.pyy

	// Residual-to-error ratio, bounded below by the echo estimate's share
	// of the error.
	rer := (0.0001*sxx2 + 3*c.leak*syy) / see
	rer = max(rer, sey*sey/(1+see*syy))
	rer = min(rer, 0.5)

	if !c.adapted && c.sumAdapt > float64(c.m) && c.leak*syy > 0.03*syy {
		c.adapted = true
	}
	if c.adapted {
		leak := float32(c.leak)
		for k := range c.power1 {
			e := c.rf[k] + 1
			r := min(leak*c.yf[k], 0.5*e)
			r = 0.7*r + 0.3*float32(rer)*e
			c.power1[k] = r / (e * (c.power[k] + 10))
		}
	} else {
		rate := 0.0
		if sxx2 > float64(f)*1000/64 {
			rate = min(0.25*sxx2, 0.25*see) / see
		}
		for k := range c.power1 {
			c.power1[k] = float32(rate) / (c.power[k] + 10)
		}
		c.sumAdapt += rate
	}

	c.update()
}

// update adapts the background filter with the last block's error and
// applies the gradient constraint to one partition (plus the first).
func (c *mdf) update() {
	c.count++
	if c.adapted {
		c.adjustProp()
	}
	if c.saturated == 0 {
		for j := range c.m {
			p := c.prop[j]
			xr, xi := c.xr[j][:len(c.er)], c.xi[j][:len(c.er)]
			wr, wi := c.wr[j][:len(c.er)], c.wi[j][:len(c.er)]
			ei, p1 := c.ei[:len(c.er)], c.power1[:len(c.er)]
			for k, er := range c.er {
				g := p * p1[k]
				// conj(X)·E
				wr[k] += g * (xr[k]*er + xi[k]*ei[k])
				wi[k] += g * (xr[k]*ei[k] - xi[k]*er)
			}
		}
	} else {
		c.saturated--
	}
	for j := range c.m {
		if c.count%c.m == j {
			c.constrain(j)
		}
	}
}

// constrain zeroes the second half of partition j's impulse response, so
// the filter stays a linear (not circular) convolution.
func (c *mdf) constrain(j int) {
	c.fft.inverse(c.wr[j], c.wi[j], c.tmp)
	clear(c.tmp[c.n:])
	c.fft.forward(c.tmp, c.wr[j], c.wi[j])
}

// adjustProp shares the step between partitions in proportion to their
// energy (proportionate adaptation), plus a floor.
func (c *mdf) adjustProp() {
	maxSum := float32(1)
	for j := range c.m {
		s := energy(c.wr[j]) + energy(c.wi[j])
		c.prop[j] = float32(math.Sqrt(1 + s))
		maxSum = max(maxSum, c.prop[j])
	}
	sum := float32(1)
	for j := range c.prop {
		c.prop[j] += 0.1 * maxSum
		sum += c.prop[j]
	}
	for j := range c.prop {
		c.prop[j] = 0.99 * c.prop[j] / sum
	}
}

// shift moves the foreground filter's impulse response by s samples (later
// if s > 0), keeping it consistent with a far end whose alignment moved by
// -s, and the background's too, or, if restart, restarts the background
// from the foreground. h is scratch of m·n samples.
func (c *mdf) shift(s int, h []float32, restart bool) {
	which := [][2][][]float32{{c.fr, c.fi}, {c.wr, c.wi}}
	if restart {
		which = which[:1]
	}
	for _, w := range which {
		if s == 0 {
			break
		}
		wr, wi := w[0], w[1]
		for j := range c.m {
			c.fft.inverse(wr[j], wi[j], c.tmp)
			copy(h[j*c.n:(j+1)*c.n], c.tmp[:c.n])
		}
		shiftSamples(h, s)
		for j := range c.m {
			copy(c.tmp, h[j*c.n:(j+1)*c.n])
			clear(c.tmp[c.n:])
			c.fft.forward(c.tmp, wr[j], wi[j])
		}
	}
	if restart {
		for j := range c.m {
			copy(c.wr[j], c.fr[j])
			copy(c.wi[j], c.fi[j])
		}
		c.davg1, c.davg2, c.dvar1, c.dvar2 = 0, 0, 0, 0
	}
	// The error spectrum belongs to the old alignment.
	clear(c.er)
	clear(c.ei)
}
