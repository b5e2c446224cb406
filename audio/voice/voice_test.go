package voice

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// The measured targets, on signals made here (espeak-ng speech,
// pink noise, a simulated room), all at 48 kHz. Each test logs its figures;
// `go test -v -run 'Echo|DoubleTalk|Noise|AGC' ./audio/voice` shows them.

// echoScene is a far-end talker played into a room: the loudspeaker signal
// and the echo the microphone picks up.
type echoScene struct {
	far, echo []float64
}

// newEchoScene plays seconds of far-end speech (-20 dBFS active) into a
// room with the given delay: RT60 200 ms, echo 6 dB below the loudspeaker
// signal (a laptop: the loudspeaker a few centimetres from the microphone).
func newEchoScene(t testing.TB, seconds, delay float64) echoScene {
	t.Helper()
	n := int(seconds * Rate)
	far := scaleTo(loop(speech(t, farVoice, farText, Rate), n, Rate/2), Rate, -20)
	return echoScene{far: far, echo: convolve(far, room(Rate, delay, 0.2, 0.3, -6, 1))}
}

// mask returns the frames where x is active (within 30 dB of its loudest).
func mask(x []float64) []bool {
	_, m := activeLevel(x, Rate)
	return m
}

// and returns the frames active in both masks.
func and(a, b []bool) []bool {
	out := make([]bool, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i] && b[i]
	}
	return out
}

// TestEchoERLE: on far-end-only speech, after 2 s of convergence, the echo
// is at least 30 dB down (echo return loss enhancement, echo canceller and
// residual echo suppressor together), for delays across 0–300 ms. The echo's
// share of the output is the output less what the processor did to the
// microphone's noise (a -70 dBFS floor).
func TestEchoERLE(t *testing.T) {
	for _, delay := range []float64{0.005, 0.080, 0.200, 0.290} {
		sc := newEchoScene(t, 12, delay)
		noise := whiteNoise(len(sc.far), -70, 3)
		out, shares, p := simulate(Config{AEC: true}, sc.far, sc.echo, noise)
		residual := sub(out, shares[1])
		m := mask(sc.echo)
		got := ratioDB(sc.echo, residual, m, 2*Rate, len(out))
		st := p.Stats()
		t.Logf("delay %3.0f ms: ERLE %.1f dB after 2 s (linear filter alone %.1f dB); found delay %.1f ms; per second: %s",
			delay*1000, got, st.ERLE, st.EchoDelay, timeline(sc.echo, residual, m, Rate))
		if got < 30 {
			t.Errorf("delay %.0f ms: ERLE %.1f dB after 2 s, want >= 30", delay*1000, got)
		}
		if math.Abs(st.EchoDelay-delay*1000) > 25 {
			t.Errorf("delay %.0f ms: the canceller aligned at %.1f ms", delay*1000, st.EchoDelay)
		}
	}
}

// TestEchoDelayChange: the delay jumps by 50 ms (either way) after 12 s,
// while the far end talks; within 1 s the echo is at least 20 dB down
// again: over the second that starts half a second after the change, and
// over the one after that.
func TestEchoDelayChange(t *testing.T) {
	const at = 12
	for _, tc := range []struct{ from, to float64 }{{0.080, 0.130}, {0.200, 0.150}} {
		sc := newEchoScene(t, 18, tc.from)
		moved := newEchoScene(t, 18, tc.to)
		copy(sc.echo[at*Rate:], moved.echo[at*Rate:])
		noise := whiteNoise(len(sc.far), -70, 3)
		out, shares, p := simulate(Config{AEC: true}, sc.far, sc.echo, noise)
		residual := sub(out, shares[1])
		m := mask(sc.echo)
		before := ratioDB(sc.echo, residual, m, (at-2)*Rate, at*Rate)
		first := ratioDB(sc.echo, residual, m, at*Rate, (at+1)*Rate)
		half := ratioDB(sc.echo, residual, m, at*Rate+Rate/2, (at+1)*Rate+Rate/2)
		after := ratioDB(sc.echo, residual, m, (at+1)*Rate, (at+2)*Rate)
		t.Logf("%.0f → %.0f ms: ERLE %.1f dB before; after the change %.1f dB over its first second, %.1f dB from 0.5 to 1.5 s, %.1f dB from 1 to 2 s; per 250 ms from 1 s before: %s",
			tc.from*1000, tc.to*1000, before, first, half, after, timeline(sc.echo[(at-1)*Rate:], residual[(at-1)*Rate:], m[(at-1)*50:], Rate/4))
		if half < 20 || after < 20 {
			t.Errorf("%.0f → %.0f ms: ERLE %.1f dB 0.5 s and %.1f dB 1 s after the change, want >= 20", tc.from*1000, tc.to*1000, half, after)
		}
		if d := p.Stats().EchoDelay; math.Abs(d-tc.to*1000) > 25 {
			t.Errorf("%.0f → %.0f ms: the canceller aligned at %.1f ms", tc.from*1000, tc.to*1000, d)
		}
	}
}

// TestEchoDrift: the loudspeaker's and the microphone's clocks differ by
// 100 ppm (two devices), so the delay creeps by 6 ms a minute; the
// canceller follows it. (The linear filter cannot keep up with a path that
// moves a sample every 0.6 s; the residual echo suppressor carries the
// load, and the log says how much the linear filter still does.)
func TestEchoDrift(t *testing.T) {
	sc := newEchoScene(t, 40, 0.080)
	// The microphone's clock runs fast: its echo is the far end played
	// 100 ppm slower.
	skewed := make([]float64, len(sc.far))
	for i := range skewed {
		pos := float64(i) * (1 - 100e-6)
		k := int(pos)
		f := pos - float64(k)
		if k+1 < len(sc.far) {
			skewed[i] = sc.far[k]*(1-f) + sc.far[k+1]*f
		}
	}
	echo := convolve(skewed, room(Rate, 0.080, 0.2, 0.3, -6, 1))
	noise := whiteNoise(len(echo), -70, 3)
	out, shares, p := simulate(Config{AEC: true}, sc.far, echo, noise)
	residual := sub(out, shares[1])
	m := mask(echo)
	got := ratioDB(echo, residual, m, 2*Rate, len(out))
	late := ratioDB(echo, residual, m, 30*Rate, len(out))
	st := p.Stats()
	t.Logf("100 ppm drift (4 ms over 40 s): ERLE %.1f dB after 2 s, %.1f dB over the last 10 s (linear filter %.1f dB); realigned %d times, delay now %.1f ms; per 5 s: %s",
		got, late, st.ERLE, st.Realigns, st.EchoDelay, timeline(echo, residual, m, 5*Rate))
	if got < 30 || late < 30 {
		t.Errorf("with drift: ERLE %.1f dB after 2 s, %.1f dB at the end, want >= 30", got, late)
	}
	// The delay at the end: 80 ms of room plus 4 ms of drift, and the
	// main arrival comes up to ~20 ms after the first in this room.
	if d := st.EchoDelay; d < 83 || d > 105 {
		t.Errorf("with drift: aligned at %.1f ms, want the drifted delay (84 ms and the room's strongest arrival)", d)
	}
}

// TestDoubleTalk: after 10 s of far-end speech, the near end talks over it
// at the echo's level; the near end's speech loses at most 3 dB against
// the clean near end while both talk. Its share of the output is what the
// processor's gains did to it (a replay of them on the near end alone).
func TestDoubleTalk(t *testing.T) {
	sc := newEchoScene(t, 24, 0.080)
	n := len(sc.far)
	near := make([]float64, n)
	copy(near[10*Rate:], scaleTo(speech(t, nearVoice, nearText, Rate), Rate, -26))
	noise := whiteNoise(n, -70, 3)
	both := and(mask(near), mask(sc.echo))

	out, shares, _ := simulate(Config{AEC: true}, sc.far, sc.echo, near, noise)
	loss := ratioDB(near, shares[1], both, 10*Rate, n)
	residual := sub(sub(out, shares[1]), shares[2])
	erle := ratioDB(sc.echo, residual, both, 10*Rate, n)
	t.Logf("double talk, echo canceller: near end loses %.2f dB; echo %.1f dB down meanwhile; loss per second: %s",
		loss, erle, timeline(near[10*Rate:], shares[1][10*Rate:], both[500:], Rate))
	if loss > 3 {
		t.Errorf("double talk: the near end loses %.2f dB, want <= 3", loss)
	}

	// With everything on, the loss is measured against the same
	// processing without a far end (noise suppression and gain control
	// change the level by themselves).
	_, all, _ := simulate(Default, sc.far, sc.echo, near, noise)
	_, alone, _ := simulate(Default, nil, near, noise)
	rel := ratioDB(alone[0], all[1], both, 10*Rate, n)
	t.Logf("double talk, everything on: near end %.2f dB below the same processing without a far end", rel)
	if rel > 3 {
		t.Errorf("double talk with everything on: the near end loses %.2f dB, want <= 3", rel)
	}
}

// TestNoiseSuppression: speech in fan-like pink noise (12 dB below it);
// with speech present the noise comes out at least 12 dB lower and the
// speech within 2 dB of its level.
func TestNoiseSuppression(t *testing.T) {
	sp := scaleTo(speech(t, nearVoice, nearText, Rate), Rate, -26)
	n := len(sp) + 3*Rate
	clean := make([]float64, n)
	copy(clean[2*Rate:], sp)
	noise := pinkNoise(n, -38, 5)
	m := mask(clean)
	first, last := -1, 0
	for i, v := range m {
		if v {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	from, to := first*FrameSamples, (last+1)*FrameSamples
	for _, tc := range []struct {
		level    NSLevel
		want     float64
		pauseMin float64
	}{{NSHigh, 12, 18}, {NSLow, 0, 10}} {
		_, shares, _ := simulate(Config{NS: tc.level}, nil, clean, noise)
		withSpeech := ratioDB(noise, shares[1], nil, from, to)
		inPauses := ratioDB(noise, shares[1], nil, Rate, 2*Rate)
		speechChange := -ratioDB(clean, shares[0], m, from, to)
		t.Logf("NS %v: noise %.1f dB lower with speech present (%.1f dB before it starts), speech level %+.2f dB", tc.level, withSpeech, inPauses, speechChange)
		if withSpeech < tc.want || inPauses < tc.pauseMin {
			t.Errorf("NS %v: noise only %.1f dB lower with speech, %.1f dB without; want >= %.0f and %.0f", tc.level, withSpeech, inPauses, tc.want, tc.pauseMin)
		}
		if math.Abs(speechChange) > 2 {
			t.Errorf("NS %v: speech level changed by %.2f dB, want within 2", tc.level, speechChange)
		}
	}
}

// TestNoiseAdapts: a fan starts (pink noise jumps from -65 to -40 dBFS);
// within a second the noise estimate has followed it and the output's noise
// is down by at least 15 dB.
func TestNoiseAdapts(t *testing.T) {
	n := 6 * Rate
	noise := pinkNoise(n, -40, 8)
	quiet := pinkNoise(n, -65, 9)
	copy(noise[:3*Rate], quiet[:3*Rate])
	_, shares, _ := simulate(Config{NS: NSHigh}, nil, noise)
	var line []float64
	for s := 3 * Rate; s < 5*Rate; s += Rate / 4 {
		line = append(line, math.Round(ratioDB(noise, shares[0], nil, s, s+Rate/4)))
	}
	after := ratioDB(noise, shares[0], nil, 4*Rate, 5*Rate)
	t.Logf("the fan starts at 3 s: noise reduction per 250 ms from then %v; %.1f dB in the second after the first", line, after)
	if after < 15 {
		t.Errorf("one second after the noise rose: reduced by %.1f dB, want >= 15", after)
	}
}

// TestAGC: a quiet voice (-40 dBFS) comes out at -20 ± 3 dBFS within 2 s; a
// loud one whose loudest frames read -6 dBFS is never clipped, whether it
// starts the call or follows the quiet one (the gain then stands at +20
// dB); noise alone, and pauses, never raise the gain.
func TestAGC(t *testing.T) {
	sp := speech(t, nearVoice, nearText, Rate)
	floor := func(n int) []float64 { return pinkNoise(n, -70, 4) }

	quiet := scaleTo(sp, Rate, -40)
	out, _, _ := simulate(Default, nil, quiet, floor(len(quiet)))
	got, _ := activeLevel(out[2*Rate:], Rate)
	t.Logf("-40 dBFS voice: %.1f dBFS after 2 s", got)
	if math.Abs(got+20) > 3 {
		t.Errorf("-40 dBFS voice: %.1f dBFS after 2 s, want -20 ± 3", got)
	}

	loud := loudestFramesAt(sp, -6)
	quietThenLoud := append(append([]float64{}, quiet...), loud...)
	for name, x := range map[string][]float64{"loud voice": loud, "quiet then loud": quietThenLoud} {
		out, _, _ := simulate(Default, nil, x, floor(len(x)))
		peak, clipped := 0.0, 0
		for _, v := range out {
			peak = max(peak, math.Abs(v))
			if v >= 32767 || v <= -32768 {
				clipped++
			}
		}
		l, _ := activeLevel(out[len(out)-len(loud)+2*Rate:], Rate)
		t.Logf("%s: output peak %.2f dBFS, %d samples clipped; loud voice at %.1f dBFS after 2 s", name, 20*math.Log10(peak/32768), clipped, l)
		if clipped > 0 {
			t.Errorf("%s: %d samples clipped", name, clipped)
		}
	}

	// Noise alone: the gain stays at 0 dB and the output's noise at the
	// input's (less what noise suppression takes).
	noise := pinkNoise(8*Rate, -50, 6)
	_, _, p := simulate(Config{AGC: true}, nil, noise)
	if g := p.Stats().GainDB; g != 0 {
		t.Errorf("noise alone moved the gain to %.1f dB", g)
	}
	// Speech, then a long pause: the noise in the pause stays where the
	// speech left it.
	x := append(append([]float64{}, quiet...), make([]float64, 6*Rate)...)
	nz := floor(len(x))
	_, shares, _ := simulate(Default, nil, x, nz)
	s := len(quiet) + Rate
	early := ratioDB(shares[1], nz, nil, s, s+Rate)
	late := ratioDB(shares[1], nz, nil, len(x)-2*Rate, len(x))
	t.Logf("pause after speech: output noise %+.1f dB against the input in its first second, %+.1f dB five seconds on", early, late)
	if late > early+1 {
		t.Errorf("the noise floor rose by %.1f dB during a pause", late-early)
	}
}

// loudestFramesAt scales x so its loudest 20 ms frame reads db dBFS.
func loudestFramesAt(x []float64, db float64) []float64 {
	top := -300.0
	for i := 0; i+FrameSamples <= len(x); i += FrameSamples {
		top = max(top, dbfs(x[i:i+FrameSamples]))
	}
	g := math.Pow(10, (db-top)/20)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * g
	}
	return out
}

// TestOffPassesThrough: with every stage off, frames pass untouched; with
// only the echo canceller on and no far end (no loudspeaker), speech passes
// at its level.
func TestOffPassesThrough(t *testing.T) {
	sp := scaleTo(speech(t, nearVoice, nearText, Rate), Rate, -26)
	in := toInt16(sp)
	frame := make([]int16, FrameSamples)
	p := New(Off)
	for f := 0; (f+1)*FrameSamples <= len(in); f++ {
		copy(frame, in[f*FrameSamples:])
		p.Process(frame, nil)
		for i, v := range frame {
			if v != in[f*FrameSamples+i] {
				t.Fatalf("frame %d sample %d: %d, want %d", f, i, v, in[f*FrameSamples+i])
			}
		}
	}
	out, _, _ := simulate(Config{AEC: true}, nil, sp)
	if d := ratioDB(out, sp, mask(sp), 0, len(out)); math.Abs(d) > 0.1 {
		t.Errorf("AEC without a far end changed the speech by %.2f dB", d)
	}
}

// BenchmarkVoiceProcessing is the cost of all three stages on one 20 ms
// frame of double talk in a room: the budget is 150 µs and no
// allocation.
func BenchmarkVoiceProcessing(b *testing.B) {
	sc := newEchoScene(b, 10, 0.080)
	near := scaleTo(speech(b, nearVoice, nearText, Rate), Rate, -26)
	mic := toInt16(add(sc.echo, loop(near, len(sc.echo), Rate), pinkNoise(len(sc.echo), -50, 2)))
	far := toInt16(sc.far)
	frames := len(mic) / FrameSamples
	p := New(Default)
	frame := make([]int16, FrameSamples)
	// Converge first: the cost of a working canceller is what counts.
	for f := range frames {
		copy(frame, mic[f*FrameSamples:])
		p.Process(frame, far[f*FrameSamples:(f+1)*FrameSamples])
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	f := 0
	for b.Loop() {
		copy(frame, mic[f*FrameSamples:])
		p.Process(frame, far[f*FrameSamples:(f+1)*FrameSamples])
		f = (f + 1) % frames
	}
	// On a shared machine the wall clock counts other programs' turns
	// too; the CPU time is what the budget is about.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/frame")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestRobust feeds the processor what a real device can: a reference that
// lags the echo (a non-causal path), a delay that jumps every second by up
// to ±200 ms, full-scale noise, a clipping microphone and digital silence.
// It must not fail, and the output must stay sound (no stuck full-scale
// output, no runaway gain).
func TestRobust(t *testing.T) {
	rng := newRand(42)
	n := 30 * Rate
	far := whiteNoise(n, -20, 11)
	copy(far[10*Rate:20*Rate], whiteNoise(10*Rate, 0, 12)) // full scale
	clear(far[25*Rate:])                                   // silence
	mic := make([]float64, n)
	for s := 0; s < n; s += Rate {
		// The echo comes from far[i - d], d from -200 ms (before the
		// reference) to +300 ms, changing every second.
		d := int((rng.Float64()*0.5 - 0.2) * Rate)
		for i := s; i < min(s+Rate, n); i++ {
			if j := i - d; j >= 0 && j < n {
				mic[i] = 0.7 * far[j]
			}
		}
	}
	for i := 15 * Rate; i < 16*Rate; i++ {
		mic[i] = 40000 * math.Copysign(1, mic[i]) // clipping
	}
	out, _, p := simulate(Default, far, mic)
	loud := 0
	for f := 0; f+FrameSamples <= len(out); f += FrameSamples {
		if dbfs(out[f:f+FrameSamples]) > -1 {
			loud++
		}
	}
	st := p.Stats()
	t.Logf("frames above -1 dBFS: %d of %d; stats %+v", loud, len(out)/FrameSamples, st)
	if loud > 100 {
		t.Errorf("%d frames of the output at full scale", loud)
	}
	if math.IsNaN(st.GainDB) || st.GainDB > agcMaxGain || st.GainDB < agcMinGain {
		t.Errorf("gain %v dB", st.GainDB)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 13)) }

// TestEchoInNoise: the far end talks into a room with a fan, everything
// on: the echo is still taken 30 dB down after 2 s, not left at the noise
// suppressor's gentler floor, and the fan comes out lower too.
func TestEchoInNoise(t *testing.T) {
	sc := newEchoScene(t, 12, 0.080)
	noise := pinkNoise(len(sc.far), -45, 21)
	out, shares, p := simulate(Default, sc.far, sc.echo, noise)
	residual := sub(out, shares[1])
	m := mask(sc.echo)
	got := ratioDB(sc.echo, residual, m, 2*Rate, len(out))
	nr := ratioDB(noise, shares[1], nil, 2*Rate, len(out))
	t.Logf("echo in a -45 dBFS fan, everything on: ERLE %.1f dB after 2 s, the fan %.1f dB lower; stats %+v", got, nr, p.Stats())
	if got < 30 {
		t.Errorf("ERLE %.1f dB in noise, want >= 30", got)
	}
}

// TestReferenceJump: the pipeline pairs the speaker's frames with the
// microphone's by the devices' positions; a device that stalls breaks the
// pairing, and the reference jumps (here by 30 ms, at 5 s) while the echo
// does not. Told so, the processor keeps a tone 20 dB down over the second
// after the jump, and speech from half a second after it (the delay must be
// found again first).
func TestReferenceJump(t *testing.T) {
	sp := scaleTo(loop(speech(t, farVoice, farText, Rate), 10*Rate, Rate/2), Rate, -20)
	for name, played := range map[string][]float64{"tone": tone(10*Rate, Rate, 700, -12), "speech": sp} {
		echo := convolve(played, room(Rate, 0.080, 0.2, 0.3, -6, 1))
		// What the processor is told was played: right until 5 s, then
		// 30 ms early (the pairing slipped).
		jump := 5 * Rate
		told := append([]float64(nil), played...)
		copy(told[jump:], played[jump+int(0.030*Rate):])
		p := New(Config{AEC: true})
		noise := whiteNoise(len(echo), -70, 5)
		mic, far := toInt16(add(echo, noise)), toInt16(told)
		out := make([]float64, len(mic))
		for f := 0; (f+1)*FrameSamples <= len(mic); f++ {
			if f*FrameSamples == jump {
				p.ReferenceJumped()
			}
			seg := mic[f*FrameSamples : (f+1)*FrameSamples]
			p.Process(seg, far[f*FrameSamples:(f+1)*FrameSamples])
			for i, v := range seg {
				out[f*FrameSamples+i] = float64(v)
			}
		}
		out = append(out[p.Delay():], make([]float64, p.Delay())...)
		m := mask(echo)
		from := jump
		if name == "speech" {
			from += Rate / 2
		}
		after := ratioDB(echo, out, m, from, from+Rate)
		t.Logf("%s: ERLE %.1f dB before the jump, %.1f dB over the second measured after it; per 250 ms: %s", name,
			ratioDB(echo, out, m, jump-2*Rate, jump), after, timeline(echo[jump-Rate:], out[jump-Rate:], m[jump/FrameSamples-50:], Rate/4))
		if after < 20 {
			t.Errorf("%s: ERLE %.1f dB over the second after the reference jumped, want >= 20", name, after)
		}
	}
}

// TestEchoDropouts: a starved sound server drops what the microphone hears
// for tens of milliseconds and resumes a little earlier or later (the
// PulseAudio loopback of the real-device test does this under load), or
// resumes off by a few milliseconds with nothing lost. For a tone and for
// speech, the echo stays 30 dB down after 2 s: the filter must not send its
// own estimate while the echo is gone, and the suppressor must catch the
// echo when it comes back, whatever its phase.
func TestEchoDropouts(t *testing.T) {
	n := 12 * Rate
	sp := scaleTo(loop(speech(t, farVoice, farText, Rate), n, Rate/2), Rate, -20)
	h := room(Rate, 0.080, 0.2, 0.3, -6, 1)
	for _, tc := range []struct {
		name string
		far  []float64
		gaps bool
		seed uint64
	}{
		{"tone with dropouts", tone(n, Rate, 700, -12), true, 17},
		{"speech with dropouts", sp, true, 17},
		{"tone with jumps", tone(n, Rate, 700, -12), false, 23},
	} {
		full := convolve(tc.far, h)
		echo := make([]float64, n)
		rng := newRand(tc.seed)
		shift := 0
		for i := 0; i < n; {
			// 0.5 to 1 s of echo, then 20 to 60 ms of nothing (or
			// none), and the path resumes up to 3 ms earlier or later.
			run := Rate/2 + int(rng.Float64()*Rate/2)
			for j := i; j < min(i+run, n); j++ {
				if k := j - shift; k >= 0 && k < n {
					echo[j] = full[k]
				}
			}
			gap := Rate/50 + int(rng.Float64()*Rate/25)
			if !tc.gaps {
				gap = 0
			}
			i += run + gap
			shift += int((rng.Float64() - 0.5) * 0.006 * Rate)
		}
		noise := whiteNoise(n, -70, 19)
		out, shares, _ := simulate(Config{AEC: true}, tc.far, echo, noise)
		residual := sub(out, shares[1])
		m := mask(echo)
		got := ratioDB(echo, residual, m, 2*Rate, n)
		worst, leaks := -200.0, ""
		for f := 2 * 50; f < n/FrameSamples; f++ {
			if dbfs(echo[f*FrameSamples:(f+1)*FrameSamples]) > -45 {
				r := ratioDB(residual, echo, nil, f*FrameSamples, (f+1)*FrameSamples)
				worst = max(worst, r)
				if r > -20 {
					leaks += fmt.Sprintf(" f%d:%.0f", f, r)
				}
			}
		}
		t.Logf("%s: ERLE %.1f dB after 2 s; the worst 20 ms frame %.1f dB; frames above -20 dB:%s", tc.name, got, worst, leaks)
		if got < 30 {
			t.Errorf("%s: ERLE %.1f dB, want >= 30", tc.name, got)
		}
	}
}
