// Package audio is everything between the sound card and encoded RTP
// payloads: capture and playback devices (malgo), the Opus codec, an adaptive
// jitter buffer per remote participant, the mixer, level meters, the
// ringtone, and the file and generator sources and sinks that stand in for
// devices (tone, WAV, silence, echo).
//
// The engine uses one object, the [Pipeline]: it owns the local media path on
// both sides. The capture side produces one encoded Opus frame every 20 ms
// and hands it to a registered handler; the receive side takes RTP payloads
// per remote participant ([Remote.Push]), and the playout pulls 20 ms from
// every remote's jitter buffer, decodes (with FEC and PLC), mixes and plays.
// The engine never handles PCM or timing; it only tells the pipeline what
// the call needs ([Pipeline.SetMode]): nothing between calls, the speaker
// while a call rings, both sides in a call. A microphone device's frames
// are cleaned by package voice (echo cancellation against what the
// speaker plays, noise suppression, gain control: [Config.Voice]) before
// they are metered and encoded.
//
// The format is fixed: 48 kHz, mono, signed 16-bit PCM; devices run with
// 10 ms periods and the codec with 20 ms frames.
//
// Nothing in this package writes to the terminal: diagnostics go to the
// *slog.Logger of the caller (default: discard), and the C libraries' own
// stderr chatter (ALSA, JACK) is switched off before they are used.
package audio

import "time"

const (
	// SampleRate is the sample rate of every PCM buffer in this package and
	// the RTP clock rate of Opus (RFC 7587).
	SampleRate = 48000
	// FrameSamples is the number of samples in one 20 ms codec frame.
	FrameSamples = SampleRate / 50
	// FrameDuration is the duration of one codec frame and of one RTP packet
	// the pipeline sends.
	FrameDuration = 20 * time.Millisecond
	// PeriodSamples is the device period: 10 ms, the low-latency profile.
	PeriodSamples = SampleRate / 100
	// MaxPacketSamples is the longest Opus packet (120 ms, RFC 6716 §3.2.5).
	MaxPacketSamples = 120 * SampleRate / 1000
	// MaxPayload is the largest RTP payload the jitter buffer accepts. It is
	// above any MTU-sized packet and above Opus's 1275-byte frame limit.
	MaxPayload = 1500
)

// samplesToDuration converts a sample count at SampleRate to a duration.
func samplesToDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}

// durationToSamples converts a duration to a sample count at SampleRate,
// rounding toward zero.
func durationToSamples(d time.Duration) int64 {
	return int64(d) * SampleRate / int64(time.Second)
}
