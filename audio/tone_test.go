package audio

import (
	"math"
	"testing"
)

// TestToneStaysAccurate runs the phasor oscillator for ten minutes of audio
// and compares it with math.Sin: neither amplitude nor phase may drift.
func TestToneStaysAccurate(t *testing.T) {
	const hz = 997
	tone, err := NewTone(hz, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, FrameSamples)
	frames := 10 * 60 * 50
	for range frames {
		tone.Read(frame)
	}
	n0 := (frames - 1) * FrameSamples
	worst := 0.0
	for i, got := range frame {
		want := 0.5 * math.MaxInt16 * math.Sin(2*math.Pi*hz*float64(n0+i)/SampleRate)
		worst = max(worst, math.Abs(float64(got)-want))
	}
	if worst > 2 {
		t.Errorf("after ten minutes the tone is off by %.1f LSB", worst)
	}
}

func TestLevelMapping(t *testing.T) {
	tests := []struct {
		name string
		pcm  []int16
		want int
	}{
		{"digital silence", make([]int16, FrameSamples), 0},
		{"empty", nil, 0},
		{"full-scale sine", sineFrame(1), 100},
		{"-12 dBFS sine", sineFrame(0.25), 80},
		{"-30 dBFS sine (speech)", sineFrame(math.Pow(10, -30.0/20)), 50},
		{"-42 dBFS sine (quiet speech)", sineFrame(math.Pow(10, -42.0/20)), 30},
		{"-24 dBFS sine (loud speech)", sineFrame(math.Pow(10, -24.0/20)), 60},
		{"-70 dBFS hiss", sineFrame(math.Pow(10, -70.0/20)), 0},
		{"full-scale square", square(), 100},
	}
	for _, tt := range tests {
		if got := Level(tt.pcm); got != tt.want {
			t.Errorf("%s: level %d (%.1f dBFS), want %d", tt.name, got, DBFS(tt.pcm), tt.want)
		}
	}
	if l := Level(speechLike(1)); l < 30 || l > 70 {
		t.Errorf("speech-like signal reads %d, want within the speaking range", l)
	}
}

func sineFrame(amp float64) []int16 {
	tone, _ := NewTone(1000, amp)
	f := make([]int16, FrameSamples)
	tone.Read(f)
	return f
}

func square() []int16 {
	f := make([]int16, FrameSamples)
	for i := range f {
		f[i] = math.MaxInt16
		if i/24%2 == 1 {
			f[i] = -math.MaxInt16
		}
	}
	return f
}

func TestMixerLimiter(t *testing.T) {
	m := NewMixer()
	quiet := sineFrame(0.2)
	out := make([]int16, FrameSamples)
	m.Add(quiet)
	m.Mix(out)
	if !slicesEqual(out, quiet) || m.Gain() != 1 {
		t.Error("a single stream below full scale is not passed through bit-exact")
	}
	loud := sineFrame(0.9)
	for range 10 {
		for range 3 {
			m.Add(loud)
		}
		m.Mix(out)
	}
	if g := m.Gain(); g > 0.4 || g < 0.3 {
		t.Errorf("three 0.9 streams: gain %.3f, want about 1/2.7", g)
	}
	if Level(out) < 95 {
		t.Errorf("limited mix level %d: should sit near full scale", Level(out))
	}
	// Recovery after the loud passage: slow, but back to unity.
	m.Add(quiet)
	m.Mix(out)
	if g := m.Gain(); g > 0.5 {
		t.Errorf("gain jumped back to %.2f at once", g)
	}
	for range 100 {
		m.Add(quiet)
		m.Mix(out)
	}
	if m.Gain() != 1 || !slicesEqual(out, quiet) {
		t.Errorf("gain %.4f after 2 s of quiet, want 1", m.Gain())
	}
	if m.Streams() != 0 {
		t.Error("Mix did not reset the stream count")
	}
}
