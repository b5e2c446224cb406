package audio

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TOC bytes of single-frame 20 ms packets (RFC 6716 Table 2).
const (
	tocSILK20 = 9 << 3  // SILK wideband 20 ms: carries FEC
	tocCELT20 = 31 << 3 // CELT fullband 20 ms: no FEC
)

// simPacket is one packet on the simulated network.
type simPacket struct {
	at      time.Duration // arrival time
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// fakePayload is a packet whose body carries id, so the playout order can be
// checked without decoding audio.
func fakePayload(toc byte, id int) []byte {
	p := make([]byte, 5)
	p[0] = toc
	binary.BigEndian.PutUint32(p[1:], uint32(id))
	return p
}

func payloadID(p []byte) int { return int(binary.BigEndian.Uint32(p[1:])) }

// streamSpec describes a sender: packet i is sent at i×20 ms (plus a pause
// offset) and arrives after delay(i); drop(i) loses it on the way.
type streamSpec struct {
	n        int
	seq0     uint16
	ts0      uint32
	ssrc     uint32
	toc      byte
	start    time.Duration
	sendAt   func(i int) time.Duration // default i×20 ms
	tsOf     func(i int) uint32        // default ts0 + i×960
	delay    func(i int) time.Duration // default 30 ms
	drop     func(i int) bool
	idOffset int
}

func (s streamSpec) packets() []simPacket {
	var out []simPacket
	for i := range s.n {
		if s.drop != nil && s.drop(i) {
			continue
		}
		send := time.Duration(i) * FrameDuration
		if s.sendAt != nil {
			send = s.sendAt(i)
		}
		d := 30 * time.Millisecond
		if s.delay != nil {
			d = s.delay(i)
		}
		ts := s.ts0 + uint32(i)*FrameSamples
		if s.tsOf != nil {
			ts = s.tsOf(i)
		}
		toc := s.toc
		if toc == 0 {
			toc = tocSILK20
		}
		out = append(out, simPacket{
			at: s.start + send + d, seq: s.seq0 + uint16(i), ts: ts, ssrc: s.ssrc,
			payload: fakePayload(toc, s.idOffset+i),
		})
	}
	return out
}

// playedPacket is one decoded (not discarded) packet of the simulation.
type playedPacket struct {
	id    int
	at    time.Duration
	delay time.Duration // Next time minus arrival time
}

// simResult is what a simulated playout produced.
type simResult struct {
	played []playedPacket
	kinds  map[DecisionKind]int
	stats  JitterStats
	// targets samples TargetDelay once per simulated second.
	targets []time.Duration
	// lateAt is the tick at which each late packet was counted.
	lateAt []time.Duration
}

// simulate delivers packets to a jitter buffer and runs the 20 ms playout
// clock (first tick at phase) until end, pulling a frame per tick the way
// Remote.pull does.
func simulate(t *testing.T, jb *JitterBuffer, packets []simPacket, phase, end time.Duration) simResult {
	t.Helper()
	t0 := time.Unix(1_700_000_000, 0)
	packets = slices.Clone(packets)
	slices.SortStableFunc(packets, func(a, b simPacket) int { return int(a.at - b.at) })
	res := simResult{kinds: map[DecisionKind]int{}}
	buf := make([]byte, MaxPayload)
	pi := 0
	carry := 0
	for tick := phase; tick <= end; tick += FrameDuration {
		for pi < len(packets) && packets[pi].at <= tick {
			p := packets[pi]
			jb.Push(t0.Add(p.at), p.seq, p.ts, p.ssrc, p.payload)
			pi++
		}
		now := t0.Add(tick)
		got := carry
		for steps := 0; got < FrameSamples; steps++ {
			if steps > 100 {
				t.Fatalf("at %v: Next made no progress in 100 steps", tick)
			}
			d := jb.Next(now, buf)
			res.kinds[d.Kind]++
			switch {
			case d.Kind == DecideDecode && d.Discard:
			case d.Kind == DecideDecode:
				res.played = append(res.played, playedPacket{id: payloadID(d.Payload), at: tick, delay: now.Sub(d.Arrival)})
				got += d.Samples
			default:
				if d.Samples <= 0 {
					t.Fatalf("at %v: %v decision with %d samples", tick, d.Kind, d.Samples)
				}
				got += d.Samples
			}
		}
		carry = got - FrameSamples
		st := jb.Stats()
		for range int(st.Late) - len(res.lateAt) {
			res.lateAt = append(res.lateAt, tick)
		}
		if tick%time.Second < FrameDuration {
			res.targets = append(res.targets, st.TargetDelay)
		}
	}
	res.stats = jb.Stats()
	return res
}

func (r simResult) ids() []int {
	ids := make([]int, len(r.played))
	for i, p := range r.played {
		ids[i] = p.id
	}
	return ids
}

func (r simResult) delays(from time.Duration) (lo, hi, mean time.Duration) {
	var sum time.Duration
	n := 0
	lo = time.Hour
	for _, p := range r.played {
		if p.at < from {
			continue
		}
		lo, hi = min(lo, p.delay), max(hi, p.delay)
		sum += p.delay
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	return lo, hi, sum / time.Duration(n)
}

func wantInOrder(t *testing.T, ids []int) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("played out of order at %d: ...%v...", i, ids[max(0, i-3):min(len(ids), i+3)])
		}
	}
}

func TestJitterCleanPath(t *testing.T) {
	for _, phase := range []time.Duration{0, 3 * time.Millisecond, 11 * time.Millisecond, 19 * time.Millisecond} {
		t.Run(phase.String(), func(t *testing.T) {
			jb := NewJitterBuffer()
			res := simulate(t, jb, streamSpec{n: 500, seq0: 100, ts0: 5000, ssrc: 1}.packets(), phase, 10*time.Second+100*time.Millisecond)
			if len(res.played) != 500 {
				t.Fatalf("played %d packets, want 500 (stats %+v)", len(res.played), res.stats)
			}
			wantInOrder(t, res.ids())
			st := res.stats
			if st.Lost+st.Late+st.Concealed+st.Inserted+st.Skipped+st.Duplicates+st.Invalid != 0 {
				t.Errorf("clean path has trouble counters: %+v", st)
			}
			if st.Received != 500 || st.TargetDelay != MinTargetDelay {
				t.Errorf("received %d target %v, want 500 and %v", st.Received, st.TargetDelay, MinTargetDelay)
			}
			lo, hi, _ := res.delays(0)
			if lo < 10*time.Millisecond || hi > 30*time.Millisecond {
				t.Errorf("buffer delay %v..%v, want within the 20 ms target ±10 ms", lo, hi)
			}
		})
	}
}

func TestJitterReorder(t *testing.T) {
	// Every other pair swaps: packet 2k arrives 8 ms late, after 2k+1.
	spec := streamSpec{n: 400, ssrc: 7, delay: func(i int) time.Duration {
		if i%2 == 0 {
			return 38 * time.Millisecond
		}
		return 30 * time.Millisecond
	}}
	jb := NewJitterBuffer()
	res := simulate(t, jb, spec.packets(), 5*time.Millisecond, 9*time.Second)
	if len(res.played) < 399 {
		t.Fatalf("played %d of 400 (stats %+v)", len(res.played), res.stats)
	}
	wantInOrder(t, res.ids())
	if st := res.stats; st.Lost != 0 || st.Concealed != 0 {
		t.Errorf("reordering caused loss: %+v", st)
	}
}

func TestJitterLossFECAndPLC(t *testing.T) {
	tests := []struct {
		name          string
		toc           byte
		drop          func(int) bool
		lost, fec     uint64
		concealed     uint64
		minPlayedFrac float64
	}{
		{"single SILK losses use FEC", tocSILK20, func(i int) bool { return i%10 == 5 }, 50, 50, 0, 0.9},
		{"single CELT losses are concealed", tocCELT20, func(i int) bool { return i%10 == 5 }, 50, 0, 50, 0.9},
		{"burst of 5: FEC for the last, PLC for 4", tocSILK20, func(i int) bool { return i >= 200 && i < 205 }, 5, 1, 4, 0.99},
		{"burst of 5 in CELT: all concealed", tocCELT20, func(i int) bool { return i >= 200 && i < 205 }, 5, 0, 5, 0.99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jb := NewJitterBuffer()
			// 40 ms target-friendly delay: the next packet is always there
			// in time for FEC when the tick lands late in its frame.
			res := simulate(t, jb, streamSpec{n: 500, ssrc: 3, toc: tt.toc, drop: tt.drop}.packets(), 15*time.Millisecond, 11*time.Second)
			st := res.stats
			if st.Lost != tt.lost || st.FECRecovered != tt.fec || st.Concealed != tt.concealed {
				t.Errorf("lost %d fec %d concealed %d, want %d %d %d (%+v)", st.Lost, st.FECRecovered, st.Concealed, tt.lost, tt.fec, tt.concealed, st)
			}
			if st.Late != 0 || st.Inserted != 0 {
				t.Errorf("late %d inserted %d on a loss-only path", st.Late, st.Inserted)
			}
			wantInOrder(t, res.ids())
			if res.kinds[DecideFEC] != int(tt.fec) {
				t.Errorf("%d FEC decisions, want %d", res.kinds[DecideFEC], tt.fec)
			}
		})
	}
}

func TestJitterDuplicates(t *testing.T) {
	pk := streamSpec{n: 300, ssrc: 9}.packets()
	var dup []simPacket
	for i, p := range pk {
		if i%10 == 0 {
			q := p
			q.at += 5 * time.Millisecond
			dup = append(dup, q)
			q.at += 200 * time.Millisecond // long after it was played
			dup = append(dup, q)
		}
	}
	jb := NewJitterBuffer()
	res := simulate(t, jb, append(pk, dup...), 7*time.Millisecond, 7*time.Second)
	if len(res.played) != 300 {
		t.Fatalf("played %d, want 300", len(res.played))
	}
	wantInOrder(t, res.ids())
	if st := res.stats; st.Duplicates != 60 || st.Received != 300 || st.Late != 0 {
		t.Errorf("duplicates %d received %d late %d, want 60 300 0", st.Duplicates, st.Received, st.Late)
	}
}

func TestJitterLatePacketGrowsTarget(t *testing.T) {
	spec := streamSpec{n: 500, ssrc: 4, delay: func(i int) time.Duration {
		if i == 100 {
			return 30*time.Millisecond + 120*time.Millisecond
		}
		return 30 * time.Millisecond
	}}
	jb := NewJitterBuffer()
	spec.n = 1000
	res := simulate(t, jb, spec.packets(), 9*time.Millisecond, 21*time.Second)
	st := res.stats
	if st.Late != 1 || st.Lost != 0 {
		t.Errorf("late %d lost %d, want 1 0 (%+v)", st.Late, st.Lost, st)
	}
	if st.Concealed+st.FECRecovered != 1 {
		t.Errorf("concealed %d + fec %d, want one frame filled", st.Concealed, st.FECRecovered)
	}
	// The target rose to cover the 120 ms lateness at once...
	if peak := slices.Max(res.targets); peak < 120*time.Millisecond {
		t.Errorf("target peaked at %v after a 120 ms late packet, want >= 120 ms", peak)
	}
	// ...and shrank slowly afterwards: still well up a second later.
	if at3 := res.targets[3]; at3 < 90*time.Millisecond {
		t.Errorf("target %v one second after the spike, want a slow decline", at3)
	}
	if last := res.targets[len(res.targets)-1]; last > 30*time.Millisecond {
		t.Errorf("target %v after 19 quiet seconds, want back near %v", last, MinTargetDelay)
	}
	if st.Inserted == 0 || st.Skipped == 0 {
		t.Errorf("inserted %d skipped %d: the delay did not follow the target up and down", st.Inserted, st.Skipped)
	}
}

func TestJitterDelayJumpResyncs(t *testing.T) {
	// The path's delay jumps by 400 ms for good (beyond the 200 ms the
	// buffer may grow to): after a short burst of late packets the buffer
	// re-anchors instead of dropping everything for 10 s.
	spec := streamSpec{n: 1000, ssrc: 4, delay: func(i int) time.Duration {
		if i >= 300 {
			return 430 * time.Millisecond
		}
		return 30 * time.Millisecond
	}}
	jb := NewJitterBuffer()
	res := simulate(t, jb, spec.packets(), 9*time.Millisecond, 21*time.Second)
	st := res.stats
	if st.Resyncs != 1 || st.Late > lateResync {
		t.Errorf("resyncs %d late %d, want 1 and at most %d (%+v)", st.Resyncs, st.Late, lateResync, st)
	}
	if len(res.played) < 1000-lateResync-1 {
		t.Errorf("played %d of 1000", len(res.played))
	}
	wantInOrder(t, res.ids())
	if _, hi, _ := res.delays(10 * time.Second); hi > 40*time.Millisecond {
		t.Errorf("buffer delay up to %v after the jump, want the target again", hi)
	}
}

func TestJitterStartsAtTheNewestDuePacket(t *testing.T) {
	// A second of packets piles up before the playout runs (the speaker
	// took a while to start): playing it all would add a second of delay.
	jb := NewJitterBuffer()
	t0 := time.Unix(100, 0)
	for i := range 50 {
		jb.Push(t0.Add(time.Duration(i)*FrameDuration), uint16(i), uint32(i*FrameSamples), 1, fakePayload(tocSILK20, i))
	}
	now := t0.Add(49*FrameDuration + MinTargetDelay)
	d := jb.Next(now, make([]byte, MaxPayload))
	if d.Kind != DecideDecode || payloadID(d.Payload) != 49 {
		t.Fatalf("first decision %v of packet %d, want packet 49", d.Kind, payloadID(d.Payload))
	}
	if st := jb.Stats(); st.Skipped != jbSlots-1 { // the buffer holds the newest 32
		t.Errorf("skipped %d: the backlog in the buffer should be dropped", st.Skipped)
	}
	if dl := now.Sub(d.Arrival); dl != MinTargetDelay {
		t.Errorf("delay %v, want %v", dl, MinTargetDelay)
	}
}

func TestJitterWrapAround(t *testing.T) {
	spec := streamSpec{n: 600, seq0: 65535 - 250, ts0: ^uint32(0) - 300*FrameSamples + 17, ssrc: 5}
	jb := NewJitterBuffer()
	res := simulate(t, jb, spec.packets(), 4*time.Millisecond, 13*time.Second)
	if len(res.played) != 600 {
		t.Fatalf("played %d of 600 across the wrap (stats %+v)", len(res.played), res.stats)
	}
	wantInOrder(t, res.ids())
	if st := res.stats; st.Lost+st.Late+st.Concealed+st.Resyncs+st.Invalid != 0 {
		t.Errorf("wrap-around counted as trouble: %+v", st)
	}
}

func TestJitterStepsUpAndDown(t *testing.T) {
	// 10 s clean, 20 s of up to 80 ms random extra delay, 30 s clean.
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 3000
	extra := make([]time.Duration, n)
	for i := 500; i < 1500; i++ {
		extra[i] = time.Duration(rng.Int64N(int64(80 * time.Millisecond)))
	}
	spec := streamSpec{n: n, ssrc: 6, delay: func(i int) time.Duration { return 30*time.Millisecond + extra[i] }}
	jb := NewJitterBuffer()
	res := simulate(t, jb, spec.packets(), 13*time.Millisecond, 61*time.Second)

	if tgt := res.targets[9]; tgt > 25*time.Millisecond {
		t.Errorf("clean-phase target %v", tgt)
	}
	if tgt := res.targets[11]; tgt < 60*time.Millisecond {
		t.Errorf("target %v one second into 80 ms jitter: did not grow fast", tgt)
	}
	// Packets come late only while the buffer adapts, in the first second
	// of the jitter (sent from 10 s): once deeper, every packet makes it.
	st := res.stats
	if st.Late == 0 || st.Late > 10 { // at most 1 % of the 1,000 jittered packets
		t.Errorf("%d late packets, want a few while adapting (%+v)", st.Late, st)
	}
	for _, at := range res.lateAt {
		if at < 10*time.Second || at > 11*time.Second+500*time.Millisecond {
			t.Errorf("a packet was late at %v: after the buffer adapted (%v)", at, res.lateAt)
			break
		}
	}
	_, hi, _ := res.delays(15 * time.Second)
	if hi < 60*time.Millisecond {
		t.Errorf("max delay %v during jitter: the buffer did not deepen", hi)
	}
	// After 25 clean seconds the delay is back down.
	if tgt := res.targets[len(res.targets)-1]; tgt > 35*time.Millisecond {
		t.Errorf("target %v after 25 clean seconds, want near %v", tgt, MinTargetDelay)
	}
	if _, hi, _ := res.delays(55 * time.Second); hi > 50*time.Millisecond {
		t.Errorf("delay up to %v at the end, want the buffer drained", hi)
	}
	// Every packet is accounted for exactly once: played, or counted late,
	// lost or skipped (dropped to shrink the delay).
	if got := len(res.played) + int(st.Late+st.Lost+st.Skipped); got != n {
		t.Errorf("played %d + late %d + lost %d + skipped %d = %d, want the %d sent", len(res.played), st.Late, st.Lost, st.Skipped, got, n)
	}
	wantInOrder(t, res.ids())
}

func TestJitterDTXGapsDoNotDrift(t *testing.T) {
	// 20 talkspurts of 1 s separated by 2 s of silence: timestamps jump
	// over the silence, sequence numbers do not.
	const spurt = 50
	spec := streamSpec{n: 20 * spurt, ssrc: 8,
		sendAt: func(i int) time.Duration {
			return time.Duration(i)*FrameDuration + time.Duration(i/spurt)*2*time.Second
		},
		tsOf: func(i int) uint32 {
			return 1000 + uint32(i)*FrameSamples + uint32(i/spurt)*2*SampleRate
		},
	}
	jb := NewJitterBuffer()
	res := simulate(t, jb, spec.packets(), 6*time.Millisecond, 61*time.Second)
	if len(res.played) != 20*spurt {
		t.Fatalf("played %d of %d", len(res.played), 20*spurt)
	}
	st := res.stats
	if st.Lost+st.Late+st.Concealed+st.Resyncs != 0 {
		t.Errorf("pauses counted as trouble: %+v", st)
	}
	first := res.played[0].delay
	for _, p := range res.played {
		if d := p.delay - first; d > 5*time.Millisecond || d < -5*time.Millisecond {
			t.Fatalf("delay drifted from %v to %v at %v", first, p.delay, p.at)
		}
	}
}

func TestJitterSSRCChange(t *testing.T) {
	a := streamSpec{n: 100, seq0: 10, ts0: 1, ssrc: 1}.packets()
	b := streamSpec{n: 100, seq0: 40000, ts0: 3_000_000_000, ssrc: 2, start: 2 * time.Second, idOffset: 1000}.packets()
	jb := NewJitterBuffer()
	res := simulate(t, jb, append(a, b...), 2*time.Millisecond, 5*time.Second)
	if len(res.played) != 200 {
		t.Fatalf("played %d of 200 (%+v)", len(res.played), res.stats)
	}
	wantInOrder(t, res.ids())
	if st := res.stats; st.Resyncs != 1 || st.Lost+st.Late != 0 {
		t.Errorf("resyncs %d lost %d late %d, want 1 0 0", st.Resyncs, st.Lost, st.Late)
	}
}

func TestJitterSequenceJump(t *testing.T) {
	// The same SSRC restarts with unrelated sequence numbers and
	// timestamps: one packet is held as suspect, the second confirms.
	a := streamSpec{n: 100, seq0: 10, ts0: 1, ssrc: 1}.packets()
	b := streamSpec{n: 100, seq0: 30000, ts0: 99_000_000, ssrc: 1, start: 2 * time.Second, idOffset: 1000}.packets()
	jb := NewJitterBuffer()
	res := simulate(t, jb, append(a, b...), 2*time.Millisecond, 5*time.Second)
	if len(res.played) != 199 {
		t.Fatalf("played %d, want 199 (the first packet after the jump is held as suspect): %+v", len(res.played), res.stats)
	}
	wantInOrder(t, res.ids())
	if st := res.stats; st.Resyncs != 1 || st.Invalid != 1 {
		t.Errorf("resyncs %d invalid %d, want 1 1", st.Resyncs, st.Invalid)
	}
}

func TestJitterClockDrift(t *testing.T) {
	// The sender's clock runs 0.1% fast: 60 ms over a minute. The buffer
	// drops a frame now and then instead of letting the delay grow.
	spec := streamSpec{n: 3000, ssrc: 2, sendAt: func(i int) time.Duration {
		return time.Duration(float64(time.Duration(i)*FrameDuration) / 1.001)
	}}
	jb := NewJitterBuffer()
	res := simulate(t, jb, spec.packets(), 8*time.Millisecond, 61*time.Second)
	if _, hi, _ := res.delays(50 * time.Second); hi > 45*time.Millisecond {
		t.Errorf("delay reached %v: drift accumulated", hi)
	}
	if st := res.stats; st.Late+st.Lost != 0 || st.Skipped == 0 {
		t.Errorf("late %d lost %d skipped %d, want 0 0 >0", st.Late, st.Lost, st.Skipped)
	}
}

func TestJitterInvalidPayloads(t *testing.T) {
	jb := NewJitterBuffer()
	now := time.Unix(1, 0)
	for _, p := range [][]byte{
		nil,
		{},
		{tocSILK20 | 3},          // code 3 without a count byte
		{tocSILK20 | 3, 0},       // code 3 with zero frames
		{tocSILK20 | 1, 1},       // code 1 with an odd body
		{tocSILK20 | 3, 7, 0, 0}, // 7 × 20 ms > 120 ms
		make([]byte, MaxPayload+1),
	} {
		jb.Push(now, 1, 1, 1, p)
	}
	if st := jb.Stats(); st.Invalid != 7 || st.Received != 0 {
		t.Errorf("invalid %d received %d, want 7 0", st.Invalid, st.Received)
	}
	if d := jb.Next(now, make([]byte, MaxPayload)); d.Kind != DecideSilence || d.Samples != FrameSamples {
		t.Errorf("empty buffer decided %v/%d, want a frame of silence", d.Kind, d.Samples)
	}
}

func TestPacketSamples(t *testing.T) {
	tests := []struct {
		p    []byte
		want int
	}{
		{[]byte{tocSILK20}, 960},
		{[]byte{tocCELT20}, 960},
		{[]byte{0 << 3}, 480},               // SILK NB 10 ms
		{[]byte{3 << 3}, 2880},              // SILK NB 60 ms
		{[]byte{12 << 3}, 480},              // hybrid SWB 10 ms
		{[]byte{16 << 3}, 120},              // CELT NB 2.5 ms
		{[]byte{tocSILK20 | 1, 0, 0}, 1920}, // two equal frames
		{[]byte{tocSILK20 | 2, 1, 0}, 1920},
		{[]byte{3<<3 | 3, 2}, 5760}, // 2 × 60 ms
	}
	for _, tt := range tests {
		got, err := PacketSamples(tt.p)
		if err != nil || got != tt.want {
			t.Errorf("PacketSamples(%x) = %d, %v; want %d", tt.p, got, err, tt.want)
		}
	}
}
