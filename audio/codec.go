package audio

import (
	"fmt"
)

// Codec settings (RFC 7587 for Opus over RTP).
const (
	// DefaultBitrate is the encoder's target bitrate: 32 kbit/s gives
	// wideband-to-fullband voice with room for in-band FEC.
	DefaultBitrate = 32000
	// DefaultExpectedLoss is the packet loss percentage the encoder
	// plans for until the engine reports the real figure. It is above zero
	// so that in-band FEC is in the stream from the first packet.
	DefaultExpectedLoss = 5
	// MinBitrate and MaxBitrate bound SetBitrate (Opus's own limits).
	MinBitrate = 6000
	MaxBitrate = 510000
)

// opusEncoder is what this package needs of an Opus encoder: mono 48 kHz,
// VoIP mode, 20 ms frames. Keeping the implementation behind it means the
// codec can change (it was libopus through cgo, now pure Go) without the
// pipeline noticing. Implementations must not allocate in Encode.
type opusEncoder interface {
	SetBitrate(bps int) error
	SetFEC(on bool) error
	SetExpectedLoss(pct int) error
	SetDTX(on bool) error
	Reset() error
	Encode(pcm []int16, out []byte) (int, error)
}

// opusDecoder is what this package needs of an Opus decoder. Every method
// fills exactly the slice it is given (no capacity tricks); implementations
// must not allocate.
type opusDecoder interface {
	Decode(payload []byte, pcm []int16) (int, error)
	// DecodeFEC rebuilds len(pcm) samples lost just before next from next's
	// in-band FEC data, or conceals them when next carries none.
	DecodeFEC(next []byte, pcm []int16) error
	// Conceal fills pcm with packet loss concealment.
	Conceal(pcm []int16) error
}

// Encoder is an Opus encoder for 20 ms mono frames at 48 kHz in VoIP mode
// with in-band FEC on and DTX off (unless enabled). It is not safe for
// concurrent use.
type Encoder struct {
	enc opusEncoder
}

// NewEncoder returns an encoder at bitrate bits per second (0 means
// DefaultBitrate), with in-band FEC on, an expected loss of
// DefaultExpectedLoss percent and DTX off.
func NewEncoder(bitrate int) (*Encoder, error) {
	if bitrate == 0 {
		bitrate = DefaultBitrate
	}
	enc, err := newOpusEncoder()
	if err != nil {
		return nil, fmt.Errorf("%w: creating the Opus encoder: %v", ErrCodec, err)
	}
	e := &Encoder{enc: enc}
	if err := e.SetBitrate(bitrate); err != nil {
		return nil, err
	}
	if err := enc.SetFEC(true); err != nil {
		return nil, fmt.Errorf("%w: enabling in-band FEC: %v", ErrCodec, err)
	}
	if err := e.SetExpectedLoss(DefaultExpectedLoss); err != nil {
		return nil, err
	}
	if err := e.SetDTX(false); err != nil {
		return nil, err
	}
	return e, nil
}

// SetBitrate sets the target bitrate in bits per second.
func (e *Encoder) SetBitrate(bps int) error {
	if bps < MinBitrate || bps > MaxBitrate {
		return fmt.Errorf("%w: bitrate %d bit/s is outside %d..%d", ErrCodec, bps, MinBitrate, MaxBitrate)
	}
	if err := e.enc.SetBitrate(bps); err != nil {
		return fmt.Errorf("%w: setting the bitrate to %d: %v", ErrCodec, bps, err)
	}
	return nil
}

// SetExpectedLoss tells the encoder how much packet loss to expect, in
// percent (clamped to 0..100). Opus spends more bits on FEC the higher it is;
// at 0 it sends no FEC at all.
func (e *Encoder) SetExpectedLoss(pct int) error {
	pct = max(0, min(pct, 100))
	if err := e.enc.SetExpectedLoss(pct); err != nil {
		return fmt.Errorf("%w: setting the expected loss to %d%%: %v", ErrCodec, pct, err)
	}
	return nil
}

// SetDTX switches discontinuous transmission: with it on, the encoder sends
// tiny packets (and fewer of them) during silence.
func (e *Encoder) SetDTX(on bool) error {
	if err := e.enc.SetDTX(on); err != nil {
		return fmt.Errorf("%w: setting DTX: %v", ErrCodec, err)
	}
	return nil
}

// Reset clears the encoder's memory of the audio it has seen, keeping its
// settings (bitrate, FEC, expected loss, DTX): a new call must not start
// with the tail of the last one.
func (e *Encoder) Reset() error {
	if err := e.enc.Reset(); err != nil {
		return fmt.Errorf("%w: resetting the encoder: %v", ErrCodec, err)
	}
	return nil
}

// Encode encodes one frame of FrameSamples samples into out and returns the
// packet length. out should be MaxPayload bytes; it does not allocate.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != FrameSamples {
		return 0, fmt.Errorf("%w: encoding %d samples: want one %d-sample frame", ErrCodec, len(pcm), FrameSamples)
	}
	n, err := e.enc.Encode(pcm, out)
	if err != nil {
		return 0, fmt.Errorf("%w: encoding: %v", ErrCodec, err)
	}
	return n, nil
}

// Decoder is an Opus decoder for mono 48 kHz with FEC recovery and packet
// loss concealment. It is not safe for concurrent use.
type Decoder struct {
	dec opusDecoder
}

// NewDecoder returns a decoder.
func NewDecoder() (*Decoder, error) {
	dec, err := newOpusDecoder()
	if err != nil {
		return nil, fmt.Errorf("%w: creating the Opus decoder: %v", ErrCodec, err)
	}
	return &Decoder{dec: dec}, nil
}

// Decode decodes one packet into pcm and returns the number of samples. pcm
// must be long enough for the packet (MaxPacketSamples always is).
func (d *Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 {
		return 0, fmt.Errorf("%w: decoding an empty packet", ErrInvalidPacket)
	}
	n, err := d.dec.Decode(payload, pcm)
	if err != nil {
		return 0, fmt.Errorf("%w: decoding a %d-byte packet: %v", ErrCodec, len(payload), err)
	}
	return n, nil
}

// DecodeFEC reconstructs the frame lost just before next from next's
// in-band FEC data, filling all of pcm; len(pcm) is the lost duration and
// must be a multiple of 2.5 ms (120 samples), at most MaxPacketSamples.
// Without FEC data in next, Opus conceals instead.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) error {
	if len(next) == 0 {
		return fmt.Errorf("%w: FEC from an empty packet", ErrInvalidPacket)
	}
	if len(pcm) == 0 || len(pcm)%120 != 0 || len(pcm) > MaxPacketSamples {
		return fmt.Errorf("%w: FEC for %d samples: want a multiple of 120 up to %d", ErrCodec, len(pcm), MaxPacketSamples)
	}
	if err := d.dec.DecodeFEC(next, pcm); err != nil {
		return fmt.Errorf("%w: FEC decoding: %v", ErrCodec, err)
	}
	return nil
}

// Conceal fills pcm with packet loss concealment continuing the last decoded
// audio; len(pcm) must be a multiple of 2.5 ms (120 samples), at most
// MaxPacketSamples. After a few frames Opus fades the concealment out to
// silence.
func (d *Decoder) Conceal(pcm []int16) error {
	if len(pcm) == 0 || len(pcm)%120 != 0 || len(pcm) > MaxPacketSamples {
		return fmt.Errorf("%w: concealing %d samples: want a multiple of 120 up to %d", ErrCodec, len(pcm), MaxPacketSamples)
	}
	if err := d.dec.Conceal(pcm); err != nil {
		return fmt.Errorf("%w: concealing: %v", ErrCodec, err)
	}
	return nil
}
