package voice

// echoCanceller is the linear stage of acoustic echo cancellation: the far
// end's history, the delay estimator that aligns it with the microphone,
// and the adaptive filter (mdf) that models what lies between: the room,
// the loudspeaker and the microphone, for filterBlocks·n samples from just
// before the main arrival.
//
// The filter spans 200 ms; the estimator finds delays up to 320 ms and puts
// the filter's start alignMargin before the main arrival, so the tail
// after it is 180 ms. When the delay moves (another device, a buffer that
// grew, clock drift), the far end's alignment moves with it, and the
// filter keeps what it learned: its impulse response is moved too, or not,
// whichever explains the last block better (a jump leaves the path as it
// was, only later; drift has already been followed by the filter).
type echoCanceller struct {
	n   int
	mdf *mdf
	est *delayEstimator

	hist     []float32 // far end, pre-emphasized, ring
	raw      []float32 // far end, as played, ring
	farCount int       // samples written to hist
	farMem   float32   // pre-emphasis state of the far end
	nearMem  float32   // pre-emphasis state of the near end (estimator)
	nearPre  []float32
	farPre   []float32
	farBlock []float32
	h        []float32 // impulse response scratch
	trial    []float32 // scratch for hypothesis tests
	tr, ti   []float32

	offset int // far alignment: the filter's far block ends offset samples ago
	delay  int // accepted delay, samples; -1 until one is found

	// Acquisition: a run of absolute estimates within acquireTolerance.
	cand, candMin, candSeen int
	// Tracking: the echo path's signature at the accepted delay, and a run
	// of relative moves within candTolerance.
	refR, refI       []float32
	refK             int
	relCand, relSeen int
	lost, sinceAlign int

	// The last filter known to work (see watchGood).
	goodR, goodI     [][]float32
	goodValid        bool
	goodBlocks       int
	goodSdd, goodSee float64

	realigns int

	// Change detection (see watchChange).
	shortSdd, shortSff, longSdd, longSff float64
	suspect                              int
}

const (
	aecBlock     = 320 // 20 ms at 16 kHz
	filterBlocks = 10  // 200 ms of filter
	delayLags    = 16  // delays up to 16·20 ms = 320 ms
	// alignMargin is how much filter lies before the main arrival: the
	// direct sound may be weaker than an early reflection, and in a
	// reverberant room the strongest arrival comes up to ~20 ms after
	// the first.
	alignMargin = 640 // 40 ms
	// acquireTolerance and candNeeded: the first delay is taken once the
	// estimates have stayed within 5 ms of each other for 5 active blocks
	// (100 ms).
	acquireTolerance = 80
	candNeeded       = 5
	// acquireAfter: the first estimates, from short averages, are not
	// used (0.5 s of far end).
	acquireAfter = 25
	// candTolerance: the relative moves must agree to 2 samples.
	candTolerance = 2
	// moveThreshold: smaller moves are left to the filter, which follows
	// them by adapting.
	moveThreshold = 16 // 1 ms
	// minCoherence is the estimator's confidence needed to act, and
	// minRelRatio the signature comparison's.
	minCoherence = 0.05
	minRelRatio  = 8.0
	// refreshAfter: the signature is taken again this many active blocks
	// after an alignment (1 s).
	refreshAfter = 50
	// suspectBlocks and suspectAlpha: how long, and how fast, the delay
	// estimator averages once a change of the echo path is suspected.
	suspectBlocks = 30
	suspectAlpha  = 0.3
	// goodEvery: blocks per check of the filter's performance (1 s).
	goodEvery = 50
	// lostBlocks: after this many active blocks (2 s) without the
	// signature, the path is aligned afresh.
	lostBlocks = 100
)

func newEchoCanceller(rate int) *echoCanceller {
	n := aecBlock
	c := &echoCanceller{
		n:        n,
		mdf:      newMDF(n, filterBlocks, rate),
		est:      newDelayEstimator(n, delayLags, rate),
		hist:     make([]float32, 16384),
		raw:      make([]float32, 16384),
		nearPre:  make([]float32, n),
		farPre:   make([]float32, n),
		farBlock: make([]float32, n),
		h:        make([]float32, filterBlocks*n),
		trial:    make([]float32, 2*n),
		tr:       make([]float32, n+1),
		ti:       make([]float32, n+1),
		delay:    -1,
	}
	for range filterBlocks {
		c.goodR = append(c.goodR, make([]float32, n+1))
		c.goodI = append(c.goodI, make([]float32, n+1))
	}
	c.refR = make([]float32, c.est.hi-c.est.lo+1)
	c.refI = make([]float32, c.est.hi-c.est.lo+1)
	return c
}

func (c *echoCanceller) reset() {
	c.mdf.reset()
	c.est.reset()
	clear(c.hist)
	clear(c.raw)
	c.farCount = 0
	c.farMem, c.nearMem = 0, 0
	c.offset, c.delay = 0, -1
	c.cand, c.candMin, c.candSeen = 0, 0, 0
	c.relCand, c.relSeen, c.lost, c.sinceAlign = 0, 0, 0, 0
	c.shortSdd, c.shortSff, c.longSdd, c.longSff, c.suspect = 0, 0, 0, 0, 0
	c.est.alpha = delayAlpha
	c.goodValid = false
	c.goodBlocks, c.goodSdd, c.goodSee = 0, 0, 0
}

// farAt copies the pre-emphasized far end [end-len(dst), end) into dst,
// where end counts samples since the start; samples never written read 0.
func (c *echoCanceller) farAt(end int, dst []float32) { c.readRing(c.hist, end, dst) }

// rawAt is farAt for the far end as played (not pre-emphasized).
func (c *echoCanceller) rawAt(end int, dst []float32) { c.readRing(c.raw, end, dst) }

func (c *echoCanceller) readRing(ring []float32, end int, dst []float32) {
	mask := len(ring) - 1
	start := end - len(dst)
	for i := range dst {
		p := start + i
		if p < 0 || p < c.farCount-len(ring) || p >= c.farCount {
			dst[i] = 0
			continue
		}
		dst[i] = ring[p&mask]
	}
}

// process cancels the echo of far (16 kHz, n samples, int16 scale) in near
// (the same), into out.
func (c *echoCanceller) process(near, far, out []float32) {
	n := c.n
	mask := len(c.hist) - 1
	for i, v := range far[:n] {
		p := v - mdfPreemph*c.farMem
		c.farMem = v
		c.farPre[i] = p
		c.hist[(c.farCount+i)&mask] = p
		c.raw[(c.farCount+i)&mask] = v
	}
	c.farCount += n
	for i, v := range near[:n] {
		c.nearPre[i] = v - mdfPreemph*c.nearMem
		c.nearMem = v
	}

	c.farAt(c.farCount-c.offset, c.farBlock)
	c.mdf.process(near, c.farBlock, out)
	c.watchGood()
	c.watchChange()

	if c.est.update(c.nearPre, c.farPre) {
		c.follow()
	}
}

// follow acts on the delay estimator's latest result. Until a delay is
// known, it waits for the estimate to settle, then aligns the filter's
// start alignMargin before the earliest of the settled estimates. From then
// on it compares the echo path's signature with the one taken at that
// alignment: a move of 1 ms or more, stable for 100 ms, moves the
// alignment by exactly that much. If the signature is lost for 2 s (a
// different path altogether) while the estimate settles elsewhere, it
// aligns afresh.
func (c *echoCanceller) follow() {
	e := c.est
	if !e.haveResult || e.coherence < minCoherence {
		c.candSeen = 0
		return
	}
	if c.delay < 0 {
		if e.updates < acquireAfter {
			return
		}
		if d := e.absolute(); d < 0 {
			c.candSeen = 0
		} else if c.settle(d) {
			c.realign(c.candMin)
		}
		return
	}
	c.sinceAlign++
	if c.sinceAlign == refreshAfter {
		// Take the signature again once the averages hold only the new
		// alignment.
		c.refK = e.snapshot(c.refR, c.refI)
	}
	if e.updates%2 == 1 && c.relSeen == 0 && c.lost == 0 {
		// Between changes the signature is compared every other block:
		// a move shows within two, and is confirmed block by block.
		return
	}
	rel, ratio := e.relative(c.refR, c.refI, c.refK)
	if ratio < minRelRatio {
		c.relSeen = 0
		c.lost++
		if c.lost >= lostBlocks {
			if d := e.absolute(); d >= 0 && c.settle(d) && abs(c.candMin-c.delay) > moveThreshold {
				c.realign(c.candMin)
			}
		}
		return
	}
	c.lost = 0
	if c.relSeen > 0 && abs(rel-c.relCand) <= candTolerance {
		c.relSeen++
	} else {
		c.relCand, c.relSeen = rel, 1
	}
	if c.relSeen >= candNeeded && abs(c.relCand) >= moveThreshold {
		c.realign(c.delay + c.relCand)
	}
}

// settle feeds one absolute estimate to the candidate run and reports
// whether the run is long enough to act on.
func (c *echoCanceller) settle(delay int) bool {
	if c.candSeen > 0 && abs(delay-c.cand) <= acquireTolerance {
		c.candSeen++
		c.candMin = min(c.candMin, delay)
	} else {
		c.cand, c.candMin, c.candSeen = delay, delay, 1
	}
	return c.candSeen >= candNeeded
}

// realign moves the far end's alignment for a main arrival at delay
// samples, and takes the echo path's signature there.
func (c *echoCanceller) realign(delay int) {
	// An echo before the sound that makes it is no echo the filter can
	// cancel: the earliest it can take is no delay at all.
	// Nor does the far end's history reach further than the estimator.
	delay = min(max(delay, 0), delayLags*c.n)
	old, oldOffset := c.delay, c.offset
	c.delay = delay
	c.offset = max(0, delay-alignMargin)
	c.realigns++
	c.candSeen, c.relSeen, c.lost, c.sinceAlign = 0, 0, 0, 0
	c.refK = c.est.snapshot(c.refR, c.refI)
	if c.suspect > 0 {
		c.suspect = 1 // back to the slow average after this block
	}
	dOff := c.offset - oldOffset

	// Reload the far spectra at the new alignment, up to this block.
	c.mdf.loadFar(func(j int, buf []float32) {
		c.farAt(c.farCount-c.offset-j*c.n, buf)
	})
	if !c.mdf.adapted || dOff == 0 && old == delay {
		return
	}
	// Two explanations of the move: the echo path jumped (the filter
	// still holds it as it was, so its response moves by the path's move
	// minus the alignment's), or the filter already followed it (drift;
	// the response moves back by the alignment's move). The one that
	// explains the last block better wins. The first alignment has no
	// history: the filter learned at the old one.
	m := c.mdf
	tracked := -dOff
	jumped := tracked
	if old >= 0 {
		jumped = (delay - old) - dOff
	}
	shift, fromGood := jumped, false
	if jumped != tracked {
		best := c.trialError(m.fr, m.fi, jumped)
		if e := c.trialError(m.fr, m.fi, tracked); e < best {
			shift, best = tracked, e
		}
		// The filter may have learned the wrong thing while the path
		// had moved and the alignment had not yet: try the last filter
		// known to work, too.
		if c.goodValid {
			if e := c.trialError(c.goodR, c.goodI, jumped); e < best {
				shift, fromGood = jumped, true
			}
		}
	}
	if fromGood {
		for j := range m.m {
			copy(m.fr[j], c.goodR[j])
			copy(m.fi[j], c.goodI[j])
		}
	}
	m.shift(shift, c.h, fromGood)
	c.goodValid = false
	c.goodBlocks, c.goodSdd, c.goodSee = 0, 0, 0
}

// watchChange notices the echo path changing under the filter: the echo it
// removes drops by 10 dB at once, against its last second, with the far
// end active. Until the delay is followed (or for 600 ms) the delay
// estimator then averages over a few blocks instead of a dozen, so the new
// delay shows within a quarter second.
func (c *echoCanceller) watchChange() {
	m := c.mdf
	if c.suspect > 0 {
		c.suspect--
		if c.suspect == 0 {
			c.est.alpha = delayAlpha
		}
	}
	if !m.adapted || m.lastSxx < float64(m.n)*1000 {
		return
	}
	c.shortSdd = 0.5*c.shortSdd + 0.5*m.lastSdd
	c.shortSff = 0.5*c.shortSff + 0.5*m.lastSff
	c.longSdd = 0.96*c.longSdd + 0.04*m.lastSdd
	c.longSff = 0.96*c.longSff + 0.04*m.lastSff
	long := c.longSdd / (c.longSff + 1)
	short := c.shortSdd / (c.shortSff + 1)
	if c.delay >= 0 && long > 10 && short < long/10 && c.suspect == 0 {
		c.expectChange()
	}
}

// expectChange puts the delay estimator on short averages, as when a
// change of the echo path is suspected (see watchChange).
func (c *echoCanceller) expectChange() {
	c.suspect = suspectBlocks
	c.est.alpha = suspectAlpha
}

// watchGood keeps a copy of the foreground filter from the last second in
// which it removed at least 10 dB of echo (while the far end was active).
func (c *echoCanceller) watchGood() {
	m := c.mdf
	if !m.adapted {
		return
	}
	c.goodSdd += m.lastSdd
	c.goodSee += m.lastSff
	c.goodBlocks++
	if c.goodBlocks < goodEvery {
		return
	}
	if c.goodSdd > 10*c.goodSee && c.goodSdd > float64(goodEvery*m.n)*100 {
		for j := range m.m {
			copy(c.goodR[j], m.fr[j])
			copy(c.goodI[j], m.fi[j])
		}
		c.goodValid = true
	}
	c.goodBlocks, c.goodSdd, c.goodSee = 0, 0, 0
}

// trialError is the energy of the last near block minus the echo estimate
// of filter wr, wi moved by s samples, at the current alignment. It changes
// no filter.
func (c *echoCanceller) trialError(wr, wi [][]float32, s int) float64 {
	m := c.mdf
	n := m.n
	// Build the shifted impulse response once, then filter partition by
	// partition.
	for j := range m.m {
		m.fft.inverse(wr[j], wi[j], m.tmp)
		copy(c.h[j*n:(j+1)*n], m.tmp[:n])
	}
	shiftSamples(c.h, s)
	clear(m.sr)
	clear(m.si)
	for j := range m.m {
		copy(m.tmp, c.h[j*n:(j+1)*n])
		clear(m.tmp[n:])
		m.fft.forward(m.tmp, c.tr, c.ti)
		xr, xi := m.xr[j], m.xi[j]
		for k := range m.sr {
			m.sr[k] += xr[k]*c.tr[k] - xi[k]*c.ti[k]
			m.si[k] += xr[k]*c.ti[k] + xi[k]*c.tr[k]
		}
	}
	m.fft.inverse(m.sr, m.si, c.trial)
	var e float64
	for i := range n {
		d := m.input[i] - c.trial[n+i]
		e += float64(d * d)
	}
	return e
}

// shiftSamples moves h by s samples (later if s > 0), filling with zeros.
func shiftSamples(h []float32, s int) {
	switch {
	case s >= len(h) || -s >= len(h):
		clear(h)
	case s > 0:
		copy(h[s:], h[:len(h)-s])
		clear(h[:s])
	case s < 0:
		copy(h, h[-s:])
		clear(h[len(h)+s:])
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
