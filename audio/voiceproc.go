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
// The reference pairs frames by count: every frame the playout writes to
// the speaker device goes into a short queue, and every microphone frame
// takes the oldest one. Both devices run on the sound card's clock, so the
// pairing keeps a fixed offset, whichever of the two the run loop serves
// first; the echo canceller finds the delay from there (the device
// buffers, the room) and follows it. The queue starts with refLead frames
// of silence, so a microphone frame never finds it empty because the
// playout ran second this time. A microphone frame that still finds it
// empty (the speaker started late) gets silence, and one that finds it
// past refMax (the devices' clocks drift, a device stalled) cuts it back:
// the echo canceller sees either as a jump of the delay. (Dropping the
// late frames instead, to keep the pairing, would leave no margin and
// silence the reference for good.)
//
// Only the run loop uses it.
type voiceChain struct {
	cfg    voice.Config // what runs
	status VoiceStatus
	proc   *voice.Processor
	ref    *Ring
	refOn  bool // a loudspeaker device plays: the reference is fed
	frame  [FrameSamples]int16
	// Slips of the pairing: microphone frames that found the queue
	// empty, and frames cut when it grew too long.
	underflows, trims int
}

const (
	refLead = 2
	refMax  = 8
)

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
		v.ref = NewRing((refMax + 2) * FrameSamples)
	}
	v.reset()
	return v
}

// reset forgets the last call: its echo path, its noise, its level.
func (v *voiceChain) reset() {
	if v.proc != nil {
		v.proc.Reset()
	}
	if v.ref != nil {
		var silence [FrameSamples]int16
		v.ref.Discard(v.ref.Len())
		for range refLead {
			v.ref.Write(silence[:])
		}
	}
}

// played takes a frame the playout sent to the speaker device.
func (v *voiceChain) played(out []int16) {
	if !v.refOn {
		return
	}
	if n := v.ref.Len() / FrameSamples; n >= refMax {
		v.ref.Discard((n - refLead) * FrameSamples)
		v.trims += n - refLead
	}
	v.ref.Write(out[:FrameSamples])
}

// process cleans one microphone frame in place. It does not allocate.
func (v *voiceChain) process(frame []int16) {
	if v.proc == nil {
		return
	}
	var far []int16
	if v.refOn {
		far = v.frame[:]
		if v.ref.Len() >= FrameSamples {
			v.ref.Read(far)
		} else {
			clear(far)
			v.underflows++
		}
	}
	v.proc.Process(frame, far)
}

// dropped keeps the pairing when microphone frames were lost: their
// reference frames go too.
func (v *voiceChain) dropped(frames int) {
	if !v.refOn || frames <= 0 {
		return
	}
	v.ref.Discard(min(frames*FrameSamples, v.ref.Len()))
}

// delay is how much later the processed microphone sound is, in samples.
func (v *voiceChain) delay() int {
	if v.proc == nil {
		return 0
	}
	return v.proc.Delay()
}

// logCall logs what the voice processing found in the call that ends: for
// a user's "they heard an echo", the log says whether the canceller found
// the echo, how well it did and how often the reference slipped.
func (v *voiceChain) logCall(logger *slog.Logger) {
	if v.proc == nil {
		return
	}
	st := v.proc.Stats()
	logger.Info("audio: voice processing in the call",
		"echo_delay_ms", st.EchoDelay, "linear_erle_db", st.ERLE, "realigns", st.Realigns, "resets", st.Resets,
		"agc_gain_db", st.GainDB, "noise_dbfs", st.NoiseDBFS,
		"reference_underflows", v.underflows, "reference_trims", v.trims)
}

// stats returns the processor's diagnostics (zero without a processor).
func (v *voiceChain) stats() voice.Stats {
	if v.proc == nil {
		return voice.Stats{EchoDelay: -1}
	}
	return v.proc.Stats()
}
