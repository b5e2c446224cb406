package engine

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"softphone/internal/testenv"
)

// TestAudioTrackNumbersFramesOnTheWire: through a real pion peer
// connection on loopback, each frame written is one RTP packet that arrives
// intact, sequence numbers step by one and timestamps by 960 (20 ms at
// 48 kHz), and frames the microphone lost are skipped in both, so the
// receiver sees a gap it conceals instead of audio squeezed together.
func TestAudioTrackNumbersFramesOnTheWire(t *testing.T) {
	pp := newPeerPair(t, testMediaConfig())
	defer pp.close()
	testenv.WaitFor(t, "audio both ways", 20*time.Second, func() bool { return pp.gotA.Load() > 10 && pp.gotB.Load() > 10 })

	var mu sync.Mutex
	var got []rtp.Packet
	tap := func(p *rtp.Packet) {
		if len(p.Payload) != 3 || p.Payload[0] != 0xa5 {
			return // the pump's frames
		}
		mu.Lock()
		got = append(got, rtp.Packet{Header: p.Header.Clone(), Payload: bytes.Clone(p.Payload)})
		mu.Unlock()
	}
	pp.tapB.Store(&tap)
	pp.pumpA.Store(false)
	time.Sleep(60 * time.Millisecond) // the pump's last frame is written

	const frames = 30
	dropped := map[int]uint16{10: 2, 20: 1} // frame i follows this many lost ones
	for i := range frames {
		pp.trackA.write([]byte{0xa5, byte(i), byte(^i)}, dropped[i])
		time.Sleep(20 * time.Millisecond)
	}
	testenv.WaitFor(t, "every frame at the other side", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= frames
	})
	mu.Lock()
	defer mu.Unlock()
	for i, p := range got {
		if p.Payload[1] != byte(i) || p.Payload[2] != byte(^i) {
			t.Fatalf("packet %d carries frame %v, want frame %d intact (frames must arrive once each, in order on loopback)", i, p.Payload, i)
		}
		if p.Version != 2 || p.PayloadType != uint8(opusCodec.PayloadType) || p.Marker {
			t.Errorf("packet %d: version %d, payload type %d, marker %v; want 2, %d, false", i, p.Version, p.PayloadType, p.Marker, opusCodec.PayloadType)
		}
		if i == 0 {
			continue
		}
		prev := got[i-1]
		step := 1 + dropped[i]
		if p.SequenceNumber != prev.SequenceNumber+step || p.Timestamp != prev.Timestamp+frameTicks*uint32(step) {
			t.Errorf("packet %d: seq %d ts %d after seq %d ts %d; want seq +%d, ts +%d",
				i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp, step, frameTicks*uint32(step))
		}
		if p.SSRC != prev.SSRC {
			t.Errorf("packet %d: SSRC changed from %d to %d", i, prev.SSRC, p.SSRC)
		}
	}
}

// BenchmarkAudioTrackWrite: one encoded frame sent to a connected peer
// through pion, as fast as the loopback takes them. Our packetizer
// allocates nothing; what allocs/op shows is pion's interceptors
// (transport-cc, statistics, the NACK history until it is full).
func BenchmarkAudioTrackWrite(b *testing.B) {
	pp := newPeerPair(b, testMediaConfig())
	defer pp.close()
	testenv.WaitFor(b, "audio both ways", 20*time.Second, func() bool { return pp.gotA.Load() > 10 && pp.gotB.Load() > 10 })
	pp.pumpA.Store(false)
	time.Sleep(60 * time.Millisecond)
	frame := make([]byte, 80)
	// Fill the NACK history so its steady state is measured.
	for range 2 * resendHistory {
		pp.trackA.write(frame, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pp.trackA.write(frame, 0)
	}
}

// TestAudioTrackSendsTheKeptFrameWhenThePeerIsUp: the last frame written
// before a peer's DTLS-SRTP is up (pion drops it) goes out to that peer as
// its connection comes up, not with the next frame up to 20 ms later. Here
// one frame is written before the peers even negotiate and none after: the
// other side must still receive it, with its numbering, exactly once.
func TestAudioTrackSendsTheKeptFrameWhenThePeerIsUp(t *testing.T) {
	track := newTestTrack(t, "alice")
	track.readyAge = time.Minute // the frame below stays fresh while the peers connect
	var mu sync.Mutex
	var got []rtp.Packet
	tap := func(p *rtp.Packet) {
		mu.Lock()
		got = append(got, rtp.Packet{Header: p.Header.Clone(), Payload: bytes.Clone(p.Payload)})
		mu.Unlock()
	}
	frame := []byte{0xb7, 0x01, 0x02}
	track.write(frame, 0) // no peer bound yet: kept
	seq, ts := track.pkt.SequenceNumber, track.pkt.Timestamp

	pp := newPeerPairTracks(t, testMediaConfig(), testMediaConfig(), track, false, tap)
	defer pp.close()
	testenv.WaitFor(t, "the kept frame at the other side", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	time.Sleep(200 * time.Millisecond) // a second copy would be here by now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the other side received %d packets, want the kept frame once", len(got))
	}
	p := got[0]
	if !bytes.Equal(p.Payload, frame) || p.SequenceNumber != seq || p.Timestamp != ts {
		t.Errorf("received payload %x seq %d ts %d, want %x seq %d ts %d", p.Payload, p.SequenceNumber, p.Timestamp, frame, seq, ts)
	}
	if track.ready(webrtc.SSRC(p.SSRC)) {
		t.Error("ready sent the frame again to a peer it already went out to")
	}
}

// TestAudioTrackKeepsOnlyAFreshFrame: a frame older than one frame interval
// (sending stopped: muted) is not sent to a peer that comes up; its first
// frame is the next one written.
func TestAudioTrackKeepsOnlyAFreshFrame(t *testing.T) {
	track := newTestTrack(t, "alice")
	track.write([]byte{1, 2, 3}, 0)
	track.lastAt = time.Now().Add(-readyFrameAge - time.Millisecond)
	pp := newPeerPairTracks(t, testMediaConfig(), testMediaConfig(), track, false, nil)
	defer pp.close()
	testenv.WaitFor(t, "bob hears nothing yet, alice hears bob", 20*time.Second, func() bool { return pp.gotA.Load() > 5 })
	if n := pp.gotB.Load(); n != 0 {
		t.Fatalf("bob received %d packets from a stale frame, want none", n)
	}
	pp.pumpA.Store(true)
	testenv.WaitFor(t, "bob hears alice's next frames", 20*time.Second, func() bool { return pp.gotB.Load() > 5 })
}
