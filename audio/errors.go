package audio

import "errors"

// Sentinel errors. Functions wrap them with %w and add what failed and what
// to do; test with errors.Is.
var (
	// ErrBadSpec is a malformed --mic or --speaker value.
	ErrBadSpec = errors.New("bad audio source or sink")
	// ErrDeviceNotFound means no device name or id contains the NAME of a
	// --mic NAME or --speaker NAME on any backend.
	ErrDeviceNotFound = errors.New("audio device not found")
	// ErrAmbiguousDevice means NAME matches more than one device.
	ErrAmbiguousDevice = errors.New("audio device name is ambiguous")
	// ErrDevice is a device that exists but cannot be opened or started.
	ErrDevice = errors.New("audio device failed")
	// ErrWAV is a WAV file that cannot be read or is not supported.
	ErrWAV = errors.New("unsupported or broken WAV file")
	// ErrRecording is a WAV recording that could not be written (a full
	// disk, a removed directory, the 4 GiB WAV size limit).
	ErrRecording = errors.New("recording failed")
	// ErrInvalidPacket is an RTP payload that is not a well-formed Opus
	// packet (RFC 6716 §3) or is larger than MaxPayload.
	ErrInvalidPacket = errors.New("invalid Opus packet")
	// ErrCodec is an Opus encoder or decoder failure.
	ErrCodec = errors.New("opus codec error")
	// ErrClosed is returned by methods of a closed Pipeline.
	ErrClosed = errors.New("audio pipeline closed")
)
