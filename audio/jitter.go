package audio

import (
	"fmt"
	"sync"
	"time"
)

// Jitter buffer tuning. Times are in samples at 48 kHz, the RTP clock of
// Opus, so timestamps and arrival times share one unit.
const (
	// MinTargetDelay and MaxTargetDelay bound the adaptive target delay.
	MinTargetDelay = 20 * time.Millisecond
	MaxTargetDelay = 200 * time.Millisecond

	// jbSlots is how many packets the buffer holds: 640 ms of 20 ms
	// packets, well above MaxTargetDelay. A power of two.
	jbSlots = 32
	// jitterFactor × the RFC 3550 jitter estimate is the delay the buffer
	// aims for (never under MinTargetDelay): a uniform delay spread over
	// X ms gives an estimate near X/3, so 4× covers the spread with a
	// margin, while the millisecond or two of scheduling noise on a clean
	// path stays under the 20 ms floor instead of nudging the target.
	jitterFactor = 4
	// shrinkRate is how fast the target delay falls back once jitter
	// drops: 10 ms per second, so a 100 ms excess takes 10 s to go. It
	// grows at once.
	shrinkRate = 0.010
	// skipSpacing is the least playout time between two frames dropped to
	// shrink the delay, so shrinking never sounds choppy.
	skipSpacing = 5 * FrameSamples
	// halfFrame is the tolerance of the playout schedule. Playout starts
	// when a packet is within half a frame of its target delay, so the
	// delay starts within ±10 ms of the target (the 20 ms playout clock
	// cannot do better). The buffer inserts a frame when the delay falls
	// more than insertBelow under the target and drops one when it rises
	// skipAbove over it: a band 25 ms wide, so one 20 ms correction never
	// lands outside it and the buffer cannot oscillate.
	halfFrame   = FrameSamples / 2
	insertBelow = halfFrame + 3*SampleRate/1000 // 13 ms
	skipAbove   = halfFrame + 2*SampleRate/1000 // 12 ms
	// maxDropout and maxMisorder bound a plausible sequence number step
	// (RFC 3550 A.1); a step outside them needs a second, consecutive
	// packet to be believed as a restart of the stream.
	maxDropout  = 3000
	maxMisorder = 100
	// baseBuckets × baseBucketLen is the window over which the buffer
	// tracks the smallest transit time, the path's fixed delay. A window
	// lets it follow clock drift and route changes.
	// lateResync consecutive late packets (200 ms of audio) mean the
	// timeline is wrong, not the network jittery: the buffer re-anchors.
	lateResync    = 10
	baseBuckets   = 4
	baseBucketLen = 5 * SampleRate / 2 // 2.5 s
)

// JitterStats are one remote stream's jitter buffer counters.
type JitterStats struct {
	// Received counts packets accepted: not duplicates, not invalid,
	// including late ones.
	Received uint64
	// Lost counts packets that never arrived by the time they were
	// needed and never arrived later either (late ones are in Late).
	// FEC-recovered packets are included: they were lost on the network.
	Lost uint64
	// FECRecovered counts lost packets rebuilt from the next packet's
	// in-band FEC data.
	FECRecovered uint64
	// Concealed counts frames (20 ms or less) synthesized by packet loss
	// concealment because audio was missing (loss or lateness; pauses in
	// the stream are not counted).
	Concealed uint64
	// Late counts packets that arrived after their playout time and were
	// dropped.
	Late uint64
	// Duplicates counts packets received twice.
	Duplicates uint64
	// Invalid counts payloads that are not Opus packets, and packets with
	// a wild sequence number.
	Invalid uint64
	// Inserted counts frames of concealment or silence inserted to grow
	// the delay to a higher target.
	Inserted uint64
	// Skipped counts frames dropped to shrink the delay (decoded, so the
	// codec state stays right, but not played).
	Skipped uint64
	// Resyncs counts restarts of the playout: a new SSRC, a sequence
	// number jump, a buffer overflow.
	Resyncs uint64
	// Jitter is the RFC 3550 §6.4.1 interarrival jitter estimate.
	Jitter time.Duration
	// TargetDelay is the delay the buffer currently aims for.
	TargetDelay time.Duration
	// Buffered is the number of packets waiting in the buffer.
	Buffered int
}

// DecisionKind says what the playout should do for the next stretch of a
// stream.
type DecisionKind int

const (
	// DecideSilence: play Samples of silence. Nothing has arrived yet, or
	// the stream pauses (DTX, or the sender stopped sending).
	DecideSilence DecisionKind = iota
	// DecideDecode: decode Payload, a packet of Samples samples. With
	// Discard set, decode it but do not play it: the buffer is shrinking.
	DecideDecode
	// DecideFEC: rebuild the Samples samples lost just before Payload (the
	// next packet) from its in-band FEC data.
	DecideFEC
	// DecideConceal: conceal Samples samples (packet loss concealment).
	DecideConceal
)

func (k DecisionKind) String() string {
	switch k {
	case DecideSilence:
		return "silence"
	case DecideDecode:
		return "decode"
	case DecideFEC:
		return "fec"
	case DecideConceal:
		return "conceal"
	}
	return fmt.Sprintf("DecisionKind(%d)", int(k))
}

// Decision is one step of the playout: what to produce for the next Samples
// samples of a stream.
type Decision struct {
	Kind    DecisionKind
	Samples int
	// Payload is a copy of the packet to decode (DecideDecode) or of the
	// packet carrying FEC data (DecideFEC), in the buffer given to Next.
	Payload []byte
	// Discard marks a packet decoded only to keep the codec state.
	Discard bool
	// Arrival is when the decoded packet was pushed (DecideDecode).
	Arrival time.Time
}

type jbSlot struct {
	valid   bool
	seq     int64 // extended sequence number
	ts      int64 // extended timestamp
	dur     int64 // samples
	arrival time.Time
	n       int
	payload [MaxPayload]byte
}

// baseWindow tracks the minimum transit time (arrival minus timestamp) over
// a sliding window of buckets.
type baseWindow struct {
	buckets [baseBuckets]struct {
		id  int64
		min int64
		ok  bool
	}
	last   int64
	haveIt bool
}

func (b *baseWindow) reset() { *b = baseWindow{} }

func (b *baseWindow) add(now, transit int64) {
	id := floorDiv(now, baseBucketLen)
	s := &b.buckets[mod(id, baseBuckets)]
	if !s.ok || s.id != id {
		s.id, s.min, s.ok = id, transit, true
	} else if transit < s.min {
		s.min = transit
	}
	if v, ok := b.scan(now); ok {
		b.last, b.haveIt = v, true
	}
}

// get returns the minimum transit over the window ending at now, or the last
// known one after a silence longer than the window.
func (b *baseWindow) get(now int64) int64 {
	if v, ok := b.scan(now); ok {
		b.last = v
		return v
	}
	return b.last
}

func (b *baseWindow) scan(now int64) (int64, bool) {
	id := floorDiv(now, baseBucketLen)
	var m int64
	ok := false
	for _, s := range b.buckets {
		if s.ok && id-s.id < baseBuckets && id >= s.id {
			if !ok || s.min < m {
				m, ok = s.min, true
			}
		}
	}
	return m, ok
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// JitterBuffer is the adaptive playout buffer of one remote Opus stream.
//
// Packets arrive on one goroutine (Push, from the RTP read loop) and the
// playout asks on another, every 20 ms, what to play (Next); both are safe to
// call concurrently.
//
// Playout follows a timeline in RTP timestamp units. The buffer tracks the
// path's fixed delay as the smallest transit time (arrival − timestamp) over
// the last 10 s, and plays the sample with timestamp t when the clock reaches
// t + fixed delay + target delay. The target is four times the RFC 3550
// interarrival jitter, between 20 and 200 ms; it rises at once when jitter
// grows or a packet comes too late, and falls by 10 ms per second when jitter
// eases. The playout inserts a frame of concealment when the delay falls
// 13 ms under the target and drops one when it rises 12 ms over it (at most
// one every 100 ms), so the delay tracks the target within the 20 ms
// granularity of the playout clock.
// Because the schedule is anchored to timestamps, pauses (DTX, a sender that
// stops sending) neither drift nor count as loss, and sender clock drift is
// absorbed by the sliding fixed-delay estimate.
//
// Sequence numbers order packets and find losses: a packet missing at its
// turn is rebuilt from the next packet's in-band FEC when that packet is here
// and carries SILK data, or concealed otherwise. Sequence numbers and
// timestamps are unwrapped to 64 bits; a new SSRC, or a sequence number jump
// confirmed by a second packet, restarts the stream.
type JitterBuffer struct {
	mu sync.Mutex

	minDelay, maxDelay float64

	epoch     time.Time
	haveEpoch bool

	// The stream.
	active   bool
	ssrc     uint32
	maxSeq   int64  // highest extended sequence number seen
	maxTS    int64  // extended timestamp of maxSeq
	window   uint64 // bit i: maxSeq-i was received
	probing  bool
	probeSeq uint16

	// Timing.
	haveTransit bool
	lastTransit int64
	jitter      float64 // samples
	base        baseWindow
	target      float64 // samples
	lastDecay   int64

	// Playout.
	started    bool
	startSeq   int64
	nextSeq    int64
	playTS     int64
	emptyRun   uint64 // frames concealed with nothing buffered, not yet classified
	lateStreak int    // consecutive late packets
	lastSkipTS int64

	slots [jbSlots]jbSlot
	stats JitterStats
}

// NewJitterBuffer returns an empty buffer with the target delay at its floor.
func NewJitterBuffer() *JitterBuffer {
	jb := &JitterBuffer{
		minDelay: float64(durationToSamples(MinTargetDelay)),
		maxDelay: float64(durationToSamples(MaxTargetDelay)),
	}
	jb.target = jb.minDelay
	return jb
}

// clock converts now to samples since the buffer's epoch.
func (jb *JitterBuffer) clock(now time.Time) int64 {
	if !jb.haveEpoch {
		jb.epoch, jb.haveEpoch = now, true
		jb.lastDecay = 0
	}
	return durationToSamples(now.Sub(jb.epoch))
}

// restart forgets the current stream and starts a new one at (seq, ts).
// Counters, the jitter estimate and the target delay carry over: the path
// is usually the same.
func (jb *JitterBuffer) restart(ssrc uint32, seq uint16, ts uint32) {
	jb.active = true
	jb.ssrc = ssrc
	jb.maxSeq = int64(seq)
	jb.maxTS = int64(ts)
	jb.window = 0
	jb.probing = false
	jb.haveTransit = false
	jb.base.reset()
	jb.started = false
	jb.emptyRun = 0
	jb.lateStreak = 0
	jb.clearSlots()
}

// Push adds a received RTP packet: its sequence number, timestamp, SSRC and
// Opus payload, which is copied. now is the arrival time. Packets that are
// duplicates, too late, or not Opus are counted and dropped.
func (jb *JitterBuffer) Push(now time.Time, seq uint16, ts uint32, ssrc uint32, payload []byte) {
	dur, err := PacketSamples(payload)
	jb.mu.Lock()
	defer jb.mu.Unlock()
	if err != nil {
		jb.stats.Invalid++
		return
	}
	nowS := jb.clock(now)
	if !jb.active || ssrc != jb.ssrc {
		if jb.active {
			jb.stats.Resyncs++
		}
		jb.restart(ssrc, seq, ts)
	}

	delta := int64(int16(seq - uint16(jb.maxSeq)))
	if delta > maxDropout || delta < -maxMisorder {
		if !jb.probing || seq != jb.probeSeq {
			jb.probing, jb.probeSeq = true, seq+1
			jb.stats.Invalid++
			return
		}
		// Two consecutive packets agree: the sender restarted.
		jb.stats.Resyncs++
		jb.markLost(0)
		jb.restart(ssrc, seq, ts)
		delta = 0
	}
	jb.probing = false

	ext := jb.maxSeq + delta
	extTS := jb.maxTS + int64(int32(ts-uint32(jb.maxTS)))
	if ext > jb.maxSeq {
		if shift := ext - jb.maxSeq; shift >= 64 {
			jb.window = 0
		} else {
			jb.window <<= uint(shift)
		}
		jb.window |= 1
		jb.maxSeq, jb.maxTS = ext, extTS
	} else {
		bit := jb.maxSeq - ext
		if bit >= 64 {
			// Too old to tell apart from a duplicate, certainly too late.
			jb.stats.Late++
			return
		}
		if jb.window&(1<<uint(bit)) != 0 {
			jb.stats.Duplicates++
			return
		}
		jb.window |= 1 << uint(bit)
	}
	jb.stats.Received++

	// RFC 3550 §6.4.1 interarrival jitter, in samples. One huge step (an
	// outage) is capped at the maximum delay so that it cannot pump the
	// estimate far beyond anything buffering could absorb.
	transit := nowS - extTS
	if jb.haveTransit {
		d := transit - jb.lastTransit
		if d < 0 {
			d = -d
		}
		d = min(d, int64(jb.maxDelay))
		jb.jitter += (float64(d) - jb.jitter) / 16
	}
	jb.lastTransit, jb.haveTransit = transit, true
	jb.base.add(nowS, transit)
	jb.raiseTarget(jb.jitterTarget())

	if jb.started {
		late := false
		switch {
		case ext < jb.nextSeq:
			// Its turn came and went; it was counted lost then.
			late = true
			if ext >= jb.startSeq && jb.stats.Lost > 0 {
				jb.stats.Lost--
			}
		case extTS < jb.playTS:
			// Its time passed while the buffer ran dry.
			late = true
			jb.markLost(ext - jb.nextSeq - jb.dropBelow(ext))
			jb.nextSeq = ext + 1
		case ext >= jb.nextSeq+jbSlots:
			jb.overflow(ext)
		}
		if late {
			jb.stats.Late++
			jb.lateStreak++
			if jb.lateStreak < lateResync {
				jb.lateGrow(nowS, transit)
				return
			}
			// Everything arrives late: the path's delay jumped by more
			// than buffering can absorb, or the sender's timestamps
			// jumped back. Re-anchor the timeline on this packet.
			jb.stats.Resyncs++
			jb.markLost(0)
			jb.stats.Skipped += uint64(jb.clearSlots())
			jb.base.reset()
			jb.base.add(nowS, transit)
			jb.started = false
		}
	}
	jb.lateStreak = 0

	s := &jb.slots[mod(ext, jbSlots)]
	s.valid = true
	s.seq, s.ts, s.dur = ext, extTS, int64(dur)
	s.arrival = now
	s.n = copy(s.payload[:], payload)
}

// jitterTarget is the delay the jitter estimate asks for.
func (jb *JitterBuffer) jitterTarget() float64 {
	return max(jb.minDelay, jitterFactor*jb.jitter)
}

// raiseTarget raises the target delay to v (clamped), never lowers it.
func (jb *JitterBuffer) raiseTarget(v float64) {
	v = max(jb.minDelay, min(v, jb.maxDelay))
	if v > jb.target {
		jb.target = v
	}
}

// lateGrow raises the target so that a packet as late as this one would have
// made it. Lateness beyond the maximum delay is an outage, not jitter, and
// buffering cannot help it.
func (jb *JitterBuffer) lateGrow(nowS, transit int64) {
	need := float64(transit-jb.base.get(nowS)) + halfFrame
	if need <= jb.maxDelay {
		jb.raiseTarget(need)
	}
}

// markLost counts n packets as lost and classifies the pending dry run as
// concealment of a loss.
func (jb *JitterBuffer) markLost(n int64) {
	if n > 0 {
		jb.stats.Lost += uint64(n)
	}
	jb.stats.Concealed += jb.emptyRun
	jb.emptyRun = 0
}

// clearSlots empties the buffer and returns how many packets it dropped.
func (jb *JitterBuffer) clearSlots() int64 {
	var n int64
	for i := range jb.slots {
		if jb.slots[i].valid {
			jb.slots[i].valid = false
			n++
		}
	}
	return n
}

// overflow makes room for packet ext, far ahead of the playout: the buffer
// drops what it holds and restarts the playout from the new packet.
func (jb *JitterBuffer) overflow(ext int64) {
	dropped := jb.clearSlots()
	jb.stats.Skipped += uint64(dropped)
	jb.markLost(ext - jb.nextSeq - dropped)
	jb.stats.Resyncs++
	jb.started = false
}

// dropBelow drops buffered packets with a sequence number below seq (their
// time has passed) and returns how many it dropped.
func (jb *JitterBuffer) dropBelow(seq int64) int64 {
	var n int64
	for i := range jb.slots {
		if s := &jb.slots[i]; s.valid && s.seq < seq {
			s.valid = false
			n++
		}
	}
	jb.stats.Late += uint64(n)
	return n
}

// slot returns the buffered packet with extended sequence number seq, or nil.
func (jb *JitterBuffer) slot(seq int64) *jbSlot {
	s := &jb.slots[mod(seq, jbSlots)]
	if s.valid && s.seq == seq {
		return s
	}
	return nil
}

// following returns the buffered packet with the lowest sequence number
// above seq, or nil.
func (jb *JitterBuffer) following(seq int64) *jbSlot {
	var best *jbSlot
	for i := range jb.slots {
		s := &jb.slots[i]
		if s.valid && s.seq > seq && (best == nil || s.seq < best.seq) {
			best = s
		}
	}
	return best
}

// Next decides what to play for the next stretch of the stream at time now.
// It copies any payload into buf, which should be MaxPayload bytes long.
// Every decision either produces samples or advances the stream, so a
// playout that calls Next until it has a frame always finishes.
func (jb *JitterBuffer) Next(now time.Time, buf []byte) Decision {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	nowS := jb.clock(now)
	jb.decay(nowS)
	if !jb.active {
		return Decision{Kind: DecideSilence, Samples: FrameSamples}
	}
	if !jb.started {
		// Start at the newest packet that has waited its target delay;
		// older ones (a backlog from before the playout ran) would only
		// add delay, so they are dropped.
		base := jb.base.get(nowS)
		var first *jbSlot
		for i := range jb.slots {
			s := &jb.slots[i]
			if s.valid && float64(nowS-(s.ts+base)) >= jb.target-halfFrame && (first == nil || s.seq > first.seq) {
				first = s
			}
		}
		if first == nil {
			return Decision{Kind: DecideSilence, Samples: FrameSamples}
		}
		for i := range jb.slots {
			if s := &jb.slots[i]; s.valid && s.seq < first.seq {
				s.valid = false
				jb.stats.Skipped++
			}
		}
		jb.started = true
		jb.startSeq, jb.nextSeq, jb.playTS = first.seq, first.seq, first.ts
		jb.lastSkipTS = first.ts - skipSpacing
		jb.emptyRun = 0
	}
	for {
		offset := float64(nowS-(jb.playTS+jb.base.get(nowS))) - jb.target
		s := jb.slot(jb.nextSeq)
		if offset < -insertBelow {
			// Running ahead of the target: insert a frame to grow.
			jb.stats.Inserted++
			if s != nil && s.ts > jb.playTS {
				return Decision{Kind: DecideSilence, Samples: FrameSamples}
			}
			return Decision{Kind: DecideConceal, Samples: FrameSamples}
		}
		skip := offset >= skipAbove && jb.playTS-jb.lastSkipTS >= skipSpacing
		if s != nil {
			if s.ts > jb.playTS {
				// A pause in the stream: play silence up to the packet.
				// The dry run before it was a pause, not a loss.
				jb.emptyRun = 0
				n := min(s.ts-jb.playTS, FrameSamples)
				jb.playTS += n
				if skip {
					jb.stats.Skipped++
					jb.lastSkipTS = jb.playTS
					continue
				}
				return Decision{Kind: DecideSilence, Samples: int(n)}
			}
			if s.ts < jb.playTS {
				// Overlaps audio already played; Push keeps these out,
				// this guards against odd timestamps.
				s.valid = false
				jb.stats.Late++
				jb.nextSeq++
				continue
			}
			d := Decision{Kind: DecideDecode, Samples: int(s.dur), Arrival: s.arrival}
			d.Payload = buf[:copy(buf, s.payload[:s.n])]
			s.valid = false
			jb.nextSeq++
			jb.playTS += s.dur
			jb.emptyRun = 0
			if skip {
				d.Discard = true
				jb.stats.Skipped++
				jb.lastSkipTS = jb.playTS
			}
			return d
		}

		q := jb.following(jb.nextSeq)
		if q == nil {
			// Nothing buffered: a loss, a delay spike or a pause. The
			// next packet to arrive tells which.
			jb.playTS += FrameSamples
			jb.emptyRun++
			return Decision{Kind: DecideConceal, Samples: FrameSamples}
		}
		missing := q.seq - jb.nextSeq
		gap := q.ts - jb.playTS
		if gap <= 0 {
			// The missing packets' time is already filled.
			jb.markLost(missing)
			jb.nextSeq = q.seq
			continue
		}
		// q's FEC data rebuilds the stretch just before q, as long as q.
		fec := packetHasSILK(q.payload[:q.n])
		if fec && gap <= q.dur && gap%120 == 0 {
			jb.markLost(missing)
			jb.stats.FECRecovered++
			jb.nextSeq, jb.playTS = q.seq, q.ts
			return Decision{Kind: DecideFEC, Samples: int(gap), Payload: buf[:copy(buf, q.payload[:q.n])]}
		}
		n := gap
		if fec && gap > q.dur {
			n = gap - q.dur // conceal up to where FEC can take over
		}
		n = min(n, FrameSamples)
		jb.playTS += n
		jb.stats.Concealed++
		if jb.playTS >= q.ts {
			jb.markLost(missing)
			jb.nextSeq = q.seq
		}
		return Decision{Kind: DecideConceal, Samples: int(n)}
	}
}

// decay lowers the target toward what the jitter asks for, at shrinkRate.
func (jb *JitterBuffer) decay(nowS int64) {
	dt := nowS - jb.lastDecay
	jb.lastDecay = nowS
	if dt <= 0 {
		return
	}
	floor := max(jb.minDelay, min(jb.jitterTarget(), jb.maxDelay))
	if jb.target > floor {
		jb.target = max(floor, jb.target-shrinkRate*float64(dt))
	}
}

// Stats returns the buffer's counters and current estimates.
func (jb *JitterBuffer) Stats() JitterStats {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	st := jb.stats
	st.Jitter = samplesToDuration(int64(jb.jitter))
	st.TargetDelay = samplesToDuration(int64(jb.target))
	for i := range jb.slots {
		if jb.slots[i].valid {
			st.Buffered++
		}
	}
	return st
}
