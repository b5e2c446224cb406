package audio

import (
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goertzelPower returns the power of pcm at hz (sample rate SampleRate).
func goertzelPower(pcm []int16, hz float64) float64 {
	w := 2 * math.Pi * hz / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// dominantFreq returns the strongest frequency in pcm between 50 Hz and
// 4 kHz, to about 1 Hz: a coarse 10 Hz scan refined around the peak.
func dominantFreq(pcm []int16) float64 {
	best, bestP := 0.0, -1.0
	for f := 50.0; f <= 4000; f += 10 {
		if p := goertzelPower(pcm, f); p > bestP {
			best, bestP = f, p
		}
	}
	lo := best - 10
	for f := lo; f <= best+10; f += 0.5 {
		if p := goertzelPower(pcm, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// wantFreq fails unless pcm's dominant frequency is within 1.5% of hz. A
// wrong sample rate anywhere on the path is off by 8% or more (44.1 vs 48
// kHz); a concealed frame or a glitch inside the measured stretch smears
// the peak by a few Hz (665 for a 660 Hz tone was seen on a loaded machine).
func wantFreq(t *testing.T, what string, pcm []int16, hz float64) {
	t.Helper()
	if len(pcm) < SampleRate/10 {
		t.Fatalf("%s: only %d samples to measure", what, len(pcm))
	}
	if got := dominantFreq(pcm); math.Abs(got-hz) > 0.015*hz {
		t.Errorf("%s: dominant frequency %.1f Hz, want %.0f Hz (level %d)", what, got, hz, Level(pcm))
	}
}

// toneFrames returns n frames of a hz tone at amplitude amp.
func toneFrames(t testing.TB, hz, amp float64, n int) [][]int16 {
	t.Helper()
	tone, err := NewTone(hz, amp)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]int16, n)
	for i := range out {
		out[i] = make([]int16, FrameSamples)
		tone.Read(out[i])
	}
	return out
}

// writeWAVFile writes pcm (48 kHz mono) to dir/name and returns the path.
func writeWAVFile(t testing.TB, dir, name string, pcm []int16) string {
	t.Helper()
	path := filepath.Join(dir, name)
	w, err := CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(pcm); off += FrameSamples {
		if err := w.Write(pcm[off:min(off+FrameSamples, len(pcm))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// toneWAV writes seconds of a hz sine at amplitude amp and returns the path.
func toneWAV(t testing.TB, dir string, hz, amp, seconds float64) string {
	t.Helper()
	var pcm []int16
	for _, f := range toneFrames(t, hz, amp, int(seconds*50)) {
		pcm = append(pcm, f...)
	}
	return writeWAVFile(t, dir, "tone.wav", pcm)
}

// speechLike returns seconds of a signal with speech's broad spectrum and
// syllable rhythm: low-passed noise under a 4 Hz envelope, around -20 dBFS.
// It makes the encoder spend its full bitrate, unlike a pure tone.
func speechLike(seconds float64) []int16 {
	rng := rand.New(rand.NewPCG(3, 4))
	n := int(seconds * SampleRate)
	pcm := make([]int16, n)
	var lp float64
	for i := range pcm {
		lp += 0.15 * (rng.NormFloat64() - lp)
		env := 0.55 + 0.45*math.Sin(2*math.Pi*4*float64(i)/SampleRate)
		pcm[i] = clamp16(lp * env * 0.5 * 32767)
	}
	return pcm
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// slogT returns a logger that writes to the test log.
func slogT(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
