package audio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"softphone/audio/voice"
	"softphone/internal/testenv"
)

// A private PulseAudio daemon for the real-device tests (testenv.Pulse: null
// sinks "spk" and "mic", its own runtime directory). It starts on first use
// and TestMain stops it.
var pulse struct {
	once   sync.Once
	d      *testenv.Pulse
	server string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pulse.d != nil {
		pulse.d.Stop()
	}
	os.Exit(code)
}

func startPulse() {
	pulse.d, pulse.err = testenv.StartPulse(nil)
	if pulse.err == nil {
		pulse.server = pulse.d.Server
	}
}

// needPulse starts the daemon if needed and points this test's libpulse at
// it; it fails under make test (skips elsewhere) when PulseAudio cannot run.
func needPulse(t testing.TB) string {
	t.Helper()
	pulse.once.Do(startPulse)
	if pulse.err != nil {
		testenv.Missing(t, "the real-device test needs PulseAudio, which cannot start here: %v", pulse.err)
	}
	t.Setenv("PULSE_SERVER", pulse.server)
	return pulse.server
}

func pactl(args ...string) error { return pulse.d.Pactl(args...) }

// playInto plays a hz tone at amplitude 0.3 into sink until the test ends.
func playInto(t testing.TB, sink string, hz float64) { pulse.d.Play(t, sink, hz) }

// recordFrom records source (raw 48 kHz mono) until the test ends; the
// returned function gives what was recorded so far.
func recordFrom(t *testing.T, source string) func() []int16 { return pulse.d.Record(t, source) }

// TestRealDeviceCapture: a 440 Hz tone played into the "mic" sink comes
// out of our capture path (PulseAudio device → ring → Opus) at 440 Hz.
// Voice processing is off: its noise suppressor takes a steady tone for a
// fan (see TestRealDeviceEchoCancellation for it on a device).
func TestRealDeviceCapture(t *testing.T) {
	needPulse(t)
	playInto(t, "mic", 440)
	dec, _ := NewDecoder()
	pcm := make([]int16, MaxPacketSamples)
	var mu sync.Mutex
	var got []int16
	p := mustOpen(t, Config{Mode: ModeCall, Mic: "mic.monitor", Speaker: "none", Backends: []Backend{BackendPulseAudio},
		Voice: &voice.Off,
		OnPacket: func(pk Packet) {
			n, err := dec.Decode(pk.Payload, pcm)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, pcm[:n]...)
			mu.Unlock()
		}})
	defer p.Close()
	if !strings.Contains(p.MicName(), "PulseAudio") || p.Warning() != "" {
		t.Fatalf("mic %q, warning %q", p.MicName(), p.Warning())
	}
	var last []int16
	waitFor(t, "the tone to come through the capture path", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < SampleRate {
			return false
		}
		last = append(last[:0], got[len(got)-SampleRate/2:]...)
		return Level(last) > 70
	})
	wantFreq(t, "captured", last, 440)
	// The meter shows the last 20 ms: read it over 10 frames and take the
	// highest, as one frame a starved sound server cut short reads low (77
	// was seen on a loaded machine).
	l := 0
	for range 10 {
		l = max(l, p.LocalLevel())
		time.Sleep(FrameDuration)
	}
	if l < 78 || l > 86 {
		t.Errorf("local level %d, want ~82 for amplitude 0.3", l)
	}
	st := p.Stats()
	if st.CaptureDelay <= 0 || st.CaptureDelay > 20*time.Millisecond {
		t.Errorf("capture delay %v", st.CaptureDelay)
	}
	t.Logf("capture stats %+v", st)
}

// TestRealDevicePlayback: our playback path (remote packets → jitter buffer
// → decode → PulseAudio device) plays what the remote sent, as recorded
// from the "spk" sink's monitor.
func TestRealDevicePlayback(t *testing.T) {
	needPulse(t)
	rec := recordFrom(t, "spk.monitor")
	p := mustOpen(t, Config{Mode: ModeCall, Mic: "tone:660", Speaker: "spk", Backends: []Backend{BackendPulseAudio}})
	defer p.Close()
	if !strings.Contains(p.SpeakerName(), "PulseAudio") || p.Warning() != "" {
		t.Fatalf("speaker %q, warning %q", p.SpeakerName(), p.Warning())
	}
	r, _ := p.AddRemote("self")
	wire(p, r, 42)
	var last []int16
	waitFor(t, "the remote's tone at the speaker", func() bool {
		pcm := rec()
		if len(pcm) < SampleRate {
			return false
		}
		last = pcm[len(pcm)-SampleRate/2:]
		return Level(last) > 70
	})
	wantFreq(t, "played", last, 660)
	if l := Level(last); l < 76 || l > 84 {
		var levels []int
		for i := 0; i+FrameSamples <= len(last); i += FrameSamples {
			levels = append(levels, Level(last[i:i+FrameSamples]))
		}
		t.Errorf("played level %d, want ~80; per frame %v", l, levels)
	}
	t.Logf("playback stats %+v, remote %+v", p.Stats(), r.Stats())
}

// TestRealDeviceDefaultsAndNames opens the default devices (the daemon's
// defaults are mic.monitor and spk), resolves names and lists devices.
func TestRealDeviceDefaultsAndNames(t *testing.T) {
	needPulse(t)
	p := mustOpen(t, Config{Backends: []Backend{BackendPulseAudio}})
	if p.MicName() != "Monitor of Null Output (PulseAudio)" || p.SpeakerName() != "Null Output (PulseAudio)" {
		t.Errorf("defaults: mic %q speaker %q", p.MicName(), p.SpeakerName())
	}
	p.Close()

	if _, err := Open(Config{Mic: "null output", Speaker: "none", Backends: []Backend{BackendPulseAudio}}); !errors.Is(err, ErrAmbiguousDevice) {
		t.Errorf("two monitors match %q: err %v, want ErrAmbiguousDevice", "null output", err)
	}
	if _, err := Open(Config{Mic: "headset", Speaker: "none", Backends: []Backend{BackendPulseAudio}}); !errors.Is(err, ErrDeviceNotFound) {
		t.Errorf("no headset: err %v, want ErrDeviceNotFound", err)
	}
	p = mustOpen(t, Config{Mic: "MIC.MON", Speaker: "spk", Backends: []Backend{BackendPulseAudio}})
	if p.MicName() != "Monitor of Null Output (PulseAudio)" {
		t.Errorf("mic %q", p.MicName())
	}
	p.Close()

	list := ListDevices([]Backend{BackendPulseAudio, BackendJACK}, nil)
	var out strings.Builder
	place := FindSoundPlace(os.Getenv, "testhost")
	if err := WriteDeviceList(&out, list, place); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PulseAudio (server " + pulse.server + ", from PULSE_SERVER):\n  capture devices:\n",
		"Sound goes to the PulseAudio server " + pulse.server,
		"  * mic.monitor  Monitor of Null Output\n",
		"    spk.monitor  Monitor of Null Output\n",
		"  * spk  Null Output\n",
		"JACK: not available (no JACK server is running)",
		"--mic default:     Monitor of Null Output (PulseAudio, id mic.monitor)",
		"--speaker default: Null Output (PulseAudio, id spk)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("device list lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDeviceStopFallsBack removes the sink under a playing speaker, as
// when a USB headset is unplugged (the test daemon runs without
// module-rescue-streams, so the stream dies with its sink): the pipeline
// warns and keeps its playout going on its own clock.
func TestDeviceStopFallsBack(t *testing.T) {
	needPulse(t)
	out, err := exec.Command("pactl", "-s", pulse.server, "load-module", "module-null-sink", "sink_name=usb").Output()
	if err != nil {
		t.Fatal(err)
	}
	module := strings.TrimSpace(string(out))
	warnings := make(chan string, 4)
	p := mustOpen(t, Config{Mode: ModeCall, Mic: "tone:300", Speaker: "usb", Backends: []Backend{BackendPulseAudio},
		OnWarning: func(w string) { warnings <- w }})
	defer p.Close()
	waitFor(t, "playback to start", func() bool { return p.Stats().FramesPlayed > 5 })
	if err := pactl("unload-module", module); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-warnings:
		if !strings.Contains(w, "stopped") {
			t.Errorf("warning %q", w)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no warning after the speaker's sink was removed")
	}
	before := p.Stats().FramesPlayed
	waitFor(t, "the playout to continue on its own clock", func() bool { return p.Stats().FramesPlayed > before+10 })
}

// ourStreams counts this process's PulseAudio streams: speakers (sink
// inputs) and microphones (source outputs) named by the pipeline.
func ourStreams(t *testing.T) (speakers, mics int) {
	t.Helper()
	count := func(what, name string) int {
		out, err := exec.Command("pactl", "-s", pulse.server, "list", what).CombinedOutput()
		if err != nil {
			t.Fatalf("pactl list %s: %v: %s", what, err, out)
		}
		return strings.Count(string(out), fmt.Sprintf("media.name = %q", name))
	}
	return count("sink-inputs", "softphone speaker"), count("source-outputs", "softphone microphone")
}

// waitStreams waits until the pipeline holds exactly the streams wanted.
func waitStreams(t *testing.T, mode string, speakers, mics int) {
	t.Helper()
	var s, m int
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s, m = ourStreams(t); s == speakers && m == mics {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d speaker and %d microphone streams open, want %d and %d", mode, s, m, speakers, mics)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRealDeviceModes: on real PulseAudio devices, an idle pipeline holds
// no stream at all (the microphone is released, the sound card free);
// ringing opens only the speaker; dialing opens the microphone too but
// captures nothing; a call captures the tone, with at most one wakeup per
// 20 ms frame and direction; idle again releases both. (Voice processing is
// off: the test tone would be suppressed as noise.)
func TestRealDeviceModes(t *testing.T) {
	needPulse(t)
	playInto(t, "mic", 440)
	var sent atomic.Int64
	p := mustOpen(t, Config{Mic: "mic.monitor", Speaker: "spk", Backends: []Backend{BackendPulseAudio},
		Voice: &voice.Off, OnPacket: func(Packet) { sent.Add(1) }})
	defer p.Close()
	waitStreams(t, "idle after Open", 0, 0)

	p.SetMode(ModeRinging)
	waitStreams(t, "ringing", 1, 0)
	waitFor(t, "the speaker to play", func() bool { return p.Stats().FramesPlayed > 10 })

	p.SetMode(ModeDialing)
	waitStreams(t, "dialing", 1, 1)
	before := p.Stats().FramesPlayed
	waitFor(t, "the playout to go on", func() bool { return p.Stats().FramesPlayed > before+25 })
	if n, l := sent.Load(), p.LocalLevel(); n != 0 || l != 0 {
		t.Errorf("dialing: %d packets sent, level %d; the microphone must not be captured before the call", n, l)
	}

	p.SetMode(ModeCall)
	waitFor(t, "the tone to be captured", func() bool { return p.LocalLevel() > 70 })
	st0 := p.Stats()
	waitFor(t, "a second of call", func() bool { return p.Stats().FramesSent > st0.FramesSent+50 })
	st := p.Stats()
	frames := (st.FramesSent - st0.FramesSent) + (st.FramesPlayed - st0.FramesPlayed)
	wakes := st.Wakeups - st0.Wakeups
	// One wakeup per frame and direction, plus the device watchdog.
	if float64(wakes) > 1.1*float64(frames)+5 {
		t.Errorf("%d wakeups for %d frames (sent and played): want at most one per frame", wakes, frames)
	}
	t.Logf("call: %d wakeups for %d frames; stats %+v", wakes, frames, st)

	p.SetMode(ModeIdle)
	waitStreams(t, "idle after the call", 0, 0)
	if l := p.LocalLevel(); l != 0 {
		t.Errorf("idle: local level %d", l)
	}
	if p.Warning() != "" {
		t.Errorf("warning %q", p.Warning())
	}
}
