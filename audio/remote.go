package audio

import (
	"sync/atomic"
	"time"
)

// plcMaxRun is how many consecutive frames the remote conceals with Opus PLC
// before it switches to plain silence: PLC has faded out by then, and a
// remote that stopped sending should cost no CPU.
const plcMaxRun = 10

// RemoteStats are the receive-side statistics of one remote participant.
type RemoteStats struct {
	JitterStats
	// DecodeErrors counts packets the Opus decoder rejected (concealed).
	DecodeErrors uint64
	// PlayoutDelay is the measured time from Push to the packet's audio
	// entering the playback path, averaged over recent packets: the
	// jitter buffer's real delay.
	PlayoutDelay time.Duration
}

// Remote is the receive side of one remote participant: a jitter buffer and
// an Opus decoder. Push is called from the RTP read loop; the pipeline's
// run loop pulls 20 ms at a time.
type Remote struct {
	id  string
	jb  *JitterBuffer
	dec *Decoder
	now func() time.Time

	// Owned by the run loop.
	pcm        [MaxPacketSamples + FrameSamples]int16 // decoded, not yet played
	n          int
	payload    [MaxPayload]byte
	scratch    [MaxPacketSamples]int16
	concealRun int
	arrival    time.Time // arrival of the first packet decoded into the current frame

	// tracePlayout, when set (benchmarks), receives every PlayoutDelay
	// measurement: the arrival of the frame's first packet and when the
	// frame reached the playback path.
	tracePlayout func(arrival, at time.Time)

	level        atomic.Int32
	decodeErrors atomic.Uint64
	delay        atomic.Int64 // PlayoutDelay EWMA, ns
}

func newRemote(id string, now func() time.Time) (*Remote, error) {
	dec, err := NewDecoder()
	if err != nil {
		return nil, err
	}
	return &Remote{id: id, jb: NewJitterBuffer(), dec: dec, now: now}, nil
}

// ID returns the participant id given to AddRemote.
func (r *Remote) ID() string { return r.id }

// Push hands the remote one received RTP packet: sequence number, timestamp,
// SSRC and Opus payload. The payload is copied; Push never blocks for long
// and is safe to call concurrently with the playout.
func (r *Remote) Push(seq uint16, timestamp uint32, ssrc uint32, payload []byte) {
	r.jb.Push(r.now(), seq, timestamp, ssrc, payload)
}

// Level returns the 0–100 level of the last 20 ms played from this remote.
func (r *Remote) Level() int { return int(r.level.Load()) }

// Stats returns the remote's jitter buffer counters, decode errors and
// measured playout delay.
func (r *Remote) Stats() RemoteStats {
	return RemoteStats{
		JitterStats:  r.jb.Stats(),
		DecodeErrors: r.decodeErrors.Load(),
		PlayoutDelay: time.Duration(r.delay.Load()),
	}
}

// pull produces the next FrameSamples samples of this remote into out.
func (r *Remote) pull(now time.Time, out []int16) {
	r.arrival = time.Time{}
	for r.n < FrameSamples {
		d := r.jb.Next(now, r.payload[:])
		switch d.Kind {
		case DecideSilence:
			clear(r.pcm[r.n : r.n+d.Samples])
			r.n += d.Samples
		case DecideDecode:
			dst := r.pcm[r.n:]
			if d.Discard {
				dst = r.scratch[:]
			}
			k, err := r.dec.Decode(d.Payload, dst)
			if err != nil {
				r.decodeErrors.Add(1)
				if !d.Discard {
					r.conceal(d.Samples)
				}
				continue
			}
			r.concealRun = 0
			if !d.Discard {
				r.n += k
				if r.arrival.IsZero() {
					r.arrival = d.Arrival
				}
			}
		case DecideFEC:
			if err := r.dec.DecodeFEC(d.Payload, r.pcm[r.n:r.n+d.Samples]); err != nil {
				r.decodeErrors.Add(1)
				r.conceal(d.Samples)
				continue
			}
			r.n += d.Samples
		case DecideConceal:
			r.conceal(d.Samples)
		}
	}
	copy(out[:FrameSamples], r.pcm[:FrameSamples])
	r.n = copy(r.pcm[:], r.pcm[FrameSamples:r.n])
	r.level.Store(int32(Level(out[:FrameSamples])))
}

// played records that the frame from the last pull reached the playback
// path at time at, for the PlayoutDelay measurement.
func (r *Remote) played(at time.Time) {
	if r.arrival.IsZero() {
		return
	}
	d := int64(at.Sub(r.arrival))
	if r.tracePlayout != nil {
		r.tracePlayout(r.arrival, at)
	}
	old := r.delay.Load()
	if old == 0 {
		r.delay.Store(d)
		return
	}
	r.delay.Store(old + (d-old)/16)
}

// conceal appends n samples of packet loss concealment (or silence after a
// long run, or for a length Opus cannot conceal).
func (r *Remote) conceal(n int) {
	dst := r.pcm[r.n : r.n+n]
	r.n += n
	r.concealRun++
	plc := n - n%120
	if r.concealRun > plcMaxRun || plc == 0 {
		clear(dst)
		return
	}
	if err := r.dec.Conceal(dst[:plc]); err != nil {
		r.decodeErrors.Add(1)
		clear(dst[:plc])
	}
	clear(dst[plc:])
}
