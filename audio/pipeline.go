package audio

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"softphone/audio/voice"
)

// Config configures a Pipeline.
type Config struct {
	// Mic is the --mic value (see ParseMic); empty means default.
	Mic string
	// Speaker is the --speaker value (see ParseSpeaker); empty means default.
	Speaker string
	// Bitrate is the Opus bitrate in bit/s; 0 means DefaultBitrate.
	Bitrate int
	// DTX turns on Opus discontinuous transmission: during silence the
	// encoder's frames shrink to a byte or two. They are still handed to
	// the packet handler, so RTP sequence numbers and timestamps stay
	// continuous (pion's sample track cannot skip time without skipping
	// sequence numbers) and the receiver plays comfort noise. Off by
	// default: full frames keep every peer's jitter estimate and NAT
	// bindings fresh and cost little at 32 kbit/s.
	DTX bool
	// Logger receives diagnostics; nil discards them. Nothing is ever
	// written to stdout or stderr.
	Logger *slog.Logger
	// Backends are the device backends to try, in order; nil means
	// DefaultBackends. Tests pass []Backend{BackendNull} or a PulseAudio
	// server of their own.
	Backends []Backend
	// OnPacket receives every encoded 20 ms Opus frame (see
	// SetPacketHandler); it may be nil and set later.
	OnPacket func(Packet)
	// OnWarning, if set, is called (on a pipeline goroutine; it must not
	// block) whenever Warning changes: a device stopped, a recording
	// failed.
	OnWarning func(warning string)
	// Mode is the mode the pipeline starts in (see Mode and SetMode). The
	// zero value, ModeIdle, runs nothing and opens no device until
	// SetMode asks for more.
	Mode Mode
	// Voice is the microphone's voice processing (package voice): echo
	// cancellation against what the speaker plays, noise suppression and
	// automatic gain control; nil means voice.Default, all on. It cleans
	// microphone devices only: tone:, wav:, silence and echo are test
	// sources and are sent as they are. Without a speaker device
	// (--speaker none or wav:) there is no echo, and the canceller stays
	// off.
	Voice *voice.Config
}

// PipelineStats are the local side's counters.
type PipelineStats struct {
	// Capture is the microphone ring: Overruns means the run loop fell
	// more than 85 ms behind the device and old audio was dropped. It
	// adds up every time the device was opened since Open.
	Capture RingStats
	// Playback is the speaker ring: Underruns means the device wanted
	// audio the playout had not produced yet, and played silence. It adds
	// up every time the device was opened since Open.
	Playback RingStats
	// CaptureDelay is the measured time from the capture callback that
	// completed a frame to its encoded packet being handed over (a
	// running average; zero without a capture device).
	CaptureDelay time.Duration
	// FramesSent counts encoded frames handed to the packet handler.
	FramesSent uint64
	// FramesPlayed counts 20 ms frames the playout produced. For a wav:
	// speaker it counts the silence recorded for idle stretches too, so
	// it is the recording's length in frames.
	FramesPlayed uint64
	// EncodeErrors counts frames the encoder failed on (not sent).
	EncodeErrors uint64
	// Wakeups counts the times the pipeline's goroutine woke up: at most
	// one per 20 ms frame and direction in a call, none while idle.
	Wakeups uint64
}

// Packet is one encoded 20 ms Opus frame of the microphone.
type Packet struct {
	// Payload is the Opus packet. It is only valid during the handler
	// call; copy it to keep it.
	Payload []byte
	// Dropped is how many 20 ms frames of microphone audio were lost just
	// before this one (the run loop fell behind the device, or the
	// machine stalled). The sender must advance its RTP sequence number
	// and timestamp over them, or every later packet looks late to the
	// receiver (the engine's audio track skips them in both).
	Dropped int
}

// maxCatchUp is the most frames a clock-driven loop produces at once after
// falling behind (a stalled machine); further behind, it skips ahead and
// reports the skipped frames as dropped instead of bursting.
const maxCatchUp = 50

// maxPlaybackBurst is the most frames the playout writes to the playback
// ring at once: the ring only needs topping up.
const maxPlaybackBurst = 5

// frameClock counts 20 ms frames due since start, for the loops that run on
// the pipeline's own clock (generator microphones, wav and none speakers).
type frameClock struct {
	start time.Time
	n     int64
}

// due returns how many frames are due at now, and how many were skipped
// because the loop fell more than maxCatchUp frames behind.
func (c *frameClock) due(now time.Time) (due, skipped int) {
	want := int64(now.Sub(c.start)/FrameDuration) + 1
	d := want - c.n
	if d > maxCatchUp {
		skipped = int(d - maxCatchUp)
		d = maxCatchUp
	}
	if d <= 0 {
		return 0, 0
	}
	c.n = want
	return int(d), skipped
}

// Pipeline owns the local media path: microphone → Opus frames for the
// engine on one side, remote RTP payloads → jitter buffers → decode → mix →
// speaker on the other, with meters, statistics and the ringtone.
//
// One goroutine (run) does all the audio work, woken by the device
// callbacks once per 20 ms frame, or by the pipeline's own 20 ms clock for
// the sides without a device (one ticker drives both sides when neither has
// one). A second goroutine (manageDevices) opens and closes the devices as
// the mode changes, so a slow sound server never holds up the audio or the
// caller of SetMode. In ModeIdle neither wakes up. All methods are safe for
// concurrent use.
type Pipeline struct {
	logger  *slog.Logger
	mic     MicSpec
	spk     SpeakerSpec
	devs    *deviceSet // slots and contexts; its devices pass to manageDevices
	micName string
	spkName string
	src     source // nil when the microphone is a device
	echo    *echoSource
	wav     *WAVWriter
	voice   *voiceChain
	// voicePlay is the playback device whose positions the voice chain
	// pairs with (owned by the run loop; nil when none plays).
	voicePlay *device
	enc       *Encoder
	mixer     *Mixer
	ringtone  Ringtone
	onWarn    func(string)

	handler      atomic.Pointer[func(Packet)]
	muted        atomic.Bool
	expectedLoss atomic.Int32
	bitrate      atomic.Int32
	ringPattern  atomic.Int32
	localLevel   atomic.Int32
	warnMu       sync.Mutex
	issues       [issueCount]string

	captureDelay atomic.Int64
	framesSent   atomic.Uint64
	framesPlayed atomic.Uint64
	encodeErrors atomic.Uint64

	remotesMu sync.Mutex
	remotes   atomic.Pointer[[]*Remote]

	cs captureState
	ps playoutState

	// want is what SetMode asked for last; modeCh tells manageDevices.
	want   atomic.Pointer[modeWant]
	modeCh chan struct{}
	// active is what manageDevices set up for the mode last applied;
	// runCh tells the run loop it changed.
	active atomic.Pointer[activeSet]
	runCh  chan struct{}
	// statsMu makes retiring a device and publishing the next active set
	// one step for Stats; the retired counters add up closed devices.
	statsMu                 sync.Mutex
	retiredCap, retiredPlay RingStats
	wakeups                 atomic.Uint64

	// wavStart is the time of the recording's first sample; wavFrames
	// counts the frames in it (owned by the run loop, then by Close).
	wavStart  time.Time
	wavFrames int64

	// traceCapture, when set (benchmarks), receives CaptureDelay
	// measurements: from the callback that completed the frame, and from
	// the one that delivered its first samples.
	traceCapture func(fromLast, fromFirst time.Duration)
	// traceFrame, when set (benchmarks), receives the playback ring's
	// write index of each frame's first sample as the frame is written.
	traceFrame func(ringStart uint64)

	done      chan struct{}
	wg        sync.WaitGroup // the run loop
	started   bool
	released  chan struct{} // closed when manageDevices has closed every device
	closeOnce sync.Once
	closeErr  error
}

// Open builds and starts a pipeline. Bad --mic/--speaker values, a named
// device that does not exist, an unreadable wav:PATH or an uncreatable
// recording are errors. No usable device at all is not: the pipeline runs
// on the null device and Warning says so.
func Open(cfg Config) (*Pipeline, error) {
	p, err := newPipeline(cfg)
	if err != nil {
		return nil, err
	}
	p.start()
	return p, nil
}

// newPipeline builds a pipeline, its devices found and initialized but not
// started, without starting its goroutines (benchmarks drive its steps
// directly).
func newPipeline(cfg Config) (*Pipeline, error) {
	mic, err := ParseMic(cfg.Mic)
	if err != nil {
		return nil, err
	}
	spk, err := ParseSpeaker(cfg.Speaker)
	if err != nil {
		return nil, err
	}
	if !cfg.Mode.valid() {
		return nil, fmt.Errorf("%w: pipeline mode %v", ErrBadSpec, cfg.Mode)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bitrate := cfg.Bitrate
	if bitrate == 0 {
		bitrate = DefaultBitrate
	}
	enc, err := NewEncoder(bitrate)
	if err != nil {
		return nil, err
	}
	if err := enc.SetDTX(cfg.DTX); err != nil {
		return nil, err
	}
	p := &Pipeline{
		logger:   logger,
		mic:      mic,
		spk:      spk,
		enc:      enc,
		mixer:    NewMixer(),
		onWarn:   cfg.OnWarning,
		done:     make(chan struct{}),
		modeCh:   make(chan struct{}, 1),
		runCh:    make(chan struct{}, 1),
		released: make(chan struct{}),
	}
	p.want.Store(&modeWant{mode: cfg.Mode, call: startsCall(ModeIdle, cfg.Mode)})
	p.expectedLoss.Store(DefaultExpectedLoss)
	p.bitrate.Store(int32(bitrate))
	p.cs.loss, p.cs.bitrate = DefaultExpectedLoss, int32(bitrate)
	p.remotes.Store(&[]*Remote{})
	if cfg.OnPacket != nil {
		p.SetPacketHandler(cfg.OnPacket)
	}

	switch mic.Kind {
	case SourceTone:
		tone, err := NewTone(mic.Hz, DefaultToneAmplitude)
		if err != nil {
			return nil, fmt.Errorf("%w: --mic %v: %v", ErrBadSpec, mic, err)
		}
		p.src = &toneSource{tone: tone, hz: mic.Hz}
	case SourceWAV:
		s, err := openWAVSource(mic.Path)
		if err != nil {
			return nil, err
		}
		p.src = s
	case SourceSilence:
		p.src = silenceSource{}
	case SourceEcho:
		p.echo = newEchoSource()
		p.src = p.echo
	}
	if spk.Kind == SinkWAV {
		w, err := CreateWAV(spk.Path)
		if err != nil {
			return nil, fmt.Errorf("--speaker wav:%s: %w", spk.Path, err)
		}
		p.wav = w
		p.wavStart = time.Now()
	}

	backends := cfg.Backends
	if backends == nil {
		backends = DefaultBackends()
	}
	p.devs, err = openDevices(backends, mic, spk, logger)
	if err != nil {
		if p.wav != nil {
			p.wav.Close()
		}
		return nil, err
	}
	if p.devs.warning != "" {
		logger.Warn("audio: " + p.devs.warning)
		p.issues[issueDevices] = p.devs.warning
	}
	if p.src != nil {
		p.micName = p.src.name()
	} else if d := p.devs.capture; d != nil {
		p.micName = fmt.Sprintf("%s (%v)", d.name, d.backend)
	} else {
		p.micName = "silence (no device)"
		p.src = silenceSource{}
	}
	switch {
	case spk.Kind == SinkNone:
		p.spkName = "none"
	case spk.Kind == SinkWAV:
		p.spkName = "wav " + spk.Path
	case p.devs.playback != nil:
		p.spkName = fmt.Sprintf("%s (%v)", p.devs.playback.name, p.devs.playback.backend)
	default:
		p.spkName = "none (no device)"
	}
	micDevice := p.src == nil && p.devs.capture != nil && p.devs.capture.backend != BackendNull
	spkDevice := p.devs.playback != nil && p.devs.playback.backend != BackendNull
	p.voice = newVoiceChain(voiceConfig(cfg.Voice, micDevice, spkDevice))
	logger.Info("audio: voice processing", "aec", p.voice.status.AEC, "ns", p.voice.status.NS, "agc", p.voice.status.AGC)

	return p, nil
}

// start runs the pipeline's goroutines: the run loop, and the device
// manager, which starts with the configured mode.
func (p *Pipeline) start() {
	p.started = true
	p.wg.Add(1)
	go p.run()
	go p.manageDevices()
}

// SetMode tells the pipeline what to run (see Mode): the engine calls it as
// a call rings, begins and ends. It returns at once; the devices open or
// close in the background, within a few milliseconds on a healthy sound
// server. An unknown mode is ignored (and logged).
func (p *Pipeline) SetMode(m Mode) {
	if !m.valid() {
		p.logger.Error("audio: SetMode with an unknown mode; ignored", "mode", m)
		return
	}
	for {
		old := p.want.Load()
		if old.mode == m {
			return
		}
		next := &modeWant{mode: m, call: old.call + startsCall(old.mode, m)}
		if p.want.CompareAndSwap(old, next) {
			break
		}
	}
	p.logger.Debug("audio: mode", "mode", m)
	select {
	case p.modeCh <- struct{}{}:
	default:
	}
}

// Mode returns the mode last asked for with SetMode (or Config.Mode).
func (p *Pipeline) Mode() Mode { return p.want.Load().mode }

// modeWant is a mode asked for, and which call it belongs to.
type modeWant struct {
	mode Mode
	// call counts the times the microphone began to be sent (the mode
	// turned to one that sends): each is a new call, which must start
	// with none of the last one's audio. The run loop may never see the
	// mode between two calls (manageDevices and the run loop take only
	// the latest change), so it tells the calls apart by this.
	call uint64
}

// startsCall is 1 when going from mode from to mode to begins a call, else 0.
func startsCall(from, to Mode) uint64 {
	if to.sends() && !from.sends() {
		return 1
	}
	return 0
}

// Voice returns the voice processing that runs on the microphone (see
// Config.Voice): what was asked for, less what cannot apply.
func (p *Pipeline) Voice() voice.Config { return p.voice.cfg }

// VoiceStatus says what runs of the voice processing, and why a part that
// was asked for does not, for a header line.
func (p *Pipeline) VoiceStatus() VoiceStatus { return p.voice.status }

// MicName describes the microphone in use, for a header line.
func (p *Pipeline) MicName() string { return p.micName }

// SpeakerName describes the speaker in use, for a header line.
func (p *Pipeline) SpeakerName() string { return p.spkName }

// Warning returns a sentence for the user when audio is degraded (no
// device, a device that stopped delivering audio, a failed recording), or ""
// when all is well. It changes while the pipeline runs: a device that comes
// back clears its part.
func (p *Pipeline) Warning() string {
	p.warnMu.Lock()
	defer p.warnMu.Unlock()
	return p.warningLocked()
}

// Parts of the warning.
const (
	issueDevices   = iota // no device at Open: the null backend stands in
	issueMic              // the microphone stopped delivering audio
	issueSpeaker          // the speaker stopped taking audio
	issueRecording        // the wav speaker failed
	issueCount
)

func (p *Pipeline) warningLocked() string {
	var parts []string
	for _, s := range p.issues {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// setIssue sets one part of the warning and tells OnWarning when the
// warning changed.
func (p *Pipeline) setIssue(i int, s string) {
	p.warnMu.Lock()
	if p.issues[i] == s {
		p.warnMu.Unlock()
		return
	}
	p.issues[i] = s
	w := p.warningLocked()
	p.warnMu.Unlock()
	if p.onWarn != nil {
		p.onWarn(w)
	}
}

// SetPacketHandler sets the function that receives every encoded 20 ms Opus
// frame (nil: stop sending). It runs on the run loop (see Pipeline): it must not
// block for long, and the payload is only valid during the call (copy it to
// keep it). The engine's track sends the frame to every peer before its
// write returns, so it writes the payload as it is.
func (p *Pipeline) SetPacketHandler(fn func(Packet)) {
	if fn == nil {
		p.handler.Store(nil)
		return
	}
	p.handler.Store(&fn)
}

// SetMuted mutes or unmutes the microphone. A muted microphone still sends
// a frame every 20 ms, of digital silence: Opus codes it in a few bytes, and
// a steady stream keeps the peers' jitter buffers, sequence numbers and
// timestamps continuous, so unmuting is instant and glitch-free. The local
// level reads 0 while muted.
func (p *Pipeline) SetMuted(muted bool) { p.muted.Store(muted) }

// Muted reports whether the microphone is muted.
func (p *Pipeline) Muted() bool { return p.muted.Load() }

// SetExpectedLoss tells the encoder the packet loss to plan for, in percent
// (the engine feeds it from network statistics); more loss buys more FEC.
func (p *Pipeline) SetExpectedLoss(pct int) {
	p.expectedLoss.Store(int32(max(0, min(pct, 100))))
}

// SetBitrate changes the encoder's bitrate, in bit/s.
func (p *Pipeline) SetBitrate(bps int) error {
	if bps < MinBitrate || bps > MaxBitrate {
		return fmt.Errorf("%w: bitrate %d bit/s is outside %d..%d", ErrCodec, bps, MinBitrate, MaxBitrate)
	}
	p.bitrate.Store(int32(bps))
	return nil
}

// LocalLevel returns the 0–100 level of the last 20 ms of the microphone,
// as sent: after voice processing (0 while muted, and outside ModeCall).
func (p *Pipeline) LocalLevel() int { return int(p.localLevel.Load()) }

// Ring starts, changes or stops the ringtone mixed into the speaker.
func (p *Pipeline) Ring(pattern RingPattern) { p.ringPattern.Store(int32(pattern)) }

// AddRemote creates the receive side of a remote participant (or returns
// the existing one for id).
func (p *Pipeline) AddRemote(id string) (*Remote, error) {
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	p.remotesMu.Lock()
	defer p.remotesMu.Unlock()
	old := *p.remotes.Load()
	for _, r := range old {
		if r.id == id {
			return r, nil
		}
	}
	r, err := newRemote(id, time.Now)
	if err != nil {
		return nil, err
	}
	// Copy on write: the run loop reads the slice without a lock.
	next := append(old[:len(old):len(old)], r)
	p.remotes.Store(&next)
	return r, nil
}

// Remote returns the remote participant id, or nil.
func (p *Pipeline) Remote(id string) *Remote {
	for _, r := range *p.remotes.Load() {
		if r.id == id {
			return r
		}
	}
	return nil
}

// RemoveRemote removes a remote participant; unknown ids are ignored.
func (p *Pipeline) RemoveRemote(id string) {
	p.remotesMu.Lock()
	defer p.remotesMu.Unlock()
	old := *p.remotes.Load()
	next := make([]*Remote, 0, len(old))
	for _, r := range old {
		if r.id != id {
			next = append(next, r)
		}
	}
	p.remotes.Store(&next)
}

// Stats returns the local side's counters.
func (p *Pipeline) Stats() PipelineStats {
	st := PipelineStats{
		CaptureDelay: time.Duration(p.captureDelay.Load()),
		FramesSent:   p.framesSent.Load(),
		FramesPlayed: p.framesPlayed.Load(),
		EncodeErrors: p.encodeErrors.Load(),
		Wakeups:      p.wakeups.Load(),
	}
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	st.Capture, st.Playback = p.retiredCap, p.retiredPlay
	if a := p.active.Load(); a != nil {
		if a.capture != nil {
			st.Capture = st.Capture.add(a.capture.ring.Stats())
		}
		if a.playback != nil {
			st.Playback = st.Playback.add(a.playback.ring.Stats())
		}
	}
	return st
}

// closeDeviceTimeout bounds how long Close waits for the sound server to
// release the devices. A server that lost a device may take 10 s to answer
// (PulseAudio corking a killed stream); quitting must not hang on it.
const closeDeviceTimeout = 3 * time.Second

// Close stops the devices and goroutines and finishes the recording (which
// runs to the moment of Close: see fillRecording). It returns the
// recording's error, if any. It is safe to call more than once.
//
// If the sound server does not release the devices within 3 s, Close logs a
// warning and returns while the device goroutine finishes the release in
// the background; that is the only case where anything outlives Close.
func (p *Pipeline) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.wg.Wait()
		if p.started {
			select {
			case <-p.released:
			case <-time.After(closeDeviceTimeout):
				p.logger.Warn("audio: the sound server is slow to release the devices; not waiting for it")
			}
		} else {
			p.devs.close()
		}
		if p.wav != nil {
			p.fillRecording(time.Now())
			p.closeErr = p.wav.Close()
		}
	})
	return p.closeErr
}

// captureState is owned by the run loop.
type captureState struct {
	frame   [FrameSamples]int16
	pkt     [MaxPayload]byte
	loss    int32 // expected loss the encoder was last told
	bitrate int32 // bitrate the encoder was last told
	dropped int   // frames lost since the last packet
	// ringDropped is the capture ring's Dropped counter already turned
	// into dropped frames; the remainder carries over.
	ringDropped uint64
}

// sendFrame processes p.cs.frame, the next 20 ms of microphone, already
// through voice processing: mute, meter, encode, hand over. It does not
// allocate.
func (p *Pipeline) sendFrame() {
	cs := &p.cs
	if p.muted.Load() {
		clear(cs.frame[:])
	}
	p.localLevel.Store(int32(Level(cs.frame[:])))
	if l := p.expectedLoss.Load(); l != cs.loss {
		cs.loss = l
		if err := p.enc.SetExpectedLoss(int(l)); err != nil {
			p.logger.Warn("audio: setting expected loss", "err", err)
		}
	}
	if b := p.bitrate.Load(); b != cs.bitrate {
		cs.bitrate = b
		if err := p.enc.SetBitrate(int(b)); err != nil {
			p.logger.Warn("audio: setting bitrate", "err", err)
		}
	}
	h := p.handler.Load()
	if h == nil {
		return
	}
	n, err := p.enc.Encode(cs.frame[:], cs.pkt[:])
	if err != nil {
		if c := p.encodeErrors.Add(1); c == 1 || c%500 == 0 {
			p.logger.Warn("audio: encoding failed", "err", err, "count", c)
		}
		return
	}
	(*h)(Packet{Payload: cs.pkt[:n], Dropped: cs.dropped})
	cs.dropped = 0
	p.framesSent.Add(1)
}

// captureDevice moves every complete frame out of the capture ring and sends
// it. It does not allocate.
func (p *Pipeline) captureDevice(dev *device) {
	if d := dev.ring.dropped.Load(); d-p.cs.ringDropped >= FrameSamples {
		frames := (d - p.cs.ringDropped) / FrameSamples
		p.cs.dropped += int(frames)
		p.cs.ringDropped += frames * FrameSamples
	}
	for dev.ring.Len() >= FrameSamples {
		// The ring's index is the capture position: what voice
		// processing pairs with the speaker's play position. It runs
		// while muted too, so the echo canceller and the noise estimate
		// are current when the user unmutes.
		at := dev.ring.r.Load()
		dev.ring.Read(p.cs.frame[:])
		left := dev.ring.Len()
		var playing uint64
		if pd := p.voicePlay; pd != nil {
			playing = pd.ring.Consumed()
		}
		p.voice.process(p.cs.frame[:], at, dev.ring.w.Load(), playing)
		p.sendFrame()
		p.noteCaptureDelay(dev, left)
	}
}

// Device health: a device that has not called back for deviceStallTimeout
// (or not at all within deviceStartGrace of opening) is treated as gone, and
// the loop runs on the pipeline's own clock until it calls back again.
// miniaudio does not always report a device that disappears (PulseAudio
// kills the stream of a removed sink without a stop notification), so the
// run loop watches the callbacks itself.
const (
	deviceStallTimeout   = time.Second
	deviceStartGrace     = 5 * time.Second
	deviceStartCallbacks = 10
)

// healthy reports whether the device is delivering callbacks at now. A
// starting device gets deviceStartGrace for its first few callbacks: sound
// servers may call once at start and then take a second or two to run
// (PulseAudio's null sinks do).
func (d *device) healthy(now time.Time) bool {
	if d.stopped.Load() {
		return false
	}
	if d.callbacks.Load() < deviceStartCallbacks && now.Sub(d.opened) < deviceStartGrace {
		return true
	}
	return now.UnixNano()-d.lastCallback.Load() < int64(deviceStallTimeout)
}

// noteCaptureDelay measures how long the frame just sent took from the
// device callback that completed it: the time since the last callback, plus
// the audio that arrived after the frame (left samples still in the ring).
func (p *Pipeline) noteCaptureDelay(dev *device, left int) {
	last := dev.lastCallback.Load()
	if last == 0 {
		return
	}
	now := time.Now().UnixNano()
	d := now - last + int64(samplesToDuration(int64(left)))
	if p.traceCapture != nil && left == 0 {
		// The frame's first half came one callback earlier.
		p.traceCapture(time.Duration(d), time.Duration(now-dev.prevCallback.Load()))
	}
	old := p.captureDelay.Load()
	if old == 0 {
		p.captureDelay.Store(d)
		return
	}
	p.captureDelay.Store(old + (d-old)/16)
}

// playoutState is owned by the run loop.
type playoutState struct {
	out, tmp [FrameSamples]int16
	pattern  RingPattern
}

// mixFrame produces the next 20 ms for the speaker into p.ps.out: every
// remote's frame mixed, the echo line fed, the ringtone added. It does not
// allocate.
func (p *Pipeline) mixFrame(now time.Time) {
	ps := &p.ps
	for _, r := range *p.remotes.Load() {
		r.pull(now, ps.tmp[:])
		p.mixer.Add(ps.tmp[:])
	}
	p.mixer.Mix(ps.out[:])
	if p.echo != nil {
		p.echo.ring.Write(ps.out[:])
	}
	if want := RingPattern(p.ringPattern.Load()); want != ps.pattern {
		ps.pattern = want
		p.ringtone.Reset(want)
	}
	if ps.pattern != RingOff {
		p.ringtone.Read(ps.tmp[:])
		for i := range ps.out {
			ps.out[i] = clamp16(float64(int32(ps.out[i]) + int32(ps.tmp[i])))
		}
	}
}

// framePlayed records that p.ps.out reached the speaker path.
func (p *Pipeline) framePlayed() {
	p.framesPlayed.Add(1)
	if remotes := *p.remotes.Load(); len(remotes) > 0 {
		at := time.Now()
		for _, r := range remotes {
			r.played(at)
		}
	}
}

// playDevice tops the playback ring up to its low-water mark. It does not
// allocate.
func (p *Pipeline) playDevice(dev *device) {
	for i := 0; i < maxPlaybackBurst && dev.ring.Len() < playbackLowWater; i++ {
		p.mixFrame(time.Now())
		if p.traceFrame != nil {
			p.traceFrame(dev.ring.w.Load())
		}
		at := dev.ring.w.Load()
		dev.ring.Write(p.ps.out[:])
		// Its play position: its place in the ring, plus the silence the
		// device played for underruns before it (underruns only happen
		// with the ring empty, so they all came before this frame).
		p.voice.played(p.ps.out[:], at+dev.ring.padded.Load())
		p.framePlayed()
	}
}
