package audio

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"softphone/audio/voice"
	"softphone/internal/testenv"
)

// Benchmarks for the targets of the audio issue. Run them with
//
//	go test -run '^$' -bench . -benchmem ./audio/
//
// BenchmarkEncodeDecode20ms: encode + decode of one 20 ms frame, ≤ 150 µs.
// BenchmarkCaptureToEncode, BenchmarkDecodeMixPlayback: one 20 ms frame
// through each side of the pipeline, 0 allocs/op in steady state.
// BenchmarkLatency: the latency added inside this package, measured on
// running devices, ≤ 30 ms.

// speechPackets returns n frames of a speech-like signal and their packets.
func speechPackets(b *testing.B, n int) ([][]int16, [][]byte) {
	b.Helper()
	pcm := speechLike(float64(n) * FrameDuration.Seconds())
	enc, err := NewEncoder(0)
	if err != nil {
		b.Fatal(err)
	}
	frames := splitFrames(pcm)
	var pkts [][]byte
	for _, f := range frames {
		pkt := make([]byte, MaxPayload)
		m, err := enc.Encode(f, pkt)
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, pkt[:m])
	}
	return frames, pkts
}

// splitFrames cuts pcm into 20 ms frames (views into it); a partial frame
// at the end is left out.
func splitFrames(pcm []int16) [][]int16 {
	frames := make([][]int16, 0, len(pcm)/FrameSamples)
	for i := 0; (i+1)*FrameSamples <= len(pcm); i++ {
		frames = append(frames, pcm[i*FrameSamples:(i+1)*FrameSamples])
	}
	return frames
}

func BenchmarkEncodeDecode20ms(b *testing.B) {
	frames, _ := speechPackets(b, 50)
	enc, _ := NewEncoder(0)
	dec, _ := NewDecoder()
	benchEncodeDecode(b, frames, enc, dec)
}

// BenchmarkEncodeDecodeSpeech20ms is BenchmarkEncodeDecode20ms with real
// speech (espeak-ng): Opus codes it as SILK with CELT above 8 kHz (hybrid),
// where the synthetic signal and a tone mostly take CELT alone, and the
// encoder's work differs several times over between them.
func BenchmarkEncodeDecodeSpeech20ms(b *testing.B) {
	enc, _ := NewEncoder(0)
	dec, _ := NewDecoder()
	benchEncodeDecode(b, benchSpeech(b), enc, dec)
}

// benchSpeechText is about 12 s of speech at espeak-ng's 150 words a minute.
const benchSpeechText = "Hello, can you hear me? I think the line is clear now. " +
	"We should talk about the schedule for next week before the meeting starts. " +
	"The quick brown fox jumps over the lazy dog, and she sells sea shells by the sea shore."

// benchSpeech returns benchSpeechText spoken, in 20 ms frames at 48 kHz.
func benchSpeech(b *testing.B) [][]int16 {
	frames := splitFrames(testenv.Speech(b, "en-us", benchSpeechText, SampleRate))
	if len(frames) < 100 {
		b.Fatalf("espeak-ng spoke %d frames, want ≥ 100", len(frames))
	}
	return frames
}

// benchEncodeDecode encodes and decodes frames in turn, one 20 ms frame per
// op, and reports the share of a core one stream takes.
func benchEncodeDecode(b *testing.B, frames [][]int16, enc interface {
	Encode([]int16, []byte) (int, error)
}, dec interface {
	Decode([]byte, []int16) (int, error)
}) {
	pkt := make([]byte, MaxPayload)
	pcm := make([]int16, MaxPacketSamples)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n, err := enc.Encode(frames[i%len(frames)], pkt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dec.Decode(pkt[:n], pcm); err != nil {
			b.Fatal(err)
		}
		i++
	}
	perFrame := b.Elapsed() / time.Duration(i)
	b.ReportMetric(float64(perFrame)/float64(FrameDuration)*100, "%core/stream")
}

// BenchmarkCaptureToEncode is one 20 ms frame from the capture callback (two
// 10 ms periods of C-side bytes) through the ring, the meter and the encoder
// to the packet handler; with voice=on, through the voice processing too,
// as a device microphone's frames go (with a speaker's reference).
func BenchmarkCaptureToEncode(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("voice=%v", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			benchCaptureToEncode(b, on)
		})
	}
}

func benchCaptureToEncode(b *testing.B, voiceOn bool) {
	p, err := newPipeline(Config{Mic: "silence", Speaker: "none"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var spk *device
	if voiceOn {
		p.voice = newVoiceChain(voice.Default, VoiceStatus{})
		spk = newDevice(malgo.Playback, BackendNull, "bench speaker")
		p.voicePlay = spk
	}
	dev := newDevice(malgo.Capture, BackendNull, "bench")
	sent := 0
	p.SetPacketHandler(func(pk Packet) { sent += len(pk.Payload) })
	frames, _ := speechPackets(b, 50)
	periods := make([][]byte, 0, 100)
	for _, f := range frames {
		for h := range 2 {
			buf := make([]byte, 2*PeriodSamples)
			for i, s := range f[h*PeriodSamples : (h+1)*PeriodSamples] {
				buf[2*i], buf[2*i+1] = byte(s), byte(uint16(s)>>8)
			}
			periods = append(periods, buf)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dev.captureData(nil, periods[(2*i)%len(periods)], PeriodSamples)
		dev.captureData(nil, periods[(2*i+1)%len(periods)], PeriodSamples)
		<-dev.wake
		if voiceOn {
			// What the speaker plays, written and played out, as the
			// playout and the device callback do.
			f := frames[(i+7)%len(frames)]
			at := spk.ring.w.Load()
			spk.ring.Write(f)
			p.voice.played(f, at)
			spk.ring.ReadFull(p.ps.tmp[:])
		}
		p.captureDevice(dev)
		i++
	}
	if st := p.Stats(); st.FramesSent != uint64(i) || sent == 0 || dev.ring.Stats().Overruns != 0 {
		b.Fatalf("sent %d frames for %d iterations (stats %+v)", st.FramesSent, i, st)
	}
}

// BenchmarkDecodeMixPlayback is one 20 ms frame per remote from the packet
// push through the jitter buffer, the decoder, the mixer and the playback
// ring to the playback callback, with 1, 4 and 8 remotes.
func BenchmarkDecodeMixPlayback(b *testing.B) {
	for _, n := range []int{1, 4, 8} {
		b.Run(map[int]string{1: "remotes=1", 4: "remotes=4", 8: "remotes=8"}[n], func(b *testing.B) {
			p, err := newPipeline(Config{Mic: "silence", Speaker: "none"})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			dev := newDevice(malgo.Playback, BackendNull, "bench")
			dev.ring.Discard(dev.ring.Len())
			now := time.Unix(1_000_000, 0)
			var remotes []*Remote
			for k := range n {
				r, err := p.AddRemote(string(rune('a' + k)))
				if err != nil {
					b.Fatal(err)
				}
				r.now = func() time.Time { return now }
				remotes = append(remotes, r)
			}
			_, pkts := speechPackets(b, 50)
			out := make([]byte, 2*PeriodSamples)
			var seq uint16
			var ts uint32
			step := func() {
				for k, r := range remotes {
					r.Push(seq, ts, uint32(k), pkts[int(seq)%len(pkts)])
				}
				seq++
				ts += FrameSamples
				now = now.Add(FrameDuration)
				p.mixFrame(now)
				dev.ring.Write(p.ps.out[:])
				p.framePlayed()
				dev.playbackData(out, nil, PeriodSamples)
				dev.playbackData(out, nil, PeriodSamples)
				select {
				case <-dev.wake:
				default:
				}
			}
			for range 10 { // reach steady state: the buffers have started
				step()
			}
			b.ReportAllocs()
			for b.Loop() {
				step()
			}
			for _, r := range remotes {
				if st := r.Stats(); st.Concealed+st.Lost+st.Late+st.Inserted+st.Skipped != 0 {
					b.Fatalf("not the decode path: %+v", st)
				}
			}
			if st := dev.ring.Stats(); st.Underruns+st.Overruns != 0 {
				b.Fatalf("playback ring: %+v", st)
			}
		})
	}
}

// BenchmarkLatency runs a pipeline on real devices, the private
// PulseAudio's null sinks, for a few seconds, looped back through its own
// jitter buffer, and reports the latency measured inside this package:
//
//   - capture-ms: from the capture callback that completes a 20 ms frame to
//     its encoded packet handed over (capture-first-ms: from the callback
//     that delivered the frame's first samples, which adds the 10 ms the
//     codec's 20 ms framing makes the first half wait);
//   - playout-ms: from Remote.Push to the playback callback that hands the
//     frame's first sample to the device, at the jitter buffer's 20 ms
//     target delay: the jitter buffer, the decoder and the wait in the
//     playback ring (written-ms: only to the frame written into that ring,
//     the old, shorter measure);
//   - total-ms: capture-ms + playout-ms, the budget (≤ 30 ms);
//   - voice-ms: the delay voice processing adds to the microphone's sound
//     (its band split and spectral overlap; it runs on device
//     microphones), not counted in total-ms;
//   - allocs/frame: heap allocations of the whole process per 20 ms frame
//     while it runs.
//
// The sub-benchmark's name says the backend that measured (backend=
// pulseaudio). Without PulseAudio it fails rather than measure miniaudio's
// null backend, whose clock is no sound card's. It measures once, whatever
// b.N is.
func BenchmarkLatency(b *testing.B) {
	if !pulseAvailable(b) {
		b.Fatal("BenchmarkLatency measures real devices and needs PulseAudio, which cannot start here (make bench installs it)")
	}
	cfg := Config{Mode: ModeCall, Mic: "mic.monitor", Speaker: "spk", Backends: []Backend{BackendPulseAudio}}
	b.Run("backend="+BackendPulseAudio.String(), func(b *testing.B) { measureLatency(b, cfg) })
}

// playedFrame is one frame on its way to the speaker, for BenchmarkLatency.
type playedFrame struct {
	ringStart        uint64    // its first sample's index in the playback ring
	arrival, written time.Time // its first packet's arrival; written to the ring
}

// callbackMark is one playback callback: the ring's read index after it.
type callbackMark struct {
	read uint64
	at   int64
}

func measureLatency(b *testing.B, cfg Config) {
	p, err := newPipeline(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, s := range []*deviceSlot{p.devs.capSlot, p.devs.playSlot} {
		if s == nil || s.backend != cfg.Backends[0] {
			b.Fatalf("the devices are not on %v: %+v", cfg.Backends[0], p.devs)
		}
	}
	r, err := p.AddRemote("self")
	if err != nil {
		b.Fatal(err)
	}
	wire(p, r, 7)
	// Room for the whole run, made before it: the hooks' appends must
	// not allocate and spoil the allocation count.
	const room = 4000
	var mu sync.Mutex
	measuring := false
	capLast, capFirst := make([]time.Duration, 0, room), make([]time.Duration, 0, room)
	frames := make([]playedFrame, 0, room)
	marks := make([]callbackMark, 0, room)
	p.traceCapture = func(last, first time.Duration) {
		mu.Lock()
		if measuring {
			capLast, capFirst = append(capLast, last), append(capFirst, first)
		}
		mu.Unlock()
	}
	// The run loop writes a frame (traceFrame), then records its arrival
	// (tracePlayout); the playback callback marks how far it has read.
	p.traceFrame = func(start uint64) {
		mu.Lock()
		if measuring && len(frames) < cap(frames) {
			frames = append(frames, playedFrame{ringStart: start})
		}
		mu.Unlock()
	}
	r.tracePlayout = func(arrival, at time.Time) {
		mu.Lock()
		if n := len(frames); measuring && n > 0 && frames[n-1].written.IsZero() {
			frames[n-1].arrival, frames[n-1].written = arrival, at
		}
		mu.Unlock()
	}
	p.devs.playSlot.onPlayed = func(read uint64, at int64) {
		mu.Lock() // uncontended but for the run loop's few appends
		if measuring && len(marks) < cap(marks) {
			marks = append(marks, callbackMark{read, at})
		}
		mu.Unlock()
	}
	p.start()
	b.Logf("mic %s, speaker %s, backend %v", p.MicName(), p.SpeakerName(), cfg.Backends[0])

	// Warm up until both devices run and the buffer has settled.
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().FramesSent < 100 || p.Stats().FramesPlayed < 100 {
		if time.Now().After(deadline) {
			b.Fatalf("devices did not start: %+v", p.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := p.Stats()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	mu.Lock()
	measuring = true
	mu.Unlock()
	b.ResetTimer()
	time.Sleep(3 * time.Second)
	b.StopTimer()
	mu.Lock()
	measuring = false
	mu.Unlock()
	runtime.ReadMemStats(&ms1)
	after := p.Stats()
	n := (after.FramesSent - before.FramesSent) + (after.FramesPlayed - before.FramesPlayed)

	mu.Lock()
	defer mu.Unlock()
	// Each frame plays from the first callback whose read passed its
	// first sample.
	var play, written []time.Duration
	for _, f := range frames {
		if f.arrival.IsZero() {
			continue
		}
		i := sort.Search(len(marks), func(i int) bool { return marks[i].read > f.ringStart })
		if i == len(marks) {
			continue // still in the ring when the measurement stopped
		}
		play = append(play, time.Unix(0, marks[i].at).Sub(f.arrival))
		written = append(written, f.written.Sub(f.arrival))
	}
	if len(capLast) < 50 || len(play) < 50 {
		b.Fatalf("only %d capture and %d playout measurements (%d frames, %d callbacks)", len(capLast), len(play), len(frames), len(marks))
	}
	st := r.Stats()
	if st.TargetDelay != MinTargetDelay {
		b.Logf("jitter buffer target %v (not the 20 ms floor): %+v", st.TargetDelay, st)
	}
	c, cf, pl := mean(capLast), mean(capFirst), mean(play)
	b.ReportMetric(toMS(c), "capture-ms")
	b.ReportMetric(toMS(cf), "capture-first-ms")
	b.ReportMetric(toMS(pl), "playout-ms")
	b.ReportMetric(toMS(pct(play, 0.99)), "playout-p99-ms")
	b.ReportMetric(toMS(mean(written)), "written-ms")
	b.ReportMetric(toMS(c+pl), "total-ms")
	b.ReportMetric(float64(p.voice.delay())*1000/SampleRate, "voice-ms")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n), "allocs/frame")
}

func pulseAvailable(b *testing.B) bool {
	pulse.once.Do(startPulse)
	if pulse.err != nil {
		b.Logf("PulseAudio cannot start: %v", pulse.err)
		return false
	}
	b.Setenv("PULSE_SERVER", pulse.server)
	return true
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func pct(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func toMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkModeStart measures how long the devices take to start when the
// mode asks for them, on the private PulseAudio (skipped without it), with
// a tone playing into the microphone:
//
//   - mic-cold-ms: SetMode(ModeCall) from idle until the first packet that
//     carries the tone (the device opens and starts, the first frame fills);
//   - mic-warm-ms: the same from ModeDialing, the microphone already open
//     (what an outgoing call gets: only the first frame has to fill);
//   - speaker-ms: SetMode(ModeRinging) from idle until the speaker's first
//     callback.
//
// Each iteration goes idle → ringing → idle → call → idle → dialing → call.
func BenchmarkModeStart(b *testing.B) {
	if !pulseAvailable(b) {
		testenv.Missing(b, "needs PulseAudio")
	}
	playInto(b, "mic", 440)
	var loudAt atomic.Int64
	var p *Pipeline
	// Voice processing off: the tone would be suppressed as noise.
	p, err := Open(Config{Mic: "mic.monitor", Speaker: "spk", Backends: []Backend{BackendPulseAudio}, Voice: &voice.Off,
		OnPacket: func(Packet) {
			if p.LocalLevel() > 50 {
				loudAt.CompareAndSwap(0, time.Now().UnixNano())
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	wait := func(what string, cond func() bool) time.Time {
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Microsecond)
		}
		return time.Now()
	}
	speakerUp := func() bool {
		a := p.active.Load()
		return a != nil && a.playback != nil && a.playback.callbacks.Load() > 0
	}
	micUp := func() bool {
		a := p.active.Load()
		return a != nil && a.capture != nil && a.capture.callbacks.Load() > 0
	}
	idle := func() {
		p.SetMode(ModeIdle)
		wait("idle", func() bool { a := p.active.Load(); return a != nil && a.mode == ModeIdle })
	}
	micTime := func() time.Duration {
		loudAt.Store(0)
		start := time.Now()
		p.SetMode(ModeCall)
		wait("the tone", func() bool { return loudAt.Load() != 0 })
		return time.Duration(loudAt.Load() - start.UnixNano())
	}
	// The first start of a null sink's monitor can take seconds (the sink
	// wakes up); measure from the second on.
	p.SetMode(ModeCall)
	wait("the first start", func() bool { return p.LocalLevel() > 50 })
	idle()

	var spk, cold, warm []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p.SetMode(ModeRinging)
		spk = append(spk, wait("the speaker", speakerUp).Sub(start))
		idle()
		cold = append(cold, micTime())
		idle()
		p.SetMode(ModeDialing)
		wait("the warm microphone", micUp)
		time.Sleep(50 * time.Millisecond) // dialing lasts a while
		warm = append(warm, micTime())
		idle()
	}
	b.StopTimer()
	b.ReportMetric(toMS(pct(spk, 0.5)), "speaker-ms")
	b.ReportMetric(toMS(pct(cold, 0.5)), "mic-cold-ms")
	b.ReportMetric(toMS(pct(cold, 0.9)), "mic-cold-p90-ms")
	b.ReportMetric(toMS(pct(warm, 0.5)), "mic-warm-ms")
	b.ReportMetric(toMS(pct(warm, 0.9)), "mic-warm-p90-ms")
	b.ReportMetric(0, "ns/op")
}
