package audio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"softphone/internal/testenv"
)

// wire sends from's encoded frames to the remote to, as pion's
// WriteSample would: one packet per frame with consecutive sequence numbers
// and timestamps, skipping over dropped frames.
func wire(from *Pipeline, to *Remote, ssrc uint32) {
	var seq uint16 = 100
	var ts uint32 = 12345
	from.SetPacketHandler(func(p Packet) {
		seq += uint16(p.Dropped)
		ts += uint32(p.Dropped) * FrameSamples
		to.Push(seq, ts, ssrc, p.Payload)
		seq++
		ts += FrameSamples
	})
}

func mustOpen(t testing.TB, cfg Config) *Pipeline {
	t.Helper()
	p, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	return p
}

func readWAVFile(t *testing.T, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, info, err := ReadWAV(f)
	if err != nil {
		t.Fatalf("%s is not a valid WAV: %v", path, err)
	}
	if info.SampleRate != SampleRate || info.Channels != 1 {
		t.Fatalf("%s: %+v", path, info)
	}
	return pcm
}

// window returns pcm between from and to seconds.
func window(pcm []int16, from, to float64) []int16 {
	a, b := int(from*SampleRate), int(to*SampleRate)
	return pcm[min(a, len(pcm)):min(b, len(pcm))]
}

func TestPipelineToneReachesTheOtherSide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "b.wav")
		a := mustOpen(t, Config{Mode: ModeCall, Mic: "tone:440", Speaker: "none"})
		b := mustOpen(t, Config{Mode: ModeCall, Mic: "silence", Speaker: "wav:" + out})
		if a.MicName() != "tone 440 Hz" || b.SpeakerName() != "wav "+out {
			t.Errorf("names %q %q", a.MicName(), b.SpeakerName())
		}
		if w := a.Warning() + b.Warning(); w != "" {
			t.Errorf("warning without any device in use: %q", w)
		}
		rb, err := b.AddRemote("alice")
		if err != nil {
			t.Fatal(err)
		}
		wire(a, rb, 0xA11CE)
		time.Sleep(2 * time.Second)
		if l := a.LocalLevel(); l != 80 {
			t.Errorf("tone:440 local level %d, want 80 (-12 dBFS)", l)
		}
		if l := rb.Level(); l < 75 || l > 85 {
			t.Errorf("remote level %d, want about 80", l)
		}
		st := rb.Stats()
		if st.Received < 95 || st.Lost+st.Late+st.Concealed+st.DecodeErrors != 0 {
			t.Errorf("remote stats after 2 s: %+v", st)
		}
		if st.TargetDelay != MinTargetDelay || st.PlayoutDelay < 10*time.Millisecond || st.PlayoutDelay > 30*time.Millisecond {
			t.Errorf("target %v, measured playout delay %v; want 20 ms and about 20 ms", st.TargetDelay, st.PlayoutDelay)
		}
		if ps := a.Stats(); ps.FramesSent < 99 || ps.FramesSent > 101 {
			t.Errorf("sent %d frames in 2 s, want 100", ps.FramesSent)
		}
		a.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		pcm := readWAVFile(t, out)
		if d := float64(len(pcm)) / SampleRate; d < 1.95 || d > 2.05 {
			t.Errorf("recorded %.2f s in 2 s", d)
		}
		wantFreq(t, "recording", window(pcm, 1, 2), 440)
	})
}

func TestPipelineMute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dec, _ := NewDecoder()
		pcm := make([]int16, MaxPacketSamples)
		var packets, lastLevel atomic.Int64
		p := mustOpen(t, Config{Mode: ModeCall, Mic: "tone:1000", Speaker: "none", OnPacket: func(pk Packet) {
			n, err := dec.Decode(pk.Payload, pcm)
			if err != nil {
				t.Error(err)
				return
			}
			packets.Add(1)
			lastLevel.Store(int64(Level(pcm[:n])))
		}})
		defer p.Close()
		time.Sleep(500 * time.Millisecond)
		if p.LocalLevel() != 80 || lastLevel.Load() < 70 {
			t.Errorf("unmuted: local level %d, sent level %d", p.LocalLevel(), lastLevel.Load())
		}
		p.SetMuted(true)
		before := packets.Load()
		time.Sleep(500 * time.Millisecond)
		if p.LocalLevel() != 0 || lastLevel.Load() != 0 {
			t.Errorf("muted: local level %d, sent level %d; want 0 and 0", p.LocalLevel(), lastLevel.Load())
		}
		if n := packets.Load() - before; n < 24 {
			t.Errorf("muted: %d packets in 500 ms; muting must keep the stream going", n)
		}
		p.SetMuted(false)
		time.Sleep(200 * time.Millisecond)
		if p.LocalLevel() != 80 {
			t.Errorf("unmuted again: level %d", p.LocalLevel())
		}
	})
}

func TestPipelineSettingsAtRunTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var bytes, n atomic.Int64
		voice := writeWAVFile(t, t.TempDir(), "voice.wav", speechLike(3))
		p := mustOpen(t, Config{Mode: ModeCall, Mic: "wav:" + voice, Speaker: "none", OnPacket: func(pk Packet) {
			bytes.Add(int64(len(pk.Payload)))
			n.Add(1)
		}})
		defer p.Close()
		rate := func() float64 {
			bytes.Store(0)
			n.Store(0)
			time.Sleep(2 * time.Second)
			return float64(bytes.Load()) * 8 / (float64(n.Load()) * FrameDuration.Seconds())
		}
		r32 := rate()
		if err := p.SetBitrate(12000); err != nil {
			t.Fatal(err)
		}
		r12 := rate()
		if r32 < 24000 || r32 > 40000 || r12 > 16000 {
			t.Errorf("measured bitrates %.0f and %.0f bit/s, want ~32000 then ~12000", r32, r12)
		}
		if err := p.SetBitrate(100); err == nil {
			t.Error("SetBitrate(100) accepted")
		}
		p.SetExpectedLoss(30) // must not disturb the stream
		if r := rate(); r > 16000 || n.Load() < 99 {
			t.Errorf("after SetExpectedLoss: %.0f bit/s, %d packets", r, n.Load())
		}
	})
}

func TestPipelineEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "a.wav")
		a := mustOpen(t, Config{Mode: ModeCall, Mic: "tone:660", Speaker: "wav:" + out})
		bot := mustOpen(t, Config{Mode: ModeCall, Mic: "echo", Speaker: "none"})
		ra, _ := bot.AddRemote("a")
		rb, _ := a.AddRemote("bot")
		wire(a, ra, 1)
		wire(bot, rb, 2)
		time.Sleep(2 * time.Second)
		a.Close()
		bot.Close()
		pcm := readWAVFile(t, out)
		onset := -1.0
		for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
			if Level(pcm[i:i+FrameSamples]) > 40 {
				onset = float64(i) / SampleRate
				break
			}
		}
		// 0.5 s of echo delay plus two jitter buffers and a frame or two.
		if onset < 0.5 || onset > 0.62 {
			t.Errorf("echo heard after %.3f s, want 0.5 s plus the network path", onset)
		}
		wantFreq(t, "echo", window(pcm, 1, 2), 660)
		if l := Level(window(pcm, 1, 2)); l < 70 {
			t.Errorf("echo level %d", l)
		}
	})
}

// energy returns the 0–100 level of pcm between two times (seconds).
func energy(pcm []int16, from, to float64) int { return Level(window(pcm, from, to)) }

func TestPipelineRingtones(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "ring.wav")
		p := mustOpen(t, Config{Mode: ModeCall, Mic: "silence", Speaker: "wav:" + out})
		p.Ring(RingIncoming)
		time.Sleep(2900 * time.Millisecond)
		p.Ring(RingOutgoing)
		time.Sleep(6 * time.Second)
		p.Ring(RingOff)
		time.Sleep(time.Second)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		pcm := readWAVFile(t, out)
		checkLevels(t, pcm, []levelSpan{
			{"incoming first ring", 0.05, 0.35, 80, 86},
			{"incoming gap", 0.45, 0.55, 0, 0},
			{"incoming second ring", 0.65, 0.95, 80, 86},
			{"incoming pause", 1.05, 2.85, 0, 0},
			{"ringback on", 2.95, 4.85, 64, 70},
			{"ringback off", 4.95, 8.85, 0, 0},
			{"off", 8.95, 9.9, 0, 0},
		})
		in, back := window(pcm, 0.05, 0.35), window(pcm, 3, 4)
		if goertzelPower(in, 400) < 100*goertzelPower(in, 480) || goertzelPower(in, 450) < 100*goertzelPower(in, 480) {
			t.Error("incoming ring is not 400+450 Hz")
		}
		if goertzelPower(back, 440) < 100*goertzelPower(back, 400) || goertzelPower(back, 480) < 100*goertzelPower(back, 400) {
			t.Error("ringback is not 440+480 Hz")
		}
	})
}

func TestPipelineMixesRemotesWithoutClipping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "mix.wav")
		sink := mustOpen(t, Config{Mode: ModeCall, Mic: "silence", Speaker: "wav:" + out})
		var senders []*Pipeline
		for i, hz := range []float64{300, 500, 700, 900} {
			loud := toneWAV(t, t.TempDir(), hz, 0.9, 1)
			s := mustOpen(t, Config{Mode: ModeCall, Mic: "wav:" + loud, Speaker: "none"})
			r, _ := sink.AddRemote(fmt.Sprint(hz))
			wire(s, r, uint32(i+1))
			senders = append(senders, s)
		}
		time.Sleep(2 * time.Second)
		for _, s := range senders {
			s.Close()
		}
		sink.Close()
		pcm := readWAVFile(t, out)
		w := window(pcm, 1, 2)
		// Four streams near full scale sum to 4× full scale: the limiter
		// must keep every sample in range without wrapping around, and
		// every stream must still be audible.
		wraps := 0
		for i := 1; i < len(w); i++ {
			if d := int(w[i]) - int(w[i-1]); d > 40000 || d < -40000 {
				wraps++
			}
		}
		if wraps > 0 {
			t.Errorf("%d wrap-arounds in the mix", wraps)
		}
		for _, hz := range []float64{300, 500, 700, 900} {
			if goertzelPower(w, hz) < 50*goertzelPower(w, hz+100) {
				t.Errorf("%v Hz missing from the mix", hz)
			}
		}
		if l := Level(w); l < 85 {
			t.Errorf("mix level %d: the limiter squashed too much", l)
		}
	})
}

func TestPipelineErrors(t *testing.T) {
	notWAV := writeFile(t, t.TempDir(), "not-a-wav.txt", []byte("hello"))
	tests := []struct {
		cfg  Config
		want error
	}{
		{Config{Mic: "tone:x"}, ErrBadSpec},
		{Config{Speaker: "wav:"}, ErrBadSpec},
		{Config{Mic: "wav:/nonexistent.wav", Speaker: "none"}, ErrWAV},
		{Config{Mic: "wav:" + notWAV, Speaker: "none"}, ErrWAV},
		{Config{Mic: "silence", Speaker: "wav:/nonexistent/dir/x.wav"}, ErrRecording},
		{Config{Mic: "no such microphone", Speaker: "none", Backends: []Backend{BackendNull}}, ErrDeviceNotFound},
		{Config{Mic: "silence", Speaker: "no such speaker", Backends: []Backend{BackendNull}}, ErrDeviceNotFound},
		{Config{Mic: "silence", Speaker: "none", Bitrate: 1}, ErrCodec},
	}
	for _, tt := range tests {
		p, err := Open(tt.cfg)
		if !errors.Is(err, tt.want) {
			t.Errorf("Open(%+v): %v, want %v", tt.cfg, err, tt.want)
		}
		if p != nil {
			p.Close()
		}
	}
}

// TestNullBackendFallbackIsQuiet opens the default devices on a machine
// with no sound card and no sound server: the pipeline must fall back to
// the null device with a warning, its clocks must run, and no C library may
// print a word to stderr.
func TestNullBackendFallbackIsQuiet(t *testing.T) {
	t.Setenv("PULSE_SERVER", "unix:/nonexistent/pulse/native")
	stop := captureStderr(t)
	p, err := Open(Config{Mode: ModeCall, Mic: "default", Speaker: "default", OnPacket: func(Packet) {}})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	waitFor(t, "the null device's clocks to run", func() bool {
		st := p.Stats()
		return st.FramesSent > 10 && st.FramesPlayed > 10
	})
	p.Close()
	if printed := stop(); printed != "" {
		t.Errorf("C libraries printed to stderr:\n%s", printed)
	}
	if p.MicName() != "null microphone (null)" && !strings.Contains(p.MicName(), "PulseAudio") && !strings.Contains(p.MicName(), "ALSA") {
		t.Errorf("mic %q", p.MicName())
	}
	if strings.Contains(p.MicName(), "null") && !strings.Contains(p.Warning(), "No microphone or speaker found") {
		t.Errorf("fell back to the null device with warning %q", p.Warning())
	}
	t.Logf("mic %q, speaker %q, warning %q", p.MicName(), p.SpeakerName(), p.Warning())
}

func TestNullBackendExplicit(t *testing.T) {
	p := mustOpen(t, Config{Mode: ModeCall, Backends: []Backend{BackendNull}, Mic: "default", Speaker: "default", OnPacket: func(Packet) {}})
	defer p.Close()
	if p.Warning() != "" {
		t.Errorf("asked-for null backend warns %q", p.Warning())
	}
	r, _ := p.AddRemote("x")
	wire(p, r, 9)
	waitFor(t, "frames through the null devices", func() bool {
		return r.Stats().Received > 10 && p.Stats().FramesPlayed > 10
	})
}

// captureStderr redirects file descriptor 2 (where C libraries write) to a
// file until the returned function restores it and returns what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := dupFD(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := dup2FD(int(f.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	return func() string {
		dup2FD(saved, 2)
		closeFD(saved)
		b, _ := os.ReadFile(f.Name())
		f.Close()
		return string(b)
	}
}

// waitFor polls cond for up to 20 s (generous: the machine is shared).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, 20*time.Second, cond)
}

func TestPipelineNoGoroutineSurvivesClose(t *testing.T) {
	running := testenv.Running()
	dir := t.TempDir()
	var ps []*Pipeline
	for i, cfg := range []Config{
		{Mode: ModeCall, Mic: "tone:440", Speaker: "none"},
		{Mode: ModeCall, Mic: "echo", Speaker: "wav:" + filepath.Join(dir, "x.wav")},
		{Mode: ModeCall, Mic: "wav:" + writeWAVFile(t, dir, "v.wav", speechLike(1)), Speaker: "none"},
		{Mode: ModeCall, Mic: "default", Speaker: "default", Backends: []Backend{BackendNull}},
	} {
		p := mustOpen(t, cfg)
		r, _ := p.AddRemote(fmt.Sprint(i))
		wire(p, r, uint32(i))
		ps = append(ps, p)
	}
	time.Sleep(200 * time.Millisecond)
	for _, p := range ps {
		p.Close()
		p.Close() // twice is fine
	}
	running.Check(t)
	if _, err := ps[0].AddRemote("late"); !errors.Is(err, ErrClosed) {
		t.Errorf("AddRemote after Close: %v", err)
	}
}

// TestFortyPipelinesInOneProcess is the loadtest's shape: many engines with
// tone microphones and no speakers in one process, wired in a ring.
func TestFortyPipelinesInOneProcess(t *testing.T) {
	running := testenv.Running()
	const n = 40
	ps := make([]*Pipeline, n)
	for i := range ps {
		ps[i] = mustOpen(t, Config{Mode: ModeCall, Mic: fmt.Sprintf("tone:%d", 300+20*i), Speaker: "none"})
	}
	remotes := make([]*Remote, n)
	for i := range ps {
		r, err := ps[(i+1)%n].AddRemote(fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		remotes[i] = r
		wire(ps[i], r, uint32(i+1))
	}
	// Each remote must be heard at its sender's level at some point; on a
	// loaded machine (-race, other jobs) not all at the same moment.
	heard := make([]bool, n)
	waitFor(t, "every remote to be heard", func() bool {
		all := true
		for i, r := range remotes {
			heard[i] = heard[i] || r.Level() >= 70
			all = all && heard[i]
		}
		return all
	})
	for _, p := range ps {
		p.Close()
	}
	running.Check(t)
}

// TestPipelineDTX turns DTX on: during silence the encoder's packets shrink
// to a byte or two (still sent, so RTP stays continuous), the receiver
// plays them without errors, and speech after the silence comes through.
func TestPipelineDTX(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pcm := append(make([]int16, 2*SampleRate), speechLike(1)...)
		src := writeWAVFile(t, t.TempDir(), "pause.wav", pcm)
		var tiny, big atomic.Int64
		a := mustOpen(t, Config{Mode: ModeCall, Mic: "wav:" + src, Speaker: "none", DTX: true})
		b := mustOpen(t, Config{Mode: ModeCall, Mic: "silence", Speaker: "none"})
		r, _ := b.AddRemote("a")
		var seq uint16
		var ts uint32
		a.SetPacketHandler(func(p Packet) {
			if len(p.Payload) <= 2 {
				tiny.Add(1)
			} else {
				big.Add(1)
			}
			r.Push(seq, ts, 1, p.Payload)
			seq++
			ts += FrameSamples
		})
		time.Sleep(1900 * time.Millisecond)
		if tiny.Load() < 50 {
			t.Errorf("%d DTX packets in 2 s of silence (and %d full ones)", tiny.Load(), big.Load())
		}
		if r.Level() != 0 {
			t.Errorf("level %d during the silence", r.Level())
		}
		time.Sleep(time.Second)
		if l := r.Level(); l < 30 {
			t.Errorf("level %d once speech starts after DTX", l)
		}
		if st := r.Stats(); st.DecodeErrors+st.Lost+st.Late != 0 {
			t.Errorf("stats %+v", st)
		}
		a.Close()
		b.Close()
	})
}

// levelSpan is a stretch of a recording, from and to in seconds, whose
// level (energy) must lie in lo..hi.
type levelSpan struct {
	name     string
	from, to float64
	lo, hi   int
}

func checkLevels(t *testing.T, pcm []int16, spans []levelSpan) {
	t.Helper()
	for _, c := range spans {
		if l := energy(pcm, c.from, c.to); l < c.lo || l > c.hi {
			t.Errorf("%s (%.2f–%.2f s): level %d, want %d..%d", c.name, c.from, c.to, l, c.lo, c.hi)
		}
	}
}

// TestClockStartsAfreshForACallsMicrophone: the pipeline clock runs during
// ringing (the ringtone on a clocked speaker); when a clocked microphone
// starts for the call 7 ms into a 20 ms beat, its first frame is due at
// once rather than on the old clock's next beat, and the beat after it
// comes 20 ms later. A clocked side that simply keeps running keeps its
// beat.
func TestClockStartsAfreshForACallsMicrophone(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rs := runState{playOn: true, playClock: true}
	if c := rs.updateClock(t0); c != clockStart {
		t.Fatalf("ringing with a clocked speaker: %v, want the clock started", c)
	}
	if n, _ := rs.clock.due(t0); n != 1 {
		t.Fatalf("first ringing beat: %d frames due, want 1", n)
	}
	at := t0.Add(7 * time.Millisecond)
	if c := rs.updateClock(at); c != clockKeep {
		t.Fatalf("nothing changed: %v, want the clock kept", c)
	}
	if n, _ := rs.clock.due(at); n != 0 {
		t.Fatalf("7 ms into the beat: %d frames due, want 0", n)
	}
	// The call begins: the microphone starts, on the clock (no device).
	rs.capOn, rs.capClock, rs.rephase = true, true, true
	if c := rs.updateClock(at); c != clockStart {
		t.Fatalf("the call's microphone started: %v, want the clock started afresh", c)
	}
	if n, _ := rs.clock.due(at); n != 1 {
		t.Fatalf("the call's first frame: %d due at its start, want 1", n)
	}
	if n, _ := rs.clock.due(at.Add(19 * time.Millisecond)); n != 0 {
		t.Fatalf("19 ms later: %d due, want 0", n)
	}
	if n, _ := rs.clock.due(at.Add(20 * time.Millisecond)); n != 1 {
		t.Fatalf("20 ms later: %d due, want 1", n)
	}
	if c := rs.updateClock(at.Add(25 * time.Millisecond)); c != clockKeep {
		t.Fatalf("mid-call: %v, want the clock kept", c)
	}
	rs.capOn, rs.playOn = false, false
	if c := rs.updateClock(at.Add(30 * time.Millisecond)); c != clockStop || rs.ticking {
		t.Fatalf("call over: %v (ticking %v), want the clock stopped", c, rs.ticking)
	}
}
