package audio

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Ring is a lock-free single-producer single-consumer ring of PCM samples.
// It sits between a device callback (a C thread that must never block,
// lock or allocate) and the Go code of the pipeline.
//
// Write never blocks: when the ring is full it drops the oldest samples to
// make room and counts an overrun, so a stalled consumer costs old audio,
// never fresh audio and never latency beyond the ring's capacity.
// ReadFull never blocks either: when too few samples are buffered it fills
// the rest with silence and counts an underrun.
//
// Dropping the oldest samples means the producer moves the read index, which
// the consumer also moves. Both sides do it with compare-and-swap on a
// monotonic 64-bit index: a consumer that copied samples while the producer
// reclaimed them sees its CAS fail and copies again. Samples are stored as
// atomic words so that the overlap the CAS detects is not a data race.
type Ring struct {
	buf  []atomic.Int32
	mask uint64

	r atomic.Uint64 // index of the oldest unread sample; moved by both sides
	w atomic.Uint64 // index one past the newest sample; moved by the producer

	overruns  atomic.Uint64
	underruns atomic.Uint64
	dropped   atomic.Uint64
	padded    atomic.Uint64 // silence samples ReadFull stood in with
}

// NewRing returns a ring that holds at least capacity samples (rounded up to
// a power of two). It panics if capacity is not positive, a programming error.
func NewRing(capacity int) *Ring {
	if capacity <= 0 {
		panic(fmt.Sprintf("audio: NewRing(%d): capacity must be positive", capacity))
	}
	n := 1 << bits.Len(uint(capacity-1))
	return &Ring{buf: make([]atomic.Int32, n), mask: uint64(n - 1)}
}

// Cap returns the number of samples the ring holds.
func (q *Ring) Cap() int { return len(q.buf) }

// Len returns the number of buffered samples. It is exact for the consumer
// and a lower bound for the producer.
func (q *Ring) Len() int {
	r := q.r.Load()
	w := q.w.Load()
	if w < r { // the producer advanced r past a stale w we loaded before it
		return 0
	}
	return int(w - r)
}

// Write appends p, dropping the oldest buffered samples if p does not fit.
// Only one goroutine (or callback thread) may write.
func (q *Ring) Write(p []int16) {
	size := uint64(len(q.buf))
	if uint64(len(p)) > size {
		// More than the whole ring: only the newest samples can survive.
		q.dropped.Add(uint64(len(p)) - size)
		q.overruns.Add(1)
		p = p[uint64(len(p))-size:]
	}
	n := uint64(len(p))
	w := q.w.Load()
	for {
		r := q.r.Load()
		free := size - (w - r)
		if n <= free {
			break
		}
		need := n - free
		if q.r.CompareAndSwap(r, r+need) {
			q.overruns.Add(1)
			q.dropped.Add(need)
			break
		}
	}
	for i, s := range p {
		q.buf[(w+uint64(i))&q.mask].Store(int32(s))
	}
	q.w.Store(w + n)
}

// Read copies up to len(p) buffered samples into p and returns how many it
// copied. Only one goroutine (or callback thread) may read.
func (q *Ring) Read(p []int16) int {
	for {
		r := q.r.Load()
		w := q.w.Load()
		if w <= r {
			return 0
		}
		n := min(uint64(len(p)), w-r)
		for i := range n {
			p[i] = int16(q.buf[(r+i)&q.mask].Load())
		}
		if q.r.CompareAndSwap(r, r+n) {
			return int(n)
		}
		// The producer reclaimed some of what we copied; copy again.
	}
}

// ReadFull fills p, padding with silence and counting an underrun when fewer
// than len(p) samples are buffered.
func (q *Ring) ReadFull(p []int16) {
	n := q.Read(p)
	if n < len(p) {
		clear(p[n:])
		q.underruns.Add(1)
		q.padded.Add(uint64(len(p) - n))
	}
}

// Consumed returns how many samples the consumer has had: those read or
// dropped, plus the silence ReadFull padded with. For a playback ring it is
// the device's position in what it played.
func (q *Ring) Consumed() uint64 { return q.r.Load() + q.padded.Load() }

// Discard drops up to n of the oldest samples and returns how many it
// dropped. Only the consumer may call it.
func (q *Ring) Discard(n int) int {
	for {
		r := q.r.Load()
		w := q.w.Load()
		if w <= r {
			return 0
		}
		k := min(uint64(n), w-r)
		if q.r.CompareAndSwap(r, r+k) {
			return int(k)
		}
	}
}

// RingStats are a ring's counters.
type RingStats struct {
	// Overruns counts writes that found the ring full and dropped old audio.
	Overruns uint64
	// Dropped counts the samples those overruns dropped.
	Dropped uint64
	// Underruns counts reads that found too few samples and played silence.
	Underruns uint64
}

// add returns the sum of two rings' counters.
func (s RingStats) add(o RingStats) RingStats {
	return RingStats{
		Overruns:  s.Overruns + o.Overruns,
		Dropped:   s.Dropped + o.Dropped,
		Underruns: s.Underruns + o.Underruns,
	}
}

// Stats returns the ring's counters.
func (q *Ring) Stats() RingStats {
	return RingStats{
		Overruns:  q.overruns.Load(),
		Dropped:   q.dropped.Load(),
		Underruns: q.underruns.Load(),
	}
}
