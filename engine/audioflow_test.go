package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"softphone/audio"
)

// goertzel returns the power of frequency hz in pcm (48 kHz), normalised by
// length.
func goertzel(pcm []int16, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(audio.SampleRate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return p / float64(len(pcm)*len(pcm))
}

// heard reads a wav: sink and reports the power of each frequency, as the
// mean over the loud 100 ms blocks (block by block, so a concealed packet or
// a jitter-buffer skip, which shifts the phase, does not cancel the tone).
func heard(t *testing.T, path string, freqs ...float64) map[float64]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, info, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if info.SampleRate != audio.SampleRate {
		t.Fatalf("%s: %d Hz", path, info.SampleRate)
	}
	const block = audio.SampleRate / 10
	out := map[float64]float64{}
	n := 0
	for i := 0; i+block <= len(pcm); i += block {
		b := pcm[i : i+block]
		if audio.Level(b) <= 5 {
			continue
		}
		n++
		for _, hz := range freqs {
			out[hz] += goertzel(b, hz)
		}
	}
	if n < 5 {
		t.Fatalf("%s: only %d loud 100 ms blocks in %d samples", path, n, len(pcm))
	}
	for hz := range out {
		out[hz] /= float64(n)
	}
	return out
}

// TestAudioArrivesAtTheRightFrequency: each participant's tone reaches the
// others' speakers (recorded to WAV) at its frequency, and nobody hears
// themselves; in a 3-party call each hears the other two.
func TestAudioArrivesAtTheRightFrequency(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d-party", n), func(t *testing.T) {
			leakCheck(t)
			s := newTestServer(t, nil)
			dir := t.TempDir()
			users := []string{"alice", "bob", "carol"}[:n]
			freqs := []float64{440, 660, 880}[:n]
			var tes []*testEngine
			for i, u := range users {
				tes = append(tes, s.engine(u, func(c *Config) {
					c.Mic = fmt.Sprintf("tone:%d", int(freqs[i]))
					c.Speaker = "wav:" + filepath.Join(dir, u+".wav")
				}))
			}
			must(t, "call", tes[0].Call(ctxT(t), users[1:], CallParams{}))
			for _, te := range tes[1:] {
				expect(te, func(CallReceived) bool { return true })
				must(t, "accept", te.Accept(ctxT(t)))
			}
			for i, te := range tes {
				for j, other := range users {
					if i != j {
						volumeOf(te, other, 5)
					}
				}
			}
			time.Sleep(1500 * time.Millisecond)
			for _, te := range tes {
				te.close() // flushes the WAV
			}
			for i, u := range users {
				p := heard(t, filepath.Join(dir, u+".wav"), freqs...)
				t.Logf("%s heard %v", u, p)
				own := p[freqs[i]]
				for j, hz := range freqs {
					if j == i {
						continue
					}
					if p[hz] < 20*own || p[hz] < 1e-4 {
						t.Errorf("%s: %v Hz power %.2g vs own %v Hz %.2g (all %v)", u, hz, p[hz], freqs[i], own, p)
					}
				}
			}
		})
	}
}

// SetAudio moves a call to another microphone without dropping it: bob
// hears alice's 440 Hz tone, then her 880 Hz one.
func TestSetAudioInCall(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	dir := t.TempDir()
	alice := s.engine("alice", nil)
	bob := s.engine("bob", func(c *Config) { c.Mic = "silence"; c.Speaker = "wav:" + filepath.Join(dir, "bob.wav") })
	connect(t, alice, bob)
	volumeOf(bob, "alice", 5)
	time.Sleep(time.Second)
	must(t, "set audio", alice.SetAudio("tone:880", "none"))
	const test = "off (test source)"
	alice.expectEvent(AudioDeviceChanged{Mic: "tone 880 Hz", Speaker: "none", Voice: VoiceProcessing{AEC: test, NS: test, AGC: test}})
	time.Sleep(1500 * time.Millisecond)
	volumeOf(bob, "alice", 5)
	if err := alice.SetAudio("wav:/nonexistent/x.wav", "none"); err == nil {
		t.Fatal("a missing WAV must be an error")
	}
	if alice.has("onCallEnd(caller)") || bob.has("onCallEnd(called)") {
		t.Fatal("switching audio ended the call")
	}
	bob.close()
	f, err := os.Open(filepath.Join(dir, "bob.wav"))
	must(t, "open", err)
	defer f.Close()
	pcm, _, err := audio.ReadWAV(f)
	must(t, "read", err)
	const block = audio.SampleRate / 10
	var first, last []int16
	for i := 0; i+block <= len(pcm); i += block {
		if b := pcm[i : i+block]; audio.Level(b) > 5 {
			if first == nil {
				first = b
			}
			last = b
		}
	}
	if first == nil || goertzel(first, 440) < 20*goertzel(first, 880) {
		t.Fatalf("bob did not hear 440 Hz first")
	}
	if goertzel(last, 880) < 20*goertzel(last, 440) {
		t.Fatalf("bob did not hear 880 Hz after the switch")
	}
}
