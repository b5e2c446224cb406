package engine_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"softphone/audio"
	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// heard reads a wav: sink and reports the power of each frequency, as the
// mean over the loud 100 ms blocks (block by block, so a concealed packet or
// a jitter-buffer skip, which shifts the phase, does not cancel the tone).
func heard(t *testing.T, path string, freqs ...float64) map[float64]float64 {
	t.Helper()
	pcm := calltest.ReadWAV(t, path)
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
			out[hz] += testenv.TonePower(b, hz)
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
			testenv.NoLeaks(t)
			s := calltest.NewServer(t, nil)
			dir := t.TempDir()
			users := []string{"alice", "bob", "carol"}[:n]
			freqs := []float64{440, 660, 880}[:n]
			var tes []*calltest.Engine
			for i, u := range users {
				tes = append(tes, s.Engine(u, func(c *Config) {
					c.Mic = fmt.Sprintf("tone:%d", int(freqs[i]))
					c.Speaker = "wav:" + filepath.Join(dir, u+".wav")
				}))
			}
			calltest.Must(t, "call", tes[0].Call(calltest.Ctx(t), users[1:], CallParams{}))
			for _, te := range tes[1:] {
				calltest.Expect(te, func(CallReceived) bool { return true })
				calltest.Must(t, "accept", te.Accept(calltest.Ctx(t)))
			}
			for i, te := range tes {
				for j, other := range users {
					if i != j {
						te.VolumeOf(other, 5)
					}
				}
			}
			time.Sleep(1500 * time.Millisecond)
			for _, te := range tes {
				te.End() // flushes the WAV
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
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	dir := t.TempDir()
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", func(c *Config) { c.Mic = "silence"; c.Speaker = "wav:" + filepath.Join(dir, "bob.wav") })
	calltest.Connect(t, alice, bob)
	bob.VolumeOf("alice", 5)
	time.Sleep(time.Second)
	calltest.Must(t, "set audio", alice.SetAudio("tone:880", "none"))
	const test = "off (test source)"
	alice.ExpectEvent(AudioDeviceChanged{Mic: "tone 880 Hz", Speaker: "none", Voice: VoiceProcessing{AEC: test, NS: test, AGC: test}})
	time.Sleep(1500 * time.Millisecond)
	bob.VolumeOf("alice", 5)
	if err := alice.SetAudio("wav:/nonexistent/x.wav", "none"); err == nil {
		t.Fatal("a missing WAV must be an error")
	}
	if alice.Has("onCallEnd(caller)") || bob.Has("onCallEnd(called)") {
		t.Fatal("switching audio ended the call")
	}
	bob.End()
	pcm := calltest.ReadWAV(t, filepath.Join(dir, "bob.wav"))
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
	if first == nil || testenv.TonePower(first, 440) < 20*testenv.TonePower(first, 880) {
		t.Fatalf("bob did not hear 440 Hz first")
	}
	if testenv.TonePower(last, 880) < 20*testenv.TonePower(last, 440) {
		t.Fatalf("bob did not hear 880 Hz after the switch")
	}
}
