package audio

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Ring sizes between the device callbacks and the pipeline loops.
const (
	// captureRingSamples holds 85 ms: the run loop may fall that far
	// behind before the oldest audio is dropped.
	captureRingSamples = 4096
	// playbackRingSamples holds 170 ms; the playout keeps it nearly empty.
	playbackRingSamples = 8192
	// playbackLowWater is the fill level below which the playback callback
	// asks the run loop for another frame: it leaves 20 ms of margin
	// before an underrun.
	playbackLowWater = FrameSamples
)

// device is one opened capture or playback device. Its data callback runs
// on a C thread owned by miniaudio: it only moves samples through the ring,
// stamps the time and wakes the run loop with a non-blocking send, at
// most once per 20 ms frame.
//
// A device is opened for one stretch of use: the pipeline closes it when
// the mode no longer needs it and opens a fresh one (new ring, new
// counters) from its deviceSlot when it does again.
type device struct {
	kind    malgo.DeviceType
	backend Backend
	name    string
	dev     *malgo.Device
	ring    *Ring
	wake    chan struct{}

	// discard makes the capture callback drop what the device delivers:
	// the microphone is open so that it is ready when the call begins
	// (ModeDialing), but nothing before that may be captured.
	discard atomic.Bool
	started bool // owned by the goroutine that opens and closes devices

	opened       time.Time    // when the device started
	lastCallback atomic.Int64 // time.Now().UnixNano() of the last data callback
	prevCallback atomic.Int64 // and of the one before
	callbacks    atomic.Uint64
	closing      atomic.Bool
	stopped      atomic.Bool // stopped by itself: unplugged, server gone

	// onCallback, when set (tests), runs at the start of every data callback.
	onCallback func()
	// onPlayed, when set (benchmarks; from deviceSlot.onPlayed), runs at
	// the end of every playback callback with the ring's read index (the
	// samples handed to the device so far) and the callback's time: the
	// moment a frame's samples leave for the speaker.
	onPlayed func(readIndex uint64, at int64)
}

func newDevice(kind malgo.DeviceType, b Backend, name string) *device {
	size := captureRingSamples
	if kind == malgo.Playback {
		size = playbackRingSamples
	}
	return &device{kind: kind, backend: b, name: name, ring: NewRing(size), wake: make(chan struct{}, 1)}
}

// bytesToSamples views S16 device memory as samples, without copying or
// allocating. miniaudio's S16 is native-endian, like int16.
func bytesToSamples(b []byte) []int16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2)
}

// captureData is the capture callback: copy the C buffer into the ring
// (never keep it: it is C memory reused by the next callback) and wake the
// run loop once a whole 20 ms frame is buffered. The device calls back
// every 10 ms; waking the loop for a half frame it cannot encode would
// double the wakeups, and on a virtual machine every wakeup costs tens of
// microseconds.
func (d *device) captureData(_, in []byte, _ uint32) {
	if d.onCallback != nil {
		d.onCallback()
	}
	now := time.Now().UnixNano()
	d.prevCallback.Store(d.lastCallback.Load())
	d.lastCallback.Store(now)
	d.callbacks.Add(1)
	if d.discard.Load() {
		return
	}
	d.ring.Write(bytesToSamples(in))
	// Len may overstate what the consumer has left, never understate it:
	// at worst a spurious wakeup, never a missed frame.
	if d.ring.Len() >= FrameSamples {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// playbackData is the playback callback: fill the C buffer from the ring
// (silence on underrun) and ask the run loop for more when low.
func (d *device) playbackData(out, _ []byte, _ uint32) {
	if d.onCallback != nil {
		d.onCallback()
	}
	now := time.Now().UnixNano()
	d.lastCallback.Store(now)
	d.callbacks.Add(1)
	d.ring.ReadFull(bytesToSamples(out))
	if d.onPlayed != nil {
		d.onPlayed(d.ring.r.Load(), now)
	}
	if d.ring.Len() < playbackLowWater {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// deviceStopped is the stop callback. A stop we did not ask for (device
// unplugged, sound server gone) is flagged for the pipeline, which falls
// back to its own clock.
func (d *device) deviceStopped() {
	if d.closing.Load() {
		return
	}
	d.stopped.Store(true)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// init initializes the device on ctx (id nil means the default) without
// starting it: a probe that the device exists and opens, and the first half
// of putting it to use.
func (d *device) init(ctx *malgo.AllocatedContext, id *malgo.DeviceID) error {
	cfg := malgo.DefaultDeviceConfig(d.kind)
	cfg.SampleRate = SampleRate
	cfg.PeriodSizeInFrames = PeriodSamples
	cfg.Periods = 2
	cfg.PerformanceProfile = malgo.LowLatency
	// The device id is handed to C inside a C struct, so it must live in
	// C memory (cgo forbids Go pointers there).
	var cid unsafe.Pointer
	if id != nil {
		cid = id.Pointer()
		defer cFree(cid)
	}
	callbacks := malgo.DeviceCallbacks{Stop: d.deviceStopped}
	if d.kind == malgo.Capture {
		cfg.Capture.Format = malgo.FormatS16
		cfg.Capture.Channels = 1
		cfg.Capture.DeviceID = cid
		cfg.Pulse.StreamNameCapture = "softphone microphone"
		callbacks.Data = d.captureData
	} else {
		cfg.Playback.Format = malgo.FormatS16
		cfg.Playback.Channels = 1
		cfg.Playback.DeviceID = cid
		cfg.Pulse.StreamNamePlayback = "softphone speaker"
		callbacks.Data = d.playbackData
		// Start with one frame queued so the first callbacks do not count
		// as underruns while the run loop starts.
		d.ring.Write(make([]int16, FrameSamples))
	}
	dev, err := malgo.InitDevice(ctx.Context, cfg, callbacks)
	if err != nil {
		return err
	}
	d.dev = dev
	return nil
}

// start starts an initialized device: from now on its callbacks run.
func (d *device) start() error {
	d.opened = time.Now()
	if err := d.dev.Start(); err != nil {
		d.close()
		return err
	}
	d.started = true
	return nil
}

// close stops and frees the device; after it returns no callback runs.
//
// It stops the device before uninitializing it: miniaudio's uninit does
// not wake the PulseAudio backend's worker thread, which sleeps in the
// server's event loop until the next server event — up to 2 s for an idle
// sink — while stop wakes it at once. Closing a speaker took 2 s here
// without it, 1 ms with it.
func (d *device) close() {
	if d == nil || d.dev == nil {
		return
	}
	d.closing.Store(true)
	if d.started {
		_ = d.dev.Stop() // an error only means it was not running
	}
	d.dev.Uninit()
	d.dev = nil
}

// deviceSlot is what it takes to open one of the pipeline's devices again:
// the backend context and device it was found on at Open.
type deviceSlot struct {
	kind    malgo.DeviceType
	backend Backend
	name    string
	ctx     *malgo.AllocatedContext
	id      *malgo.DeviceID // nil: the backend's default device
	// onPlayed, when set (benchmarks) before the pipeline starts, becomes
	// the onPlayed of every playback device opened on the slot.
	onPlayed func(readIndex uint64, at int64)
}

// open initializes and starts a fresh device for the slot (a capture
// device that discards what it hears, if discard). A default device is
// looked up again, so a headset that became the default while the phone
// was idle is the one the next call uses.
func (s *deviceSlot) open(discard bool) (*device, error) {
	d := newDevice(s.kind, s.backend, s.name)
	d.discard.Store(discard)
	d.onPlayed = s.onPlayed
	if err := d.init(s.ctx, s.id); err != nil {
		return nil, err
	}
	if err := d.start(); err != nil {
		return nil, err
	}
	return d, nil
}

// deviceSet is what openDevices found: up to two device slots, the devices
// it opened on them to check that they work (initialized, not started), and
// the contexts they live on.
type deviceSet struct {
	capSlot, playSlot *deviceSlot
	capture, playback *device // initialized by openDevices; nil once handed on
	contexts          []*malgo.AllocatedContext
	warning           string
}

// close closes the devices still held and frees the contexts.
func (s *deviceSet) close() {
	if s == nil {
		return
	}
	s.capture.close()
	s.playback.close()
	s.capture, s.playback = nil, nil
	for _, c := range s.contexts {
		freeContext(c)
	}
	s.contexts = nil
}

// roleNames are how messages name a device kind.
var roleNames = map[malgo.DeviceType][2]string{
	malgo.Capture:  {"capture", "microphone"},
	malgo.Playback: {"playback", "speaker"},
}

// openDevices finds the capture and playback devices that mic and spk ask
// for, each on the first backend where it opens. A named device that exists
// nowhere, or exists and fails, is an error; a default device that works
// nowhere falls back to the null backend with a warning. The devices are
// initialized but not started: no callback runs and, for a microphone,
// nothing is captured until the pipeline's mode asks for it.
func openDevices(backends []Backend, mic MicSpec, spk SpeakerSpec, logger *slog.Logger) (*deviceSet, error) {
	set := &deviceSet{}
	ctxs := map[Backend]*malgo.AllocatedContext{}
	ctxErr := map[Backend]error{}
	used := map[Backend]bool{}
	getCtx := func(b Backend) (*malgo.AllocatedContext, error) {
		if c, ok := ctxs[b]; ok {
			return c, nil
		}
		if err, ok := ctxErr[b]; ok {
			return nil, err
		}
		c, err := initContext(b, logger)
		if err != nil {
			ctxErr[b] = err
			return nil, err
		}
		ctxs[b] = c
		return c, nil
	}
	fail := func(err error) (*deviceSet, error) {
		set.capture.close()
		set.playback.close()
		for _, c := range ctxs {
			freeContext(c)
		}
		return nil, err
	}

	type role struct {
		kind malgo.DeviceType
		name string // "" for the default device
		dst  **device
		slot **deviceSlot
	}
	var roles []role
	if mic.Kind == SourceDefault || mic.Kind == SourceDevice {
		roles = append(roles, role{malgo.Capture, mic.Name, &set.capture, &set.capSlot})
	}
	if spk.Kind == SinkDefault || spk.Kind == SinkDevice {
		roles = append(roles, role{malgo.Playback, spk.Name, &set.playback, &set.playSlot})
	}
	var missing []string
	var reasons []string
	for _, r := range roles {
		words := roleNames[r.kind]
		var why []string
		for _, b := range backends {
			ctx, err := getCtx(b)
			if err != nil {
				why = append(why, b.String()+": not available")
				continue
			}
			var id *malgo.DeviceID
			name := "default " + words[0] + " device"
			devs, lerr := listDevices(ctx, b, r.kind)
			if r.name != "" {
				if lerr != nil {
					why = append(why, fmt.Sprintf("%v: cannot list devices: %v", b, lerr))
					continue
				}
				d, err := matchDevice(devs, r.name)
				if errors.Is(err, ErrAmbiguousDevice) {
					return fail(fmt.Errorf("--%s on %v: %w", words[1], b, err))
				}
				if err != nil {
					why = append(why, fmt.Sprintf("%v: no match", b))
					continue
				}
				id, name = &d.id, d.Name
			} else {
				for _, d := range devs {
					if d.Default {
						name = d.Name
					}
				}
			}
			dev := newDevice(r.kind, b, name)
			if err := dev.init(ctx, id); err != nil {
				if r.name != "" {
					return fail(fmt.Errorf("%w: opening %s %q on %v: %v; is another program holding it?", ErrDevice, words[1], name, b, err))
				}
				why = append(why, fmt.Sprintf("%v: no working default device", b))
				logger.Debug("audio device failed", "backend", b.String(), "kind", words[0], "err", err)
				continue
			}
			logger.Info("audio device opened", "backend", b.String(), "kind", words[0], "name", name)
			*r.dst = dev
			*r.slot = &deviceSlot{kind: r.kind, backend: b, name: name, ctx: ctx, id: copyID(id)}
			used[b] = true
			break
		}
		if *r.dst != nil {
			continue
		}
		if r.name != "" {
			return fail(fmt.Errorf("%w: no %s device matches %q (%s); run `softphone devices` to see the names", ErrDeviceNotFound, words[0], r.name, strings.Join(why, "; ")))
		}
		// Nothing works: the null device keeps the clock running.
		missing = append(missing, words[1])
		reasons = append(reasons, why...)
		ctx, err := getCtx(BackendNull)
		dev := newDevice(r.kind, BackendNull, "null "+words[1])
		if err == nil {
			err = dev.init(ctx, nil)
		}
		if err != nil {
			// Without even the null device the pipeline's own clock
			// stands in (see Pipeline); nothing is lost but the name.
			logger.Warn("null audio device failed", "kind", words[0], "err", err)
			continue
		}
		*r.dst = dev
		*r.slot = &deviceSlot{kind: r.kind, backend: BackendNull, name: dev.name, ctx: ctx}
		used[BackendNull] = true
	}
	for b, c := range ctxs {
		if used[b] {
			set.contexts = append(set.contexts, c)
		} else {
			freeContext(c)
		}
	}
	set.warning = noDeviceWarning(missing, reasons)
	return set, nil
}

// copyID returns a copy of id (nil stays nil), so a slot does not share the
// device list it was found in.
func copyID(id *malgo.DeviceID) *malgo.DeviceID {
	if id == nil {
		return nil
	}
	c := *id
	return &c
}

// noDeviceWarning explains a fallback to the null device, for the TUI's
// header and headless mode.
func noDeviceWarning(missing, reasons []string) string {
	if len(missing) == 0 {
		return ""
	}
	uniq := reasons[:0:0]
	for _, r := range reasons {
		dup := false
		for _, u := range uniq {
			dup = dup || u == r
		}
		if !dup {
			uniq = append(uniq, r)
		}
	}
	why := ""
	if len(uniq) > 0 {
		why = " (" + strings.Join(uniq, "; ") + ")"
	}
	var effect string
	switch {
	case len(missing) == 2:
		effect = "No microphone or speaker found" + why + ": running on the null audio device. Calls still connect and the others' meters work, but they hear silence from you and you hear nothing."
	case missing[0] == "microphone":
		effect = "No microphone found" + why + ": the others hear silence from you; you still hear them."
	default:
		effect = "No speaker found" + why + ": you will not hear the others (their meters still work); they still hear you."
	}
	return effect + " Run `softphone devices` to check, or pick a device with --mic / --speaker."
}
