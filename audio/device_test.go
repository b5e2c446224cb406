package audio

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gen2brain/malgo"
)

// TestDeviceCallbacksDoNotAllocate runs the capture and playback callbacks
// (the functions malgo calls on its C thread) in steady state: a period in,
// a period out. They must not allocate: a garbage collection triggered from
// an audio thread is an audible glitch.
func TestDeviceCallbacksDoNotAllocate(t *testing.T) {
	capDev := newDevice(malgo.Capture, BackendNull, "test mic")
	in := make([]byte, 2*PeriodSamples) // what C hands the callback
	for i := range in {
		in[i] = byte(i)
	}
	frame := make([]int16, FrameSamples)
	if a := testing.AllocsPerRun(2000, func() {
		// Two 10 ms periods make a frame: only the second wakes the loop.
		capDev.captureData(nil, in, PeriodSamples)
		select {
		case <-capDev.wake:
			t.Fatal("the capture callback woke the loop for half a frame")
		default:
		}
		capDev.captureData(nil, in, PeriodSamples)
		if capDev.ring.Read(frame) != FrameSamples {
			t.Fatal("capture ring lost samples")
		}
		<-capDev.wake
	}); a != 0 {
		t.Errorf("capture callback: %v allocations per call", a)
	}

	// A microphone open ahead of a call (ModeDialing) keeps nothing.
	capDev.discard.Store(true)
	capDev.captureData(nil, in, PeriodSamples)
	capDev.captureData(nil, in, PeriodSamples)
	if n := capDev.ring.Len(); n != 0 || len(capDev.wake) != 0 {
		t.Errorf("a discarding microphone buffered %d samples (wake pending: %v)", n, len(capDev.wake) != 0)
	}
	frame = frame[:PeriodSamples]

	playDev := newDevice(malgo.Playback, BackendNull, "test speaker")
	out := make([]byte, 2*PeriodSamples)
	if a := testing.AllocsPerRun(2000, func() {
		playDev.ring.Write(frame)
		playDev.playbackData(out, nil, PeriodSamples)
		select {
		case <-playDev.wake:
		default:
		}
	}); a != 0 {
		t.Errorf("playback callback: %v allocations per call", a)
	}
	if st := playDev.ring.Stats(); st.Underruns != 0 || st.Overruns != 0 {
		t.Errorf("steady state had trouble: %+v", st)
	}
	if got := bytesToSamples(out); got[1] != int16(uint16(in[2])|uint16(in[3])<<8) {
		t.Errorf("samples did not pass through: %v", got[:4])
	}
}

// TestRingOverrunDropsOldest and underrun counting: the ring keeps the
// newest audio when the consumer stalls, and plays silence when starved.
func TestRingOverrunAndUnderrun(t *testing.T) {
	r := NewRing(8)
	r.Write([]int16{1, 2, 3, 4, 5, 6})
	r.Write([]int16{7, 8, 9, 10}) // two too many: 1 and 2 go
	got := make([]int16, 8)
	if n := r.Read(got); n != 8 || got[0] != 3 || got[7] != 10 {
		t.Errorf("read %d: %v, want 3..10", n, got[:n])
	}
	if st := r.Stats(); st.Overruns != 1 || st.Dropped != 2 {
		t.Errorf("stats %+v, want 1 overrun of 2 samples", st)
	}
	r.Write([]int16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) // more than fits at all
	if n := r.Read(got); n != 8 || got[0] != 4 {
		t.Errorf("oversized write kept %v", got[:n])
	}
	r.Write([]int16{42})
	r.ReadFull(got[:3])
	if got[0] != 42 || got[1] != 0 || got[2] != 0 || r.Stats().Underruns != 1 {
		t.Errorf("underrun read %v, stats %+v", got[:3], r.Stats())
	}
}

// TestRingConcurrent hammers the ring from a producer that overruns and a
// consumer, under -race: every sample read is one that was written, in
// order, and nothing is read twice. Samples count modulo 30000 (they are
// int16), so the producer is kept within 8000 samples of what the consumer
// has seen: a forward step of up to that is legitimate (an overrun dropped
// audio), while a repeat or a step back shows as 0 or a step near 30000.
func TestRingConcurrent(t *testing.T) {
	r := NewRing(256)
	const total, mod, lead = 200000, 30000, 8000
	var seen atomic.Int64 // how far (unwrapped) the consumer has read
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]int16, 48)
		v := 0
		for v < total {
			for int64(v)-seen.Load() > lead {
				runtime.Gosched()
			}
			for i := range buf {
				buf[i] = int16(v % mod)
				v++
			}
			r.Write(buf)
		}
	}()
	last := -1
	var pos int64
	buf := make([]int16, 37)
	check := func(n int) {
		for _, s := range buf[:n] {
			x := int(s)
			if last >= 0 {
				d := (x - last + mod) % mod
				if d == 0 || d > lead+len(buf)+256 {
					t.Fatalf("sample %d after %d: out of order or repeated", x, last)
				}
				pos += int64(d)
			} else {
				pos = int64(x) // the first sample read: no wrap yet
			}
			last = x
		}
		seen.Store(pos)
	}
	for {
		select {
		case <-done:
			for n := r.Read(buf); n > 0; n = r.Read(buf) {
				check(n)
			}
			return
		default:
			check(r.Read(buf))
		}
	}
}
