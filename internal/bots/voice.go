package bots

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"softphone/audio"
)

// The caller bot's voice: a steady tone would hold the callee's meter at
// one value for the whole call, which looks stuck rather than live. This
// babble rises and falls like speech instead: phrases of "syllables", each a
// buzzy vowel-like tone (a fundamental gliding around the bot's pitch, with
// two harmonics) under a soft attack and decay, with short gaps between
// syllables and longer pauses between phrases. It is generated once, with a
// fixed seed, into a WAV file that the audio pipeline loops (wav:PATH).

// botVoiceLength is the loop's length: long enough not to sound like a loop
// at a glance, short to generate (~1 ms).
const botVoiceLength = 8 // seconds

// botVoicePCM returns botVoiceLength seconds of babble around hz.
func botVoicePCM(hz float64) []int16 {
	rng := rand.New(rand.NewPCG(0x50f7, 0x9407))
	pcm := make([]int16, botVoiceLength*audio.SampleRate)
	span := func(lo, hi float64) int { // samples in lo..hi seconds
		return int((lo + rng.Float64()*(hi-lo)) * audio.SampleRate)
	}
	phase := 0.0
	i := span(0.1, 0.3) // start with a breath of silence
	for i < len(pcm) {
		for n := 3 + rng.IntN(5); n > 0 && i < len(pcm); n-- {
			length := span(0.12, 0.32)
			peak := 0.12 + rng.Float64()*0.18
			f0, f1 := hz*(0.85+rng.Float64()*0.3), hz*(0.85+rng.Float64()*0.3)
			for k := 0; k < length && i+k < len(pcm); k++ {
				t := float64(k) / float64(length)
				f := f0 + (f1-f0)*t
				phase += 2 * math.Pi * f / audio.SampleRate
				// Raised-cosine envelope: no clicks at either edge.
				env := peak * 0.5 * (1 - math.Cos(2*math.Pi*t))
				v := math.Sin(phase) + 0.5*math.Sin(2*phase) + 0.25*math.Sin(3*phase)
				pcm[i+k] = int16(env / 1.75 * v * math.MaxInt16)
			}
			i += length + span(0.04, 0.12)
		}
		i += span(0.4, 0.9)
	}
	return pcm
}

// writeBotVoice writes the babble around hz to a new temporary WAV file and
// returns its path; the caller removes it once the pipeline has read it.
func writeBotVoice(hz float64) (string, error) {
	f, err := os.CreateTemp("", "softphone-bot-*.wav")
	if err != nil {
		return "", fmt.Errorf("create the bot's voice file: %w", err)
	}
	path := f.Name()
	f.Close()
	w, err := audio.CreateWAV(path)
	if err == nil {
		pcm := botVoicePCM(hz)
		for i := 0; i < len(pcm) && err == nil; i += audio.FrameSamples {
			err = w.Write(pcm[i:min(i+audio.FrameSamples, len(pcm))])
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write the bot's voice file: %w", err)
	}
	return path, nil
}
