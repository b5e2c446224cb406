package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// memFile is an in-memory io.WriteSeeker for WAV writer tests.
type memFile struct {
	b   []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.off = off
	case io.SeekCurrent:
		m.off += off
	case io.SeekEnd:
		m.off = int64(len(m.b)) + off
	}
	return m.off, nil
}

// makeWAV builds a WAV file by hand, independently of WAVWriter.
func makeWAV(format, channels, rate, bits int, data []byte, extra ...[]byte) []byte {
	var b bytes.Buffer
	fmtLen := 16
	if format == wavExtensible {
		fmtLen = 40
	}
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(0)) // size ignored by readers; checked not to matter
	b.WriteString("WAVE")
	for _, e := range extra {
		b.Write(e)
	}
	b.WriteString("fmt ")
	le(uint32(fmtLen))
	tag := format
	le(uint16(tag))
	le(uint16(channels))
	le(uint32(rate))
	le(uint32(rate * channels * bits / 8))
	le(uint16(channels * bits / 8))
	le(uint16(bits))
	if format == wavExtensible {
		le(uint16(22))
		le(uint16(bits))
		le(uint32(0))
		le(uint16(wavPCM)) // SubFormat GUID, first two bytes
		b.Write(make([]byte, 14))
	}
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func sineBytes(rate int, hz float64, seconds float64, bits, channels int, float bool) []byte {
	var b bytes.Buffer
	n := int(float64(rate) * seconds)
	for i := range n {
		v := 0.5 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))
		for range channels {
			switch {
			case float && bits == 32:
				binary.Write(&b, binary.LittleEndian, float32(v))
			case float:
				binary.Write(&b, binary.LittleEndian, v)
			case bits == 8:
				b.WriteByte(byte(128 + int(v*127)))
			case bits == 16:
				binary.Write(&b, binary.LittleEndian, int16(v*32767))
			case bits == 24:
				x := int32(v * (1<<23 - 1))
				b.Write([]byte{byte(x), byte(x >> 8), byte(x >> 16)})
			default:
				binary.Write(&b, binary.LittleEndian, int32(v*(1<<31-1)))
			}
		}
	}
	return b.Bytes()
}

func TestReadWAVFormatsAndRates(t *testing.T) {
	tests := []struct {
		name                   string
		format, ch, rate, bits int
		float                  bool
	}{
		{"16-bit mono 48k", wavPCM, 1, 48000, 16, false},
		{"16-bit stereo 44.1k", wavPCM, 2, 44100, 16, false},
		{"8-bit mono 8k", wavPCM, 1, 8000, 8, false},
		{"24-bit mono 96k", wavPCM, 1, 96000, 24, false},
		{"32-bit stereo 16k", wavPCM, 2, 16000, 32, false},
		{"float32 mono 22.05k", wavFloat, 1, 22050, 32, true},
		{"float64 mono 192k", wavFloat, 1, 192000, 64, true},
		{"extensible 16-bit 11.025k", wavExtensible, 1, 11025, 16, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := sineBytes(tt.rate, 440, 1, tt.bits, tt.ch, tt.float)
			file := makeWAV(tt.format, tt.ch, tt.rate, tt.bits, data, []byte("LIST\x04\x00\x00\x00abcd"))
			pcm, info, err := ReadWAV(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if info.SampleRate != tt.rate || info.Channels != tt.ch || info.Frames != tt.rate {
				t.Errorf("info %+v", info)
			}
			if d := len(pcm) - SampleRate; d < -1 || d > 1 {
				t.Errorf("%d samples after resampling one second, want %d", len(pcm), SampleRate)
			}
			wantFreq(t, "resampled tone", pcm[SampleRate/4:3*SampleRate/4], 440)
			// Amplitude 0.5 → -6 dBFS → level 90, whatever the rate.
			if l := Level(pcm[SampleRate/4 : 3*SampleRate/4]); l < 88 || l > 92 {
				t.Errorf("level %d after conversion, want 90", l)
			}
		})
	}
}

func TestResampleRejectsAliases(t *testing.T) {
	// 30 kHz at 96 kHz is above the 24 kHz Nyquist of the output: it must
	// be filtered out, not folded back to 18 kHz.
	data := sineBytes(96000, 30000, 0.5, 16, 1, false)
	pcm, _, err := ReadWAV(bytes.NewReader(makeWAV(wavPCM, 1, 96000, 16, data)))
	if err != nil {
		t.Fatal(err)
	}
	if db := DBFS(pcm[1000 : len(pcm)-1000]); db > -60 {
		t.Errorf("a 30 kHz tone resampled to 48 kHz left %.1f dBFS, want it filtered (< -60)", db)
	}
}

func TestReadWAVErrors(t *testing.T) {
	good := sineBytes(48000, 440, 0.1, 16, 1, false)
	tests := []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVEfmt ")},
		{"no fmt", []byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00")},
		{"odd rate", makeWAV(wavPCM, 1, 12345, 16, good)},
		{"12-bit", makeWAV(wavPCM, 1, 48000, 12, good)},
		{"mu-law", makeWAV(7, 1, 8000, 8, good)},
		{"no samples", makeWAV(wavPCM, 1, 48000, 16, nil)},
		{"zero channels", makeWAV(wavPCM, 0, 48000, 16, good)},
	}
	for _, tt := range tests {
		if _, _, err := ReadWAV(bytes.NewReader(tt.file)); !errors.Is(err, ErrWAV) {
			t.Errorf("%s: err = %v, want ErrWAV", tt.name, err)
		}
	}
}

// A 48 kHz file is read straight into PCM: its reading allocates little
// more than the result (a float copy first would be twice that again, and
// more while it grew).
func TestReadWAVAt48kHzAllocatesOnlyThePCM(t *testing.T) {
	data := sineBytes(48000, 440, 10, 16, 1, false)
	file := makeWAV(wavPCM, 1, 48000, 16, data)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pcm, _, err := ReadWAV(bytes.NewReader(file))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != 10*SampleRate {
		t.Fatalf("%d samples, want %d", len(pcm), 10*SampleRate)
	}
	for i, v := range pcm[:SampleRate] {
		if want := int16(binary.LittleEndian.Uint16(data[2*i:])); v != want {
			t.Fatalf("sample %d is %d, want %d as stored", i, v, want)
		}
	}
	size := uint64(2 * len(pcm))
	if got := after.TotalAlloc - before.TotalAlloc; got > size+size/4 {
		t.Errorf("reading %d KB of PCM allocated %d KB", size/1024, got/1024)
	}
}

func TestReadWAVCutShort(t *testing.T) {
	// A recording killed before its header was final: the data chunk
	// claims more than the file holds. The reader keeps what is there.
	data := sineBytes(48000, 440, 0.5, 16, 1, false)
	file := makeWAV(wavPCM, 1, 48000, 16, data)
	binary.LittleEndian.PutUint32(file[40:], 10*uint32(len(data)))
	pcm, _, err := ReadWAV(bytes.NewReader(file[:len(file)-1])) // and half a sample
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != len(data)/2-1 {
		t.Errorf("%d samples, want %d", len(pcm), len(data)/2-1)
	}
}

func TestWAVWriterRoundTrip(t *testing.T) {
	var f memFile
	w, err := NewWAVWriter(&f)
	if err != nil {
		t.Fatal(err)
	}
	frames := toneFrames(t, 440, 0.3, 23)
	var want []int16
	for _, fr := range frames {
		if err := w.Write(fr); err != nil {
			t.Fatal(err)
		}
		want = append(want, fr...)
		// Valid at every moment: the header never claims more than is
		// there, and lags by at most wavHeaderEvery frames.
		got, _, err := ReadWAV(bytes.NewReader(f.b[:44+binary.LittleEndian.Uint32(f.b[40:])]))
		if err == nil && len(got) > len(want) {
			t.Fatalf("header claims %d samples, %d written", len(got), len(want))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, info, err := ReadWAV(bytes.NewReader(f.b))
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate != 48000 || info.Channels != 1 || info.BitsPerSample != 16 {
		t.Errorf("info %+v", info)
	}
	if !slicesEqual(got, want) {
		t.Errorf("read back %d samples, wrote %d (or they differ)", len(got), len(want))
	}
	if riff := binary.LittleEndian.Uint32(f.b[4:]); int(riff) != len(f.b)-8 {
		t.Errorf("RIFF size %d, file is %d bytes", riff, len(f.b))
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCreateWAVErrors(t *testing.T) {
	if _, err := CreateWAV(filepath.Join(t.TempDir(), "no", "such", "dir.wav")); !errors.Is(err, ErrRecording) {
		t.Errorf("missing directory: %v, want ErrRecording", err)
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		if _, err := CreateWAV("/dev/full"); !errors.Is(err, ErrRecording) {
			t.Errorf("/dev/full: %v, want ErrRecording", err)
		}
	}
}

// FuzzReadWAV feeds arbitrary bytes to the WAV reader: it never panics, and
// whatever it accepts re-encodes through WAVWriter and reads back equal.
func FuzzReadWAV(f *testing.F) {
	f.Add(makeWAV(wavPCM, 1, 48000, 16, sineBytes(48000, 440, 0.01, 16, 1, false)))
	f.Add(makeWAV(wavPCM, 2, 44100, 24, sineBytes(44100, 440, 0.01, 24, 2, false)))
	f.Add(makeWAV(wavFloat, 1, 8000, 32, sineBytes(8000, 440, 0.01, 32, 1, true)))
	f.Add(makeWAV(wavExtensible, 1, 16000, 16, sineBytes(16000, 440, 0.01, 16, 1, false)))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, _, err := ReadWAV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrWAV) {
				t.Fatalf("error %v does not wrap ErrWAV", err)
			}
			return
		}
		var m memFile
		w, err := NewWAVWriter(&m)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(pcm); off += FrameSamples {
			if err := w.Write(pcm[off:min(off+FrameSamples, len(pcm))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		back, _, err := ReadWAV(bytes.NewReader(m.b))
		if err != nil {
			t.Fatalf("re-encoded file does not read: %v", err)
		}
		if !slicesEqual(back, pcm) {
			t.Fatalf("round trip changed %d samples into %d", len(pcm), len(back))
		}
	})
}
