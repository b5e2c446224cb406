package audio

import (
	"fmt"
	"strconv"
	"strings"
)

// SourceKind is what feeds the microphone side of the pipeline.
type SourceKind int

const (
	// SourceDefault is the default capture device of the first backend
	// that works.
	SourceDefault SourceKind = iota
	// SourceDevice is the capture device whose name or id contains Name.
	SourceDevice
	// SourceTone is a sine of Hz hertz.
	SourceTone
	// SourceWAV is the WAV file at Path, looped.
	SourceWAV
	// SourceSilence sends digital silence.
	SourceSilence
	// SourceEcho plays back what the speaker receives, 0.5 s later: the
	// echo-test bot.
	SourceEcho
)

func (k SourceKind) String() string {
	switch k {
	case SourceDefault:
		return "default"
	case SourceDevice:
		return "device"
	case SourceTone:
		return "tone"
	case SourceWAV:
		return "wav"
	case SourceSilence:
		return "silence"
	case SourceEcho:
		return "echo"
	}
	return fmt.Sprintf("SourceKind(%d)", int(k))
}

// SinkKind is where the speaker side of the pipeline goes.
type SinkKind int

const (
	// SinkDefault is the default playback device of the first backend that
	// works.
	SinkDefault SinkKind = iota
	// SinkDevice is the playback device whose name or id contains Name.
	SinkDevice
	// SinkWAV records what would be played to the WAV file at Path.
	SinkWAV
	// SinkNone discards the audio (meters and statistics still work).
	SinkNone
)

func (k SinkKind) String() string {
	switch k {
	case SinkDefault:
		return "default"
	case SinkDevice:
		return "device"
	case SinkWAV:
		return "wav"
	case SinkNone:
		return "none"
	}
	return fmt.Sprintf("SinkKind(%d)", int(k))
}

// MicSpec is a parsed --mic value.
type MicSpec struct {
	Kind SourceKind
	Name string  // SourceDevice
	Hz   float64 // SourceTone
	Path string  // SourceWAV
}

// SpeakerSpec is a parsed --speaker value.
type SpeakerSpec struct {
	Kind SinkKind
	Name string // SinkDevice
	Path string // SinkWAV
}

// MicUsage and SpeakerUsage describe the flag values, for flag help texts.
const (
	MicUsage     = "microphone: default | NAME (part of a device name or id, see `softphone devices`) | tone:HZ | wav:PATH (looped) | silence | echo (plays back what you hear, 0.5 s later)"
	SpeakerUsage = "speaker: default | NAME (part of a device name or id, see `softphone devices`) | wav:PATH (records what would be played) | none"
)

// ParseMic parses a --mic value: default, NAME, device:NAME, tone:HZ,
// wav:PATH, silence or echo. An empty value means default. A NAME is a
// case-insensitive part of a device's name or id; device:NAME forces a
// device match for a name that looks like a keyword.
func ParseMic(s string) (MicSpec, error) {
	s = strings.TrimSpace(s)
	switch low := strings.ToLower(s); {
	case low == "" || low == "default":
		return MicSpec{Kind: SourceDefault}, nil
	case low == "silence":
		return MicSpec{Kind: SourceSilence}, nil
	case low == "echo":
		return MicSpec{Kind: SourceEcho}, nil
	case strings.HasPrefix(low, "tone:") || low == "tone":
		arg := strings.TrimSpace(s[min(len(s), len("tone:")):])
		hz, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(hz >= 20 && hz <= 20000) {
			return MicSpec{}, fmt.Errorf("%w: --mic %q: tone needs a frequency from 20 to 20000 Hz, like tone:440", ErrBadSpec, s)
		}
		return MicSpec{Kind: SourceTone, Hz: hz}, nil
	case strings.HasPrefix(low, "wav:") || low == "wav":
		path := s[min(len(s), len("wav:")):]
		if path == "" {
			return MicSpec{}, fmt.Errorf("%w: --mic %q: wav needs a file, like wav:hello.wav", ErrBadSpec, s)
		}
		return MicSpec{Kind: SourceWAV, Path: path}, nil
	case strings.HasPrefix(low, "device:"):
		name := strings.TrimSpace(s[len("device:"):])
		if name == "" {
			return MicSpec{}, fmt.Errorf("%w: --mic %q: device needs a name, see `softphone devices`", ErrBadSpec, s)
		}
		return MicSpec{Kind: SourceDevice, Name: name}, nil
	}
	return MicSpec{Kind: SourceDevice, Name: s}, nil
}

// String returns the spec in the form ParseMic reads.
func (m MicSpec) String() string {
	switch m.Kind {
	case SourceDevice:
		if isMicKeyword(m.Name) {
			return "device:" + m.Name
		}
		return m.Name
	case SourceTone:
		return "tone:" + strconv.FormatFloat(m.Hz, 'f', -1, 64)
	case SourceWAV:
		return "wav:" + m.Path
	}
	return m.Kind.String()
}

func isMicKeyword(name string) bool {
	low := strings.ToLower(strings.TrimSpace(name))
	return low == "default" || low == "silence" || low == "echo" || low == "tone" || low == "wav" ||
		strings.HasPrefix(low, "tone:") || strings.HasPrefix(low, "wav:") || strings.HasPrefix(low, "device:")
}

// ParseSpeaker parses a --speaker value: default, NAME, device:NAME,
// wav:PATH or none. An empty value means default.
func ParseSpeaker(s string) (SpeakerSpec, error) {
	s = strings.TrimSpace(s)
	switch low := strings.ToLower(s); {
	case low == "" || low == "default":
		return SpeakerSpec{Kind: SinkDefault}, nil
	case low == "none":
		return SpeakerSpec{Kind: SinkNone}, nil
	case strings.HasPrefix(low, "wav:") || low == "wav":
		path := s[min(len(s), len("wav:")):]
		if path == "" {
			return SpeakerSpec{}, fmt.Errorf("%w: --speaker %q: wav needs a file to record to, like wav:call.wav", ErrBadSpec, s)
		}
		return SpeakerSpec{Kind: SinkWAV, Path: path}, nil
	case strings.HasPrefix(low, "device:"):
		name := strings.TrimSpace(s[len("device:"):])
		if name == "" {
			return SpeakerSpec{}, fmt.Errorf("%w: --speaker %q: device needs a name, see `softphone devices`", ErrBadSpec, s)
		}
		return SpeakerSpec{Kind: SinkDevice, Name: name}, nil
	}
	return SpeakerSpec{Kind: SinkDevice, Name: s}, nil
}

// String returns the spec in the form ParseSpeaker reads.
func (s SpeakerSpec) String() string {
	switch s.Kind {
	case SinkDevice:
		low := strings.ToLower(strings.TrimSpace(s.Name))
		if low == "default" || low == "none" || low == "wav" || strings.HasPrefix(low, "wav:") ||
			strings.HasPrefix(low, "device:") {
			return "device:" + s.Name
		}
		return s.Name
	case SinkWAV:
		return "wav:" + s.Path
	}
	return s.Kind.String()
}
