//go:build libopus

package audio

// Interoperability with the reference Opus implementation, libopus, through
// cgo. The product never links libopus; these tests and the side-by-side
// benchmark need it (Debian's libopus-dev) and the build tag:
//
//	go test -tags libopus -run Interop -bench Libopus ./audio/
//
// make test installs libopus-dev and runs them.

import (
	"math"
	"testing"

	"gopkg.in/hraban/opus.v2"
)

// libopusEncoder and libopusDecoder are the reference codec behind this
// package's codec interfaces, so the same tests drive both.
type libopusEncoder struct{ enc *opus.Encoder }

func newLibopusEncoder(t testing.TB) opusEncoder {
	t.Helper()
	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	e := &libopusEncoder{enc: enc}
	for _, err := range []error{e.SetBitrate(DefaultBitrate), e.SetFEC(true), e.SetExpectedLoss(DefaultExpectedLoss)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *libopusEncoder) SetBitrate(bps int) error      { return e.enc.SetBitrate(bps) }
func (e *libopusEncoder) SetFEC(on bool) error          { return e.enc.SetInBandFEC(on) }
func (e *libopusEncoder) SetExpectedLoss(pct int) error { return e.enc.SetPacketLossPerc(pct) }
func (e *libopusEncoder) SetDTX(on bool) error          { return e.enc.SetDTX(on) }
func (e *libopusEncoder) Reset() error                  { return e.enc.Reset() }
func (e *libopusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	return e.enc.Encode(pcm, out[:len(out):len(out)])
}

type libopusDecoder struct{ dec *opus.Decoder }

func newLibopusDecoder(t testing.TB) opusDecoder {
	t.Helper()
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &libopusDecoder{dec: dec}
}

// The binding sizes its output by cap(pcm): reslice to the length.
func (d *libopusDecoder) Decode(p []byte, pcm []int16) (int, error) {
	return d.dec.Decode(p, pcm[:len(pcm):len(pcm)])
}
func (d *libopusDecoder) DecodeFEC(next []byte, pcm []int16) error {
	return d.dec.DecodeFEC(next, pcm[:len(pcm):len(pcm)])
}
func (d *libopusDecoder) Conceal(pcm []int16) error { return d.dec.DecodePLC(pcm[:len(pcm):len(pcm)]) }

type codecSide struct {
	name   string
	newEnc func(testing.TB) opusEncoder
	newDec func(testing.TB) opusDecoder
}

var codecSides = []codecSide{
	{"gopus", func(t testing.TB) opusEncoder {
		e, err := NewEncoder(0)
		if err != nil {
			t.Fatal(err)
		}
		return e.enc
	}, func(t testing.TB) opusDecoder {
		d, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		return d.dec
	}},
	{"libopus", newLibopusEncoder, newLibopusDecoder},
}

// encodeAll encodes pcm in 20 ms frames.
func encodeAll(t testing.TB, enc opusEncoder, pcm []int16) [][]byte {
	t.Helper()
	var pkts [][]byte
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		out := make([]byte, MaxPayload)
		n, err := enc.Encode(pcm[i:i+FrameSamples], out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, out[:n])
	}
	return pkts
}

// decodeAll decodes every packet in turn.
func decodeAll(t testing.TB, dec opusDecoder, pkts [][]byte) []int16 {
	t.Helper()
	var out []int16
	pcm := make([]int16, MaxPacketSamples)
	for _, p := range pkts {
		n, err := dec.Decode(p, pcm)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcm[:n]...)
	}
	return out
}

// alignedSNR is the SNR of got against want after the codec's delay: the
// best over shifts up to 20 ms, skipping the first second, where both
// encoders are still settling (a tone's SNR climbs from ~15 to ~36 dB).
func alignedSNR(want, got []int16) float64 {
	best := math.Inf(-1)
	skip := SampleRate
	for shift := 0; shift < FrameSamples; shift++ {
		n := min(len(want), len(got)-shift)
		if n <= skip {
			break
		}
		best = max(best, snr(want[skip:n], got[skip+shift:n+shift]))
	}
	return best
}

// TestInteropDecodesEitherWay encodes with each implementation and decodes
// with both: the two decoders agree on every stream, and the audio comes
// back as faithfully whichever encoder made it. (A perceptual codec keeps
// little of a noise-like waveform at 32 kbit/s, hence the low floor for
// speech-like noise; what matters there is that both encoders score alike, within 3 dB:
// Debian's libopus is 1.3.1, gopus follows 1.6.1.)
func TestInteropDecodesEitherWay(t *testing.T) {
	signals := []struct {
		name   string
		pcm    []int16
		minSNR float64
	}{
		{"440 Hz tone", concatFrames(toneFrames(t, 440, 0.3, 150)), 30},
		{"speech-like", speechLike(3), 2},
	}
	for _, sig := range signals {
		snrs := map[string]float64{}
		for _, enc := range codecSides {
			pkts := encodeAll(t, enc.newEnc(t), sig.pcm)
			var outs [][]int16
			for _, dec := range codecSides {
				out := decodeAll(t, dec.newDec(t), pkts)
				s := alignedSNR(sig.pcm, out)
				t.Logf("%s: %s → %s: %d packets, SNR %.1f dB", sig.name, enc.name, dec.name, len(pkts), s)
				if s < sig.minSNR {
					t.Errorf("%s: %s → %s: SNR %.1f dB, want ≥ %.0f", sig.name, enc.name, dec.name, s, sig.minSNR)
				}
				outs = append(outs, out)
			}
			if s := snr(outs[0], outs[1]); s < 60 {
				t.Errorf("%s from %s: the two decoders differ (%.1f dB apart, want ≥ 60)", sig.name, enc.name, s)
			}
			snrs[enc.name] = alignedSNR(sig.pcm, outs[1])
		}
		if d := math.Abs(snrs["gopus"] - snrs["libopus"]); d > 3 {
			t.Errorf("%s: the encoders' SNR differ by %.1f dB (gopus %.1f, libopus %.1f)", sig.name, d, snrs["gopus"], snrs["libopus"])
		}
	}
}

// TestInteropFECEitherWay loses a frame where the pitch changes and rebuilds
// it from the next packet's in-band FEC, across implementations: the rebuilt
// frame carries the lost frame's pitch, which concealment cannot guess.
func TestInteropFECEitherWay(t *testing.T) {
	var pcm []int16
	var phase float64
	for i := range 14 {
		hz := 300.0
		if i >= 10 {
			hz = 1000
		}
		for range FrameSamples {
			pcm = append(pcm, int16(0.3*math.MaxInt16*math.Sin(phase)))
			phase += 2 * math.Pi * hz / SampleRate
		}
	}
	const lost = 10
	for _, enc := range codecSides {
		e := enc.newEnc(t)
		if err := e.SetExpectedLoss(20); err != nil {
			t.Fatal(err)
		}
		pkts := encodeAll(t, e, pcm)
		for _, dec := range codecSides {
			d := dec.newDec(t)
			decodeAll(t, d, pkts[:lost])
			frame := make([]int16, FrameSamples)
			if err := d.DecodeFEC(pkts[lost+1], frame); err != nil {
				t.Fatalf("%s → %s: %v", enc.name, dec.name, err)
			}
			p1000, p300 := goertzelPower(frame, 1000), goertzelPower(frame, 300)
			t.Logf("%s → %s: FEC frame power at 1000 Hz / 300 Hz = %.1f", enc.name, dec.name, p1000/max(p300, 1))
			if p1000 < 2*p300 {
				t.Errorf("%s → %s: FEC frame has 1000 Hz %.3g vs 300 Hz %.3g: not the lost frame", enc.name, dec.name, p1000, p300)
			}
		}
	}
}

func concatFrames(frames [][]int16) []int16 {
	var out []int16
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// BenchmarkEncodeDecodeLibopus is BenchmarkEncodeDecode20ms with libopus,
// for the side-by-side row of make bench.
func BenchmarkEncodeDecodeLibopus20ms(b *testing.B) {
	frames, _ := speechPackets(b, 50)
	benchEncodeDecode(b, frames, newLibopusEncoder(b), newLibopusDecoder(b))
}

// BenchmarkEncodeDecodeLibopusSpeech20ms is BenchmarkEncodeDecodeSpeech20ms
// with libopus.
func BenchmarkEncodeDecodeLibopusSpeech20ms(b *testing.B) {
	benchEncodeDecode(b, benchSpeech(b), newLibopusEncoder(b), newLibopusDecoder(b))
}
