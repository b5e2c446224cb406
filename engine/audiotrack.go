package engine

import (
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// frameTicks is one 20 ms Opus frame in RTP timestamp units (48 kHz).
const frameTicks = 960

// audioTrack is the engine's one local audio track, shared by every peer so
// each 20 ms frame is encoded once, with its own packetizer: one Opus frame
// is one RTP packet, so the packet is built in place and reused, where
// pion's TrackLocalStaticSample allocates four objects per frame (a copy of
// the payload, two slices and the packet). It is its own pion TrackLocal
// (pion's TrackLocalStaticRTP does the same fan-out) so that it sees, per
// peer, whether a frame really went out: pion takes frames from the moment
// a peer is bound, at the answer, and silently drops them until DTLS-SRTP
// is up. The frame dropped last is kept and sent the moment that peer's
// connection is up (ready), instead of leaving the peer to wait for the
// next frame, up to 20 ms later.
type audioTrack struct {
	id, streamID string

	mu       sync.Mutex // one writer at a time: the packet is reused
	pkt      rtp.Packet
	started  bool
	bindings []*trackBinding
	// last is the latest frame (header and a copy of the payload), kept
	// while no peer is bound or some bound peer has had none go out; lastAt
	// is when it was written.
	last   rtp.Packet
	lastAt time.Time
	// readyAge is how old the kept frame may be when a peer becomes ready
	// (readyFrameAge; tests change it).
	readyAge time.Duration
}

// trackBinding is the track bound to one peer connection's sender.
type trackBinding struct {
	id   string
	ssrc webrtc.SSRC
	pt   webrtc.PayloadType
	w    webrtc.TrackLocalWriter
	// flowing: a frame has gone out to this peer (its SRTP is up).
	flowing bool
}

// readyFrameAge is how old the kept frame may be when a peer becomes ready:
// older than one frame means the sending stopped (muted, or the pipeline
// fell behind), and the next frame is the one to start with.
const readyFrameAge = 2 * 20 * time.Millisecond

func newAudioTrack(userID string) *audioTrack {
	return &audioTrack{id: "audio", streamID: "softphone-" + userID, readyAge: readyFrameAge}
}

// Bind is pion's: a peer connection's sender takes the track, once the
// codecs are negotiated. It picks the peer's payload type for Opus (exact
// parameters first, as pion's own tracks do, then the name alone).
func (t *audioTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec := pickOpus(ctx.CodecParameters())
	if codec == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bindings = append(t.bindings, &trackBinding{id: ctx.ID(), ssrc: ctx.SSRC(), pt: codec.PayloadType, w: ctx.WriteStream()})
	return *codec, nil
}

// pickOpus returns the negotiated Opus codec: with our parameters if there,
// else the first by name.
func pickOpus(params []webrtc.RTPCodecParameters) *webrtc.RTPCodecParameters {
	var byName *webrtc.RTPCodecParameters
	for i := range params {
		if !strings.EqualFold(params[i].MimeType, opusCodec.MimeType) {
			continue
		}
		if params[i].SDPFmtpLine == opusCodec.SDPFmtpLine {
			return &params[i]
		}
		if byName == nil {
			byName = &params[i]
		}
	}
	return byName
}

// Unbind is pion's: the sender stopped.
func (t *audioTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, b := range t.bindings {
		if b.id == ctx.ID() {
			t.bindings = append(t.bindings[:i], t.bindings[i+1:]...)
			return nil
		}
	}
	return webrtc.ErrUnbindFailed
}

func (t *audioTrack) ID() string                { return t.id }
func (t *audioTrack) RID() string               { return "" }
func (t *audioTrack) StreamID() string          { return t.streamID }
func (t *audioTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

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
	// The frame is kept while it may be the first for a peer: the first
	// frames of a call go out before the answer binds the peer.
	waiting := len(t.bindings) == 0
	for _, b := range t.bindings {
		b.send(*h, payload)
		waiting = waiting || !b.flowing
	}
	if waiting {
		t.last.Header = *h
		t.last.Payload = append(t.last.Payload[:0], payload...)
		t.lastAt = time.Now()
	}
}

// ready sends the kept frame to the peer whose sender has ssrc, if none has
// gone out to it yet: its connection just came up. It reports whether a
// frame went out.
func (t *audioTrack) ready(ssrc webrtc.SSRC) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.lastAt) > t.readyAge { // also: no frame yet
		return false
	}
	for _, b := range t.bindings {
		if b.ssrc == ssrc && !b.flowing {
			b.send(t.last.Header, t.last.Payload)
			return b.flowing
		}
	}
	return false
}

// send writes one frame to the peer, with the peer's SSRC and payload type
// set on h, its own copy: pion's interceptors add their header extensions
// (transport-cc) to the header they are given. A frame that went out marks
// the peer flowing; pion reports 0 bytes and no error for one it dropped
// because the peer's SRTP is not up yet.
func (b *trackBinding) send(h rtp.Header, payload []byte) {
	h.SSRC, h.PayloadType = uint32(b.ssrc), uint8(b.pt)
	if n, err := b.w.WriteRTP(&h, payload); n > 0 && err == nil {
		b.flowing = true
	}
}
