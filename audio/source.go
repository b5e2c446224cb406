package audio

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// source is a generator microphone, read once per 20 ms by the run loop
// on the pipeline's own clock (device microphones are read from their ring).
type source interface {
	read(frame []int16)
	name() string
}

type silenceSource struct{}

func (silenceSource) read(frame []int16) { clear(frame) }
func (silenceSource) name() string       { return "silence" }

type toneSource struct {
	tone *Tone
	hz   float64
}

func (s *toneSource) read(frame []int16) { s.tone.Read(frame) }
func (s *toneSource) name() string       { return fmt.Sprintf("tone %g Hz", s.hz) }

// wavSource loops a WAV file loaded at 48 kHz mono.
type wavSource struct {
	pcm  []int16
	pos  int
	path string
}

func openWAVSource(path string) (*wavSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --mic wav:%s: %v", ErrWAV, path, err)
	}
	defer f.Close()
	pcm, _, err := ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("--mic wav:%s: %w", path, err)
	}
	return &wavSource{pcm: pcm, path: path}, nil
}

func (s *wavSource) read(frame []int16) {
	for i := 0; i < len(frame); {
		n := copy(frame[i:], s.pcm[s.pos:])
		i += n
		s.pos += n
		if s.pos == len(s.pcm) {
			s.pos = 0
		}
	}
}

func (s *wavSource) name() string { return "wav " + filepath.Base(s.path) }

// EchoDelay is how long the echo microphone waits before playing back what
// the speaker received.
const EchoDelay = 500 * time.Millisecond

// echoSource reads the pipeline's own playback mix back, EchoDelay later.
// The run loop writes each mixed frame into ring; the ring starts with
// EchoDelay of silence, so each read returns the frame played that long ago.
type echoSource struct {
	ring *Ring
}

var echoDelaySamples = int(durationToSamples(EchoDelay))

func newEchoSource() *echoSource {
	s := &echoSource{ring: NewRing(echoDelaySamples + 8*FrameSamples)}
	s.reset()
	return s
}

// reset empties the line and refills it with EchoDelay of silence, as at
// the start: a new call must not hear the end of the last one. Only the run
// loop, which both writes and reads the line, may call it.
func (s *echoSource) reset() {
	var silence [FrameSamples]int16
	s.ring.Discard(s.ring.Len())
	for n := 0; n < echoDelaySamples; n += FrameSamples {
		s.ring.Write(silence[:min(FrameSamples, echoDelaySamples-n)])
	}
}

func (s *echoSource) read(frame []int16) {
	// The two sides may run on different clocks (a device speaker, the
	// pipeline's ticker): trim or pad a frame when the delay strays by
	// more than 100 ms.
	const slack = 5 * FrameSamples
	switch n := s.ring.Len(); {
	case n > echoDelaySamples+slack:
		s.ring.Discard(FrameSamples)
	case n < echoDelaySamples-slack:
		clear(frame)
		return
	}
	s.ring.ReadFull(frame)
}

func (s *echoSource) name() string { return "echo (plays back what you hear, 0.5 s later)" }
