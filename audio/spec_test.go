package audio

import (
	"errors"
	"testing"
)

func TestParseMic(t *testing.T) {
	tests := []struct {
		in   string
		want MicSpec
	}{
		{"", MicSpec{Kind: SourceDefault}},
		{"Default", MicSpec{Kind: SourceDefault}},
		{"silence", MicSpec{Kind: SourceSilence}},
		{"echo", MicSpec{Kind: SourceEcho}},
		{"tone:440", MicSpec{Kind: SourceTone, Hz: 440}},
		{"TONE:997.5", MicSpec{Kind: SourceTone, Hz: 997.5}},
		{"wav:/tmp/a b.wav", MicSpec{Kind: SourceWAV, Path: "/tmp/a b.wav"}},
		{"USB Headset", MicSpec{Kind: SourceDevice, Name: "USB Headset"}},
		{"hw:0,0", MicSpec{Kind: SourceDevice, Name: "hw:0,0"}},
		{"device:echo", MicSpec{Kind: SourceDevice, Name: "echo"}},
	}
	for _, tt := range tests {
		got, err := ParseMic(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMic(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"tone:", "tone:abc", "tone:5", "tone:30000", "tone", "wav:", "device:", "tone:NaN"} {
		if _, err := ParseMic(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseMic(%q): err %v, want ErrBadSpec", bad, err)
		}
	}
}

func TestParseSpeaker(t *testing.T) {
	tests := []struct {
		in   string
		want SpeakerSpec
	}{
		{"", SpeakerSpec{Kind: SinkDefault}},
		{"none", SpeakerSpec{Kind: SinkNone}},
		{"wav:out.wav", SpeakerSpec{Kind: SinkWAV, Path: "out.wav"}},
		{"Null Output", SpeakerSpec{Kind: SinkDevice, Name: "Null Output"}},
		{"device:none", SpeakerSpec{Kind: SinkDevice, Name: "none"}},
	}
	for _, tt := range tests {
		got, err := ParseSpeaker(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSpeaker(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"wav:", "device:  "} {
		if _, err := ParseSpeaker(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseSpeaker(%q): err %v, want ErrBadSpec", bad, err)
		}
	}
}

// FuzzParseSpecs checks that every accepted --mic and --speaker value
// prints back to a value that parses to the same spec.
func FuzzParseSpecs(f *testing.F) {
	for _, s := range []string{"default", "tone:440", "wav:x.wav", "silence", "echo", "none", "device:echo", "Mic 1", " hw:0,0 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseMic(s); err == nil {
			back, err := ParseMic(m.String())
			if err != nil || back != m {
				t.Errorf("mic %q → %+v → %q → %+v, %v", s, m, m.String(), back, err)
			}
		} else if !errors.Is(err, ErrBadSpec) {
			t.Errorf("mic %q: %v does not wrap ErrBadSpec", s, err)
		}
		if sp, err := ParseSpeaker(s); err == nil {
			back, err := ParseSpeaker(sp.String())
			if err != nil || back != sp {
				t.Errorf("speaker %q → %+v → %q → %+v, %v", s, sp, sp.String(), back, err)
			}
		} else if !errors.Is(err, ErrBadSpec) {
			t.Errorf("speaker %q: %v does not wrap ErrBadSpec", s, err)
		}
	})
}
