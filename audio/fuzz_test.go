package audio

import (
	"encoding/binary"
	"testing"
	"time"
)

// jbOps encodes a stream of operations for FuzzRemotePackets:
//
//	'p' seq(2) ts(4) ssrc(1) len(1) payload(len)   push a packet now
//	't' ms(1)                                       let time pass, play 20 ms
type jbOps []byte

func (o jbOps) push(seq uint16, ts uint32, ssrc byte, payload []byte) jbOps {
	o = append(o, 'p')
	o = binary.BigEndian.AppendUint16(o, seq)
	o = binary.BigEndian.AppendUint32(o, ts)
	o = append(o, ssrc, byte(len(payload)))
	return append(o, payload...)
}

func (o jbOps) tick(ms byte) jbOps { return append(o, 't', ms) }

// FuzzRemotePackets drives a remote's jitter buffer and Opus decoder with
// arbitrary packets (any sequence numbers, timestamps, SSRCs, payload bytes)
// and arbitrary timing: the playout never panics, never stalls, always
// yields exactly one frame per tick, and the counters stay consistent.
func FuzzRemotePackets(f *testing.F) {
	enc, err := NewEncoder(0)
	if err != nil {
		f.Fatal(err)
	}
	var real [][]byte
	for _, fr := range toneFrames(f, 440, 0.3, 12) {
		pkt := make([]byte, MaxPayload)
		n, _ := enc.Encode(fr, pkt)
		real = append(real, pkt[:n])
	}
	var clean, messy jbOps
	for i, p := range real {
		clean = clean.push(uint16(65530+i), uint32(i*FrameSamples), 1, p).tick(20)
	}
	for i, p := range real {
		j := i ^ 1 // pairwise reordered
		messy = messy.push(uint16(65530+j), uint32(j*FrameSamples)-1000, 1, real[j])
		if i%3 == 0 {
			messy = messy.push(uint16(9), 7, 2, p) // another SSRC
		}
		messy = messy.tick(byte(5 + 30*(i%2)))
	}
	f.Add([]byte(clean))
	f.Add([]byte(messy))
	f.Add([]byte(jbOps{}.push(1, 1, 1, []byte{tocSILK20 | 3, 0x3f}).tick(200).push(1, 1, 1, []byte{0xff, 0xff, 0xff}).tick(0)))

	f.Fuzz(func(t *testing.T, ops []byte) {
		now := time.Unix(1_000_000, 0)
		r, err := newRemote("fuzz", func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int16, FrameSamples)
		pushes := uint64(0)
		for len(ops) > 0 {
			op := ops[0]
			ops = ops[1:]
			switch op {
			case 'p':
				if len(ops) < 8 {
					return
				}
				seq := binary.BigEndian.Uint16(ops)
				ts := binary.BigEndian.Uint32(ops[2:])
				ssrc := uint32(ops[6])
				n := min(int(ops[7]), len(ops)-8)
				r.Push(seq, ts, ssrc, ops[8:8+n])
				pushes++
				ops = ops[8+n:]
			case 't':
				if len(ops) < 1 {
					return
				}
				now = now.Add(time.Duration(ops[0]) * time.Millisecond)
				ops = ops[1:]
				r.n = min(r.n, len(r.pcm)) // nothing outside pull touches it
				r.pull(now, out)
				r.played(now)
				if r.n < 0 || r.n >= FrameSamples+MaxPacketSamples {
					t.Fatalf("remote holds %d samples", r.n)
				}
			}
		}
		st := r.Stats()
		accounted := st.Received + st.Duplicates + st.Invalid
		if accounted > pushes || pushes > accounted+st.Late {
			t.Fatalf("%d pushes but received %d duplicates %d invalid %d late %d", pushes, st.Received, st.Duplicates, st.Invalid, st.Late)
		}
		if st.FECRecovered > st.Lost+st.Late || st.TargetDelay < MinTargetDelay || st.TargetDelay > MaxTargetDelay {
			t.Fatalf("inconsistent stats %+v", st)
		}
		if l := r.Level(); l < 0 || l > 100 {
			t.Fatalf("level %d", l)
		}
	})
}
