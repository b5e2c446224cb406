package engine

import (
	"math/rand/v2"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// frameTicks is one 20 ms Opus frame in RTP timestamp units (48 kHz).
const frameTicks = 960

// audioTrack is the engine's one local audio track, shared by every peer so
// each 20 ms frame is encoded once, with its own packetizer: one Opus frame
// is one RTP packet, so the packet is built in place and reused, where
// pion's TrackLocalStaticSample allocates four objects per frame (a copy of
// the payload, two slices and the packet). pion's TrackLocalStaticRTP then
// sends it to every bound peer with the peer's SSRC and payload type.
type audioTrack struct {
	*webrtc.TrackLocalStaticRTP

	mu      sync.Mutex // one writer at a time: the packet is reused
	pkt     rtp.Packet
	started bool
}

func newAudioTrack(userID string) (*audioTrack, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "softphone-"+userID)
	if err != nil {
		return nil, err
	}
	return &audioTrack{TrackLocalStaticRTP: t}, nil
}

// write sends one encoded 20 ms frame. dropped is how many frames just
// before it were lost to the microphone: their sequence numbers and time
// are skipped, so the receiver conceals them rather than stretching time.
// Before any peer is bound, it only advances the numbering.
func (t *audioTrack) write(payload []byte, dropped uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := &t.pkt.Header
	if !t.started {
		// Random starting points (RFC 3550 §5.1). No marker bit: we send
		// no DTX, so there is no talkspurt to mark after the first, and
		// the first goes out before any peer is bound.
		h.Version = 2
		h.SequenceNumber = uint16(rand.Uint32())
		h.Timestamp = rand.Uint32()
		t.started = true
	} else {
		h.SequenceNumber += 1 + dropped
		h.Timestamp += frameTicks * (1 + uint32(dropped))
	}
	t.pkt.Payload = payload
	_ = t.WriteRTP(&t.pkt)
	t.pkt.Payload = nil
}
