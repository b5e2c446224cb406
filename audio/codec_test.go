package audio

import (
	"math"
	"testing"
)

func TestOpusRoundTripKeepsFrequency(t *testing.T) {
	for _, hz := range []float64{220, 440, 1000, 3000} {
		enc, err := NewEncoder(0)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		var out []int16
		pkt := make([]byte, MaxPayload)
		pcm := make([]int16, MaxPacketSamples)
		for _, f := range toneFrames(t, hz, 0.3, 50) {
			n, err := enc.Encode(f, pkt)
			if err != nil {
				t.Fatal(err)
			}
			if n > 200 {
				t.Errorf("%d-byte packet at 32 kbit/s (want ~80)", n)
			}
			k, err := dec.Decode(pkt[:n], pcm)
			if err != nil || k != FrameSamples {
				t.Fatalf("decode: %d samples, %v", k, err)
			}
			out = append(out, pcm[:k]...)
		}
		// Skip the codec's start-up; measure the steady tone.
		wantFreq(t, "decoded tone", out[len(out)/2:], hz)
		if l := Level(out[len(out)/2:]); l < 80 || l > 95 {
			t.Errorf("%v Hz: decoded level %d, want the tone's ~89", hz, l)
		}
	}
}

// TestFECRecoversALostFrame sends a tone that changes pitch every frame, loses
// one frame, and rebuilds it from the next packet's FEC data: the rebuilt
// frame has the lost frame's pitch, which concealment cannot guess.
func TestFECRecoversALostFrame(t *testing.T) {
	enc, err := NewEncoder(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetExpectedLoss(20); err != nil {
		t.Fatal(err)
	}
	freqs := []float64{300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 1000, 1000, 1000, 1000}
	var packets [][]byte
	var phase float64
	for _, hz := range freqs {
		f := make([]int16, FrameSamples)
		for i := range f {
			f[i] = int16(0.3 * math.MaxInt16 * math.Sin(phase))
			phase += 2 * math.Pi * hz / SampleRate
		}
		pkt := make([]byte, MaxPayload)
		n, err := enc.Encode(f, pkt)
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, pkt[:n])
	}
	const lost = 10 // the first 1000 Hz frame
	decode := func(useFEC bool) []int16 {
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, MaxPacketSamples)
		for i := 0; i < lost; i++ {
			if _, err := dec.Decode(packets[i], pcm); err != nil {
				t.Fatal(err)
			}
		}
		frame := make([]int16, FrameSamples)
		if useFEC {
			if !packetHasSILK(packets[lost+1]) {
				t.Fatalf("packet after the loss is CELT-only (TOC %#x): no FEC possible", packets[lost+1][0])
			}
			err = dec.DecodeFEC(packets[lost+1], frame)
		} else {
			err = dec.Conceal(frame)
		}
		if err != nil {
			t.Fatal(err)
		}
		return frame
	}
	fec := decode(true)
	plc := decode(false)

	// What the decoder makes of the frame when it is not lost.
	dec, _ := NewDecoder()
	pcm := make([]int16, MaxPacketSamples)
	var ref []int16
	for i := 0; i <= lost; i++ {
		n, err := dec.Decode(packets[i], pcm)
		if err != nil {
			t.Fatal(err)
		}
		ref = pcm[:n]
	}
	snrFEC, snrPLC := snr(ref, fec), snr(ref, plc)
	t.Logf("SNR against the received frame: FEC %.1f dB, PLC %.1f dB", snrFEC, snrPLC)
	if snrFEC < snrPLC+6 {
		t.Errorf("FEC frame is no closer to the lost frame than concealment: %.1f dB vs %.1f dB", snrFEC, snrPLC)
	}
	// The rebuilt frame carries the lost frame's new pitch; concealment
	// continues the old one.
	if p1000, p300 := goertzelPower(fec, 1000), goertzelPower(fec, 300); p1000 < 2*p300 {
		t.Errorf("FEC frame: power at 1000 Hz %.3g, at 300 Hz %.3g; want the lost frame's 1000 Hz", p1000, p300)
	}
	if p1000, p300 := goertzelPower(plc, 1000), goertzelPower(plc, 300); p1000 > p300 {
		t.Errorf("PLC frame already has the 1000 Hz (%.3g > %.3g): the test cannot tell FEC from PLC", p1000, p300)
	}
}

// snr returns the signal-to-error ratio of got against want, in dB.
func snr(want, got []int16) float64 {
	var sig, noise float64
	for i := range want {
		d := float64(want[i]) - float64(got[i])
		sig += float64(want[i]) * float64(want[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/max(noise, 1))
}

func TestCodecRejectsBadInput(t *testing.T) {
	enc, _ := NewEncoder(0)
	if _, err := enc.Encode(make([]int16, 100), make([]byte, MaxPayload)); err == nil {
		t.Error("encoding 100 samples: no error")
	}
	if err := enc.SetBitrate(1000); err == nil {
		t.Error("bitrate 1000: no error")
	}
	dec, _ := NewDecoder()
	if _, err := dec.Decode(nil, make([]int16, MaxPacketSamples)); err == nil {
		t.Error("decoding nothing: no error")
	}
	if err := dec.Conceal(make([]int16, 100)); err == nil {
		t.Error("concealing 100 samples: no error")
	}
	if err := dec.DecodeFEC([]byte{tocSILK20}, make([]int16, 0)); err == nil {
		t.Error("FEC into nothing: no error")
	}
}

// TestEncoderResetForgetsThePast: after Reset the encoder is as good as a
// new one with the same settings: the same input gives the same packets,
// and silence after a tone decodes to silence, not to the tone's tail (a new
// call must not start with the end of the last one).
func TestEncoderResetForgetsThePast(t *testing.T) {
	settle := func(e *Encoder) {
		t.Helper()
		if err := e.SetBitrate(24000); err != nil {
			t.Fatal(err)
		}
		if err := e.SetExpectedLoss(12); err != nil {
			t.Fatal(err)
		}
	}
	used, err := NewEncoder(0)
	if err != nil {
		t.Fatal(err)
	}
	settle(used)
	pkt := make([]byte, MaxPayload)
	for _, f := range toneFrames(t, 660, DefaultToneAmplitude, 75) {
		if _, err := used.Encode(f, pkt); err != nil {
			t.Fatal(err)
		}
	}
	if err := used.Reset(); err != nil {
		t.Fatal(err)
	}
	fresh, err := NewEncoder(0)
	if err != nil {
		t.Fatal(err)
	}
	settle(fresh)
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	freshPkt, pcm := make([]byte, MaxPayload), make([]int16, MaxPacketSamples)
	frames := append(make([][]int16, 5), toneFrames(t, 440, DefaultToneAmplitude, 5)...)
	for i, f := range frames {
		if f == nil {
			f = make([]int16, FrameSamples) // digital silence
		}
		n, err := used.Encode(f, pkt)
		if err != nil {
			t.Fatal(err)
		}
		m, err := fresh.Encode(f, freshPkt)
		if err != nil {
			t.Fatal(err)
		}
		if string(pkt[:n]) != string(freshPkt[:m]) {
			t.Errorf("frame %d after Reset: a %d-byte packet, unlike a new encoder's %d bytes", i, n, m)
		}
		k, err := dec.Decode(pkt[:n], pcm)
		if err != nil {
			t.Fatal(err)
		}
		if l := Level(pcm[:k]); i < 5 && l != 0 {
			t.Errorf("silent frame %d after Reset decodes to level %d: the last call's audio", i, l)
		}
	}
}
