package audio

import (
	"fmt"
	"math"
)

// RingPattern selects the ringtone the pipeline mixes into the speaker.
type RingPattern int

const (
	// RingOff plays no ringtone.
	RingOff RingPattern = iota
	// RingIncoming is the ringer of an incoming call: a British-style
	// double ring, 400+450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off,
	// at -10 dBFS so it is heard across a room.
	RingIncoming
	// RingOutgoing is the ringback a caller hears while the other side
	// rings: the North American 440+480 Hz, 2 s on, 4 s off, at -20 dBFS.
	RingOutgoing
)

func (r RingPattern) String() string {
	switch r {
	case RingOff:
		return "off"
	case RingIncoming:
		return "incoming"
	case RingOutgoing:
		return "outgoing"
	}
	return fmt.Sprintf("RingPattern(%d)", int(r))
}

// ringSegment is one on or off stretch of a cadence, in samples.
type ringSegment struct {
	on  bool
	len int64
}

type ringSpec struct {
	f1, f2  float64 // the two tones, Hz
	amp     float64 // peak amplitude of the sum, fraction of full scale
	cadence []ringSegment
}

func ms(n int64) int64 { return n * SampleRate / 1000 }

var ringSpecs = [...]ringSpec{
	RingIncoming: {f1: 400, f2: 450, amp: 0.45, cadence: []ringSegment{
		{true, ms(400)}, {false, ms(200)}, {true, ms(400)}, {false, ms(2000)},
	}},
	RingOutgoing: {f1: 440, f2: 480, amp: 0.14, cadence: []ringSegment{
		{true, ms(2000)}, {false, ms(4000)},
	}},
}

// ringRamp is the fade in and out at each burst edge (10 ms), so the
// cadence does not click.
const ringRamp = SampleRate / 100

// Ringtone generates a RingPattern. The zero value is silent (RingOff).
type Ringtone struct {
	pattern RingPattern
	pos     int64 // samples since the pattern started
	period  int64
}

// NewRingtone returns a generator of pattern, starting at the beginning of
// its cadence.
func NewRingtone(pattern RingPattern) *Ringtone {
	r := &Ringtone{}
	r.Reset(pattern)
	return r
}

// Reset switches to pattern and restarts its cadence.
func (r *Ringtone) Reset(pattern RingPattern) {
	r.pattern, r.pos, r.period = pattern, 0, 0
	if pattern == RingIncoming || pattern == RingOutgoing {
		for _, s := range ringSpecs[pattern].cadence {
			r.period += s.len
		}
	}
}

// Pattern returns the current pattern.
func (r *Ringtone) Pattern() RingPattern { return r.pattern }

// Read fills pcm with the next samples of the ringtone (silence for RingOff).
func (r *Ringtone) Read(pcm []int16) {
	if r.period == 0 {
		clear(pcm)
		return
	}
	spec := &ringSpecs[r.pattern]
	for i := range pcm {
		pcm[i] = clamp16(math.Round(r.sample(spec) * math.MaxInt16))
		r.pos++
		if r.pos >= r.period {
			r.pos = 0
		}
	}
}

// sample returns the value at r.pos in -1..1.
func (r *Ringtone) sample(spec *ringSpec) float64 {
	off := r.pos
	for _, s := range spec.cadence {
		if off >= s.len {
			off -= s.len
			continue
		}
		if !s.on {
			return 0
		}
		env := 1.0
		if off < ringRamp {
			env = float64(off) / ringRamp
		} else if s.len-off < ringRamp {
			env = float64(s.len-off) / ringRamp
		}
		// The phase runs on the pattern clock, so it is continuous
		// within a burst and restarts cleanly at each one.
		t := float64(r.pos) / SampleRate
		return env * spec.amp / 2 * (math.Sin(2*math.Pi*spec.f1*t) + math.Sin(2*math.Pi*spec.f2*t))
	}
	return 0
}
