package audio

import (
	"fmt"
	"math"

	"github.com/thesyncim/gopus"
)

// The Opus codec in pure Go (github.com/thesyncim/gopus, a port of libopus
// 1.6 checked against it bit for bit). It needs no C library, so the
// project builds with nothing but Go and a C compiler for the sound
// devices; the interop tests (build tag libopus) keep it honest against
// libopus in both directions.

type gopusEncoder struct {
	enc *gopus.Encoder
}

func newOpusEncoder() (opusEncoder, error) {
	enc, err := newGopusEncoder()
	if err != nil {
		return nil, err
	}
	return &gopusEncoder{enc: enc}, nil
}

func newGopusEncoder() (*gopus.Encoder, error) {
	return gopus.NewEncoder(gopus.EncoderConfig{SampleRate: SampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
}

func (e *gopusEncoder) SetBitrate(bps int) error      { return e.enc.SetBitrate(bps) }
func (e *gopusEncoder) SetExpectedLoss(pct int) error { return e.enc.SetPacketLoss(pct) }
func (e *gopusEncoder) SetFEC(on bool) error          { e.enc.SetFEC(on); return nil }
func (e *gopusEncoder) SetDTX(on bool) error          { e.enc.SetDTX(on); return nil }

// Reset replaces the encoder with a new one of the same settings. gopus
// v0.1.1's own Reset keeps part of the encoder's memory of the signal (the
// high-pass filter's and the SILK resampler's state, among others): digital
// silence encoded after it still decodes to the end of what came before,
// at level 20–50 after a tone. A new encoder costs ~0.6 ms and 150 kB, once
// per call.
func (e *gopusEncoder) Reset() error {
	enc, err := newGopusEncoder()
	if err != nil {
		return err
	}
	if err := enc.SetBitrate(e.enc.Bitrate()); err != nil {
		return err
	}
	if err := enc.SetPacketLoss(e.enc.PacketLoss()); err != nil {
		return err
	}
	enc.SetFEC(e.enc.FECEnabled())
	enc.SetDTX(e.enc.DTXEnabled())
	e.enc = enc
	return nil
}

func (e *gopusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	return e.enc.EncodeInt16(pcm, out)
}

type gopusDecoder struct {
	dec *gopus.Decoder
	// fec holds FEC output: gopus rebuilds lost frames in float only.
	fec []float32
}

func newOpusDecoder() (opusDecoder, error) {
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(SampleRate, 1))
	if err != nil {
		return nil, err
	}
	return &gopusDecoder{dec: dec, fec: make([]float32, MaxPacketSamples)}, nil
}

func (d *gopusDecoder) Decode(payload []byte, pcm []int16) (int, error) {
	return d.dec.DecodeInt16(payload, pcm)
}

func (d *gopusDecoder) DecodeFEC(next []byte, pcm []int16) error {
	f := d.fec[:len(pcm)]
	n, err := d.dec.DecodeWithFEC(next, f, true)
	if err != nil {
		return err
	}
	if n != len(pcm) {
		return fmt.Errorf("FEC gave %d samples for a %d-sample gap", n, len(pcm))
	}
	for i, v := range f {
		pcm[i] = floatToInt16(v)
	}
	return nil
}

func (d *gopusDecoder) Conceal(pcm []int16) error {
	n, err := d.dec.DecodeInt16(nil, pcm)
	if err != nil {
		return err
	}
	if n != len(pcm) {
		return fmt.Errorf("concealment gave %d samples for a %d-sample gap", n, len(pcm))
	}
	return nil
}

// floatToInt16 converts a sample in [-1, 1] to 16 bits, rounding and
// saturating as libopus's opus_decode does.
func floatToInt16(v float32) int16 {
	x := math.Round(float64(v) * 32768)
	return int16(max(-32768, min(32767, x)))
}
