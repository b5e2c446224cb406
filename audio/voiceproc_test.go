package audio

import (
	"testing"

	"softphone/audio/voice"
)

// TestVoiceConfig: what runs of the voice processing asked for, and the
// status the header shows, for each kind of microphone and speaker.
func TestVoiceConfig(t *testing.T) {
	low := voice.Config{AEC: true, NS: voice.NSLow}
	for _, tc := range []struct {
		name         string
		want         *voice.Config
		mic, speaker bool
		runs         voice.Config
		aec, ns, agc string
	}{
		{"defaults", nil, true, true, voice.Default, "on", "high", "on"},
		{"asked", &low, true, true, low, "on", "low", "off"},
		{"no speaker", nil, true, false, voice.Config{NS: voice.NSHigh, AGC: true}, "off (no speaker)", "high", "on"},
		{"no speaker, no AEC asked", &voice.Config{AGC: true}, true, false, voice.Config{AGC: true}, "off", "off", "on"},
		{"test source", nil, false, true, voice.Off, "off (test source)", "off (test source)", "off (test source)"},
	} {
		cfg, st := voiceConfig(tc.want, tc.mic, tc.speaker)
		if cfg != tc.runs || st != (VoiceStatus{tc.aec, tc.ns, tc.agc}) {
			t.Errorf("%s: runs %v with status %+v, want %v and %s/%s/%s", tc.name, cfg, st, tc.runs, tc.aec, tc.ns, tc.agc)
		}
	}
}

// TestPipelineVoice: a generator microphone is sent as it is; the
// pipeline says so.
func TestPipelineVoice(t *testing.T) {
	p := mustOpen(t, Config{Mic: "tone:440", Speaker: "none", Backends: []Backend{BackendNull}})
	defer p.Close()
	if p.Voice() != voice.Off || p.VoiceStatus().NS != "off (test source)" {
		t.Errorf("tone microphone: runs %v, status %+v", p.Voice(), p.VoiceStatus())
	}
}
