package voice

import (
	"fmt"
	"math"
	"strings"
)

// Rate is the sample rate of Process's signals, and FrameSamples the
// length of one frame: 20 ms.
const (
	Rate         = 48000
	FrameSamples = Rate / 50
)

// Internal rates and sizes.
const (
	lowRate  = 16000
	lowFrame = FrameSamples / 3 // 320
	hop      = lowFrame / 2     // 10 ms at 16 kHz
)

// NSLevel is how hard noise suppression works.
type NSLevel int

const (
	// NSOff leaves the noise alone.
	NSOff NSLevel = iota
	// NSLow takes up to 12 dB off stationary noise.
	NSLow
	// NSHigh takes up to 20 dB off stationary noise.
	NSHigh
)

func (l NSLevel) String() string {
	switch l {
	case NSOff:
		return "off"
	case NSLow:
		return "low"
	case NSHigh:
		return "high"
	}
	return fmt.Sprintf("NSLevel(%d)", int(l))
}

// floor is the level's noise gain floor, in power.
func (l NSLevel) floor() float32 {
	switch l {
	case NSLow:
		return 0.063 // -12 dB
	case NSHigh:
		return 0.01 // -20 dB
	}
	return 1
}

// ParseNS parses an --ns value: off, low or high.
func ParseNS(s string) (NSLevel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off":
		return NSOff, nil
	case "low":
		return NSLow, nil
	case "high":
		return NSHigh, nil
	}
	return NSOff, fmt.Errorf("--ns %q: want off, low or high", s)
}

// ParseOnOff parses an --aec or --agc value: on or off.
func ParseOnOff(flag, s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("--%s %q: want on or off", flag, s)
}

// Config says which stages run.
type Config struct {
	AEC bool    // acoustic echo cancellation
	NS  NSLevel // noise suppression
	AGC bool    // automatic gain control
}

// Default is what a phone runs unless told otherwise: everything on.
var Default = Config{AEC: true, NS: NSHigh, AGC: true}

// Off runs nothing.
var Off = Config{}

// Enabled reports whether any stage runs.
func (c Config) Enabled() bool { return c.AEC || c.NS != NSOff || c.AGC }

// String describes the configuration for a header line: "AEC on · NS high
// · AGC on".
func (c Config) String() string {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	return fmt.Sprintf("AEC %s · NS %s · AGC %s", onOff(c.AEC), c.NS, onOff(c.AGC))
}

// Stats describe what the processor is doing, for diagnostics.
type Stats struct {
	// EchoDelay is the delay from the far end to its echo, in
	// milliseconds, as the echo canceller has it aligned; -1 while it has
	// not found one (no echo, or not enough far-end audio yet).
	EchoDelay float64
	// ERLE is the linear filter's echo return loss enhancement over the
	// last second of far-end activity, in dB (0 when unknown).
	ERLE float64
	// Realigns counts how often the delay was found or followed.
	Realigns int
	// Resets counts the times the adaptive filter diverged and restarted.
	Resets int
	// GainDB is the automatic gain control's gain.
	GainDB float64
	// NoiseDBFS is the estimated noise level in the low band.
	NoiseDBFS float64
}

// Processor cleans the microphone: echo cancellation against the far end
// that was played, noise suppression and gain control, on 20 ms frames at
// 48 kHz. It is not safe for concurrent use; Process allocates nothing.
//
// The output is the input delayed by 11.2 ms (the band split and the
// spectral stage's overlap), or, with every stage off, not at all.
type Processor struct {
	cfg Config

	dec, decFar *decimator
	up          *interpolator
	aec         *echoCanceller
	pf          *postfilter
	agc         *agc

	near16, far16, e16, y16 []float32 // lowFrame
	proc16                  []float32 // post-filtered low band, lowFrame
	lowDelay                []float32 // the raw low band, one hop behind
	diff16                  []float32 // proc16 - g·(delayed raw low band)
	up48                    []float32
	farWin                  []float32 // 2·hop
	out48                   []float32
	nearDelay               []float32 // the 48 kHz input, delayed (see Process)
	gHighPrev               float32
	highPrev                float64
	hopGains                [2][]float32 // per hop: what a shadow replays
	hopHigh                 [2]float32
	speech                  bool
	leakSum, erleSdd        float64
	erleSee                 float64
	erleBlocks              int
	erle                    float64

	// replayOf, if set (tests), makes this processor replay the gains of
	// another one, which processes the same frames in lockstep just
	// before it, without echo subtraction: it shows what that processor
	// did to one component of its input (the near-end speech, the noise).
	replayOf *Processor
}

// totalDelay is the processor's delay at 48 kHz: the split filters', plus
// one hop of the spectral stage.
const totalDelay = splitDelay + 3*hop

// Delay is the processor's delay in samples at 48 kHz (0 when no stage
// runs: the frames pass untouched).
func (p *Processor) Delay() int {
	if !p.cfg.Enabled() {
		return 0
	}
	return totalDelay
}

// New returns a processor for cfg.
func New(cfg Config) *Processor {
	taps := splitFilter()
	vec := func(l int) []float32 { return make([]float32, l) }
	p := &Processor{
		cfg:       cfg,
		dec:       newDecimator(taps, FrameSamples),
		decFar:    newDecimator(taps, FrameSamples),
		up:        newInterpolator(taps, lowFrame),
		aec:       newEchoCanceller(lowRate),
		pf:        newPostfilter(hop, lowRate),
		agc:       newAGC(FrameSamples),
		near16:    vec(lowFrame),
		far16:     vec(lowFrame),
		e16:       vec(lowFrame),
		y16:       vec(lowFrame),
		proc16:    vec(lowFrame),
		lowDelay:  vec(lowFrame + hop),
		diff16:    vec(lowFrame),
		up48:      vec(FrameSamples),
		farWin:    vec(2 * hop),
		out48:     vec(FrameSamples),
		nearDelay: vec(totalDelay + FrameSamples),
		gHighPrev: 1,
	}
	p.hopGains[0], p.hopGains[1] = vec(hop+1), vec(hop+1)
	p.pf.noiseFloor = cfg.NS.floor()
	return p
}

// Config returns the configuration the processor runs.
func (p *Processor) Config() Config { return p.cfg }

// Reset forgets everything learned: for a new call, whose echo path and
// noise are not the last one's. It allocates (a new processor's worth),
// which a call's start can afford.
func (p *Processor) Reset() {
	*p = *New(p.cfg)
}

// Process cleans one frame of the microphone, near (FrameSamples samples,
// changed in place), given far, the frame that was sent to the loudspeaker
// at the same time (FrameSamples samples), or nil when nothing is played
// (no loudspeaker: there is no echo to cancel). Far frames must come in
// step with near frames: the echo canceller finds the delay between them
// (up to 320 ms) and follows it.
func (p *Processor) Process(near, far []int16) {
	if !p.cfg.Enabled() {
		return
	}
	near = near[:FrameSamples]
	p.dec.process(near, p.near16)
	aecOn := p.cfg.AEC && far != nil && p.replayOf == nil
	switch {
	case aecOn:
		p.decFar.process(far[:FrameSamples], p.far16)
		p.aec.process(p.near16, p.far16, p.e16)
		for i := range p.e16 {
			p.y16[i] = p.near16[i] - p.e16[i]
		}
		p.noteERLE()
	default:
		copy(p.e16, p.near16)
	}

	// The spectral stage, in two hops.
	speech := false
	for hp := range 2 {
		e := p.e16[hp*hop : (hp+1)*hop]
		p.pf.transform(e)
		gains := p.pf.gain
		if p.replayOf != nil {
			gains = p.replayOf.hopGains[hp]
			p.hopHigh[hp] = p.replayOf.hopHigh[hp]
		} else {
			p.pf.setHigh(p.highPower(near, hp))
			var y, fw []float32
			if aecOn {
				y = p.y16[hp*hop : (hp+1)*hop]
				fw = p.farWindow(hp)
			}
			p.pf.estimate(y, fw, lowRate)
			copy(p.hopGains[hp], gains)
			p.hopHigh[hp] = p.pf.gHigh
			speech = speech || p.pf.speech
		}
		p.pf.apply(gains, p.proc16[hp*hop:(hp+1)*hop])
	}
	p.speech = speech

	// Recombine: processed low band plus the band above at its gain. The
	// raw low band is delayed by the spectral stage's hop to line up.
	copy(p.lowDelay[:hop], p.lowDelay[lowFrame:])
	copy(p.lowDelay[hop:], p.near16)
	for i := range p.diff16 {
		g := p.highGain(i * 3)
		p.diff16[i] = p.proc16[i] - g*p.lowDelay[i]
	}
	p.up.process(p.diff16, p.up48)
	// nearDelay holds the input's last totalDelay samples, then this
	// frame: its first FrameSamples are the delayed input.
	d := p.nearDelay
	for i, v := range near {
		d[totalDelay+i] = float32(v)
	}
	for i, x := range d[:FrameSamples] {
		p.out48[i] = p.up48[i] + p.highGain(i)*x
	}
	copy(d, d[FrameSamples:])
	p.gHighPrev = p.hopHigh[1]

	if p.cfg.AGC {
		if p.replayOf != nil {
			p.agc.lim.replay(p.out48, p.replayOf.agc.gains)
		} else {
			p.agc.process(p.out48, speech)
		}
	}
	for i, v := range p.out48 {
		near[i] = toSample(v)
	}
}

// highPower returns the energy of the band above the low band in the
// post-filter's window for hop hp: the input's energy less the low band's,
// over the last two hops.
func (p *Processor) highPower(near []int16, hp int) float32 {
	var e48 float64
	for _, v := range near[hp*3*hop : (hp+1)*3*hop] {
		e48 += float64(v) * float64(v)
	}
	e16 := 3 * energy(p.near16[hp*hop:(hp+1)*hop])
	h := e48 - e16
	w := h + p.highPrev
	p.highPrev = h
	return float32(max(w, 0))
}

// farWindow returns the raw far end's 20 ms window aligned with the echo
// in the post-filter's window for hop hp of this frame: at the delay found,
// or, while there is none (no far end yet, or one too narrow to tell, a
// tone), where the filter's alignment expects it.
func (p *Processor) farWindow(hp int) []float32 {
	a := p.aec
	delay := a.delay
	if delay < 0 {
		delay = a.offset + alignMargin
	}
	end := a.farCount - lowFrame + (hp+1)*hop - delay
	a.rawAt(end, p.farWin)
	return p.farWin
}

// highGain is the gain of the band above the low band at sample i (48 kHz)
// of the frame: a ramp from the last hop's gain to each hop's, in step
// with the low band's output.
func (p *Processor) highGain(i int) float32 {
	const h = 3 * hop
	if i < h {
		return p.gHighPrev + (p.hopHigh[0]-p.gHighPrev)*float32(i+1)/h
	}
	return p.hopHigh[0] + (p.hopHigh[1]-p.hopHigh[0])*float32(i-h+1)/h
}

// noteERLE accumulates the linear filter's echo reduction while the far end
// is active.
func (p *Processor) noteERLE() {
	m := p.aec.mdf
	if !m.adapted || m.lastSxx < float64(m.n)*1000 {
		return
	}
	p.erleSdd += m.lastSdd
	p.erleSee += m.lastSff
	p.erleBlocks++
	if p.erleBlocks == 50 {
		if p.erleSdd > 50*float64(m.n)*100 {
			p.erle = 10 * math.Log10(p.erleSdd/(p.erleSee+1))
		}
		p.erleSdd, p.erleSee, p.erleBlocks = 0, 0, 0
	}
}

// ReferenceJumped tells the processor that the far end it is given moved
// against the microphone at once (a device stalled and the caller paired
// them anew). The echo canceller finds the new delay by itself; the
// suppressor's coherence with the far end would take a while to show the
// echo again, so it starts afresh, at full suppression, meanwhile, and the
// delay estimator looks for the new delay with short averages.
func (p *Processor) ReferenceJumped() {
	p.pf.restartCoherence()
	p.aec.expectChange()
}

// Speech reports whether the last frame held near-end speech (the voice
// activity decision the gain control uses).
func (p *Processor) Speech() bool { return p.speech }

// Stats returns what the processor is doing.
func (p *Processor) Stats() Stats {
	st := Stats{EchoDelay: -1, ERLE: p.erle, GainDB: p.agc.gainDB}
	if d := p.aec.delay; d >= 0 {
		st.EchoDelay = float64(d) * 1000 / lowRate
	}
	st.Realigns = p.aec.realigns
	st.Resets = p.aec.mdf.resets
	var n float64
	for _, v := range p.pf.noise[:p.pf.bins] {
		n += float64(v)
	}
	// Parseval, for a spectrum scaled by 1/size of a sqrt-Hann windowed
	// frame (Σw² = size/2), one-sided: the mean square is 4·Σ.
	st.NoiseDBFS = 10 * math.Log10(4*n/fullScaleSineMS+1e-12)
	return st
}

// toSample rounds v to the nearest sample value, saturating.
func toSample(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}
