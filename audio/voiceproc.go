package audio

import (
	"log/slog"

	"softphone/audio/voice"
)

// voiceChain is the pipeline's voice processing (package voice): the
// processor that cleans each microphone frame before it is metered and
// encoded, and the far-end reference the echo canceller needs, taken from
// what the speaker plays.
//
// The reference is paired with the microphone by the devices' own sample
// positions, not by the order in which the run loop serves them (which a
// stall upsets): every frame written to the speaker is kept at its play
// position (where in the device's output stream it will sound: its place
// in the playback ring plus the silence played for underruns), and each
// microphone frame at capture position C takes the reference at C + off,
// where off pairs the two devices' positions at one instant, measured at
// the first microphone frame after they (re)start. That pairing is what
// was playing while the frame was captured, give or take a callback, and
// stays put however the run loop is scheduled; the echo canceller finds
// the rest of the delay (the device buffers, the room) and follows it.
//
// Only the run loop uses it.
type voiceChain struct {
	cfg    voice.Config // what runs
	status VoiceStatus
	proc   *voice.Processor
	refOn  bool // a loudspeaker device plays: the reference is kept

	hist    []int16 // what was played, by play position (ring)
	histEnd uint64  // play position one past the newest kept
	haveOff bool
	off     int64 // play position = capture position + off
	frame   [FrameSamples]int16
	// misses counts microphone frames whose reference was not (or no
	// longer) kept: a device that stalled. Each pairs the devices anew.
	misses int
}

// refHistory is how much of what was played the chain keeps: the echo
// canceller's 320 ms of delay, a pairing off by a few callbacks, and room.
const refHistory = 1 << 15 // 680 ms

// VoiceStatus says what cleans the microphone: each of AEC (echo
// cancellation), NS (noise suppression) and AGC (gain control) is "on" (for
// NS its level, "low" or "high"), "off", or off for a reason: "off (test
// source)" for a tone:, wav:, silence or echo microphone, which is sent as
// it is, and, for AEC, "off (no speaker)" when nothing plays into the room.
type VoiceStatus struct {
	AEC, NS, AGC string
}

// voiceConfig is what the pipeline runs of want (nil: voice.Default), and
// its status: the microphone must be a device (generator sources are sent
// as they are), and the echo canceller needs a loudspeaker device to
// cancel.
func voiceConfig(want *voice.Config, micDevice, speakerDevice bool) (voice.Config, VoiceStatus) {
	cfg := voice.Default
	if want != nil {
		cfg = *want
	}
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	st := VoiceStatus{AEC: onOff(cfg.AEC), NS: cfg.NS.String(), AGC: onOff(cfg.AGC)}
	if !micDevice {
		const why = "off (test source)"
		return voice.Off, VoiceStatus{AEC: why, NS: why, AGC: why}
	}
	if !speakerDevice && cfg.AEC {
		cfg.AEC = false
		st.AEC = "off (no speaker)"
	}
	return cfg, st
}

func newVoiceChain(cfg voice.Config, st VoiceStatus) *voiceChain {
	v := &voiceChain{cfg: cfg, status: st, refOn: cfg.AEC}
	if cfg.Enabled() {
		v.proc = voice.New(cfg)
	}
	if v.refOn {
		v.hist = make([]int16, refHistory)
	}
	return v
}

// reset forgets the last call: its echo path, its noise, its level, and
// the devices' pairing.
func (v *voiceChain) reset() {
	if v.proc != nil {
		v.proc.Reset()
	}
	v.restart()
}

// restart forgets the pairing and what was played: a device was opened
// afresh, and its positions start again from zero.
func (v *voiceChain) restart() {
	v.haveOff = false
	v.histEnd = 0
	clear(v.hist)
}

// played keeps a frame written to the speaker device, whose first sample
// will play at position at.
func (v *voiceChain) played(out []int16, at uint64) {
	if !v.refOn {
		return
	}
	mask := uint64(len(v.hist) - 1)
	if at > v.histEnd {
		// The device played silence in between (an underrun).
		for p := max(v.histEnd, at-min(at, uint64(len(v.hist)))); p < at; p++ {
			v.hist[p&mask] = 0
		}
	}
	for i, s := range out[:FrameSamples] {
		v.hist[(at+uint64(i))&mask] = s
	}
	v.histEnd = max(v.histEnd, at+FrameSamples)
}

// process cleans one microphone frame in place. capAt is the frame's
// capture position, captured how many samples the microphone has captured
// so far and playing how far the speaker has played (both now). It does not
// allocate.
func (v *voiceChain) process(frame []int16, capAt, captured, playing uint64) {
	if v.proc == nil {
		return
	}
	var far []int16
	if v.refOn {
		far = v.frame[:]
		v.reference(far, capAt, captured, playing)
	}
	v.proc.Process(frame, far)
}

// reference fills far with what was played while the frame at capture
// position capAt was captured.
func (v *voiceChain) reference(far []int16, capAt, captured, playing uint64) {
	if !v.haveOff {
		if playing == 0 {
			clear(far) // the speaker has not started
			return
		}
		// The newest sample captured and the newest played are about
		// now: that pairs the two devices' positions.
		v.off = int64(playing) - int64(captured)
		v.haveOff = true
		if v.misses > 0 {
			v.proc.ReferenceJumped()
		}
	}
	start := int64(capAt) + v.off
	end := start + FrameSamples
	oldest := int64(v.histEnd) - int64(len(v.hist))
	// Past the newest frame written but not past what the device has
	// played is silence it played for an underrun: a true reference. Past
	// what it has played, or older than what is kept, is a pairing that
	// no longer holds.
	if start < oldest || end > int64(playing)+FrameSamples {
		// The pairing no longer holds: a device stalled without calling
		// back (its position stood still while the other's ran on). Pair
		// again at the next frame; the echo canceller sees a jump of the
		// delay and follows it.
		v.misses++
		v.haveOff = false
	}
	mask := uint64(len(v.hist) - 1)
	for i := range far {
		p := start + int64(i)
		if p < oldest || p < 0 || p >= int64(v.histEnd) {
			far[i] = 0
			continue
		}
		far[i] = v.hist[uint64(p)&mask]
	}
}

// processClocked cleans a frame that came on the pipeline's clock (the
// microphone device stopped): there is no capture position to pair.
func (v *voiceChain) processClocked(frame []int16) {
	if v.proc != nil {
		v.proc.Process(frame, nil)
	}
}

// logCall logs what the voice processing found in the call that ends: for
// a user's "they heard an echo", the log says whether the canceller found
// the echo, how well it did and whether the reference was there.
func (v *voiceChain) logCall(logger *slog.Logger) {
	if v.proc == nil {
		return
	}
	st := v.proc.Stats()
	logger.Info("audio: voice processing in the call",
		"echo_delay_ms", st.EchoDelay, "linear_erle_db", st.ERLE, "realigns", st.Realigns, "resets", st.Resets,
		"agc_gain_db", st.GainDB, "noise_dbfs", st.NoiseDBFS, "reference_misses", v.misses)
}

// delay is how much later the processed microphone sound is, in samples.
func (v *voiceChain) delay() int {
	if v.proc == nil {
		return 0
	}
	return v.proc.Delay()
}

// stats returns the processor's diagnostics (zero without a processor).
func (v *voiceChain) stats() voice.Stats {
	if v.proc == nil {
		return voice.Stats{EchoDelay: -1}
	}
	return v.proc.Stats()
}
