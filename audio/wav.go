package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// WAV files: the wav:PATH microphone reads one (looped), the wav:PATH
// speaker records one.

// MaxWAVDuration is the longest WAV file the wav:PATH source loads; it is
// held in memory at 48 kHz (10 minutes is 58 MB).
const MaxWAVDuration = 10 * 60 // seconds

// wavRates are the sample rates the reader accepts (and resamples to 48 kHz).
var wavRates = []int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000}

// WAV format tags.
const (
	wavPCM        = 1
	wavFloat      = 3
	wavExtensible = 0xFFFE
)

// WAVInfo describes a WAV file as stored.
type WAVInfo struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
	Float         bool
	// Frames is the number of sample frames read (per channel).
	Frames int
}

// ReadWAV reads a WAV file and returns its audio as 48 kHz mono: channels are
// averaged and other sample rates resampled. It accepts integer PCM of 8, 16,
// 24 and 32 bits and IEEE float of 32 and 64 bits (plain or
// WAVE_FORMAT_EXTENSIBLE), any chunk order, and a data chunk whose declared
// size is wrong or unknown (a recording cut short): it reads what is there.
func ReadWAV(r io.Reader) ([]int16, WAVInfo, error) {
	br := bufio.NewReader(r)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: reading the RIFF header: %v", ErrWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, WAVInfo{}, fmt.Errorf("%w: not a RIFF/WAVE file", ErrWAV)
	}
	var info WAVInfo
	haveFmt := false
	var format int
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			if !haveFmt {
				return nil, info, fmt.Errorf("%w: no fmt chunk", ErrWAV)
			}
			return nil, info, fmt.Errorf("%w: no data chunk", ErrWAV)
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, info, fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, info, fmt.Errorf("%w: reading the fmt chunk: %v", ErrWAV, err)
			}
			format = int(binary.LittleEndian.Uint16(b[0:2]))
			info.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
			info.SampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			info.BitsPerSample = int(binary.LittleEndian.Uint16(b[14:16]))
			if format == wavExtensible {
				if size < 40 {
					return nil, info, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes", ErrWAV, size)
				}
				// The first two bytes of the SubFormat GUID are the format tag.
				format = int(binary.LittleEndian.Uint16(b[24:26]))
			}
			if err := checkWAVFormat(format, &info); err != nil {
				return nil, info, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, info, fmt.Errorf("%w: data chunk before the fmt chunk", ErrWAV)
			}
			// A 48 kHz file goes straight to PCM: a float copy of a
			// long file would be twice its size again, garbage at once.
			var mono []float32
			var pcm []int16
			put := func(v float32) { mono = append(mono, v) }
			if info.SampleRate == SampleRate {
				// Room for the declared size, up to a minute: a wrong
				// size must not cost more than that before the end shows.
				if size > 0 && size < math.MaxUint32 {
					pcm = make([]int16, 0, min(size/int64(info.BitsPerSample/8*info.Channels), 60*SampleRate))
				}
				put = func(v float32) { pcm = append(pcm, sampleToPCM(v)) }
			}
			if err := readWAVData(br, size, &info, put); err != nil {
				return nil, info, err
			}
			if info.Frames == 0 {
				return nil, info, fmt.Errorf("%w: the file holds no audio", ErrWAV)
			}
			if pcm == nil {
				pcm = floatToPCM(resample(mono, info.SampleRate, SampleRate))
			}
			return pcm, info, nil
		default:
			if _, err := io.CopyN(io.Discard, br, size+size%2); err != nil {
				return nil, info, fmt.Errorf("%w: no data chunk", ErrWAV)
			}
		}
	}
}

func checkWAVFormat(format int, info *WAVInfo) error {
	switch format {
	case wavPCM:
		switch info.BitsPerSample {
		case 8, 16, 24, 32:
		default:
			return fmt.Errorf("%w: %d-bit PCM; convert it to 16-bit (sox in.wav -b 16 out.wav)", ErrWAV, info.BitsPerSample)
		}
	case wavFloat:
		info.Float = true
		if info.BitsPerSample != 32 && info.BitsPerSample != 64 {
			return fmt.Errorf("%w: %d-bit float; convert it to 16-bit PCM (sox in.wav -b 16 -e signed out.wav)", ErrWAV, info.BitsPerSample)
		}
	default:
		return fmt.Errorf("%w: compressed format %#x; only PCM and float WAV files are read (sox in.wav -b 16 -e signed out.wav)", ErrWAV, format)
	}
	if info.Channels < 1 || info.Channels > 32 {
		return fmt.Errorf("%w: %d channels", ErrWAV, info.Channels)
	}
	if !slices.Contains(wavRates, info.SampleRate) {
		return fmt.Errorf("%w: sample rate %d Hz; use one of %v (sox in.wav -r 48000 out.wav)", ErrWAV, info.SampleRate, wavRates)
	}
	return nil
}

// readWAVData reads the data chunk (declared size bytes, or up to EOF when
// the size is unknown or wrong), averages the channels to mono in -1..1 and
// hands each sample to put.
func readWAVData(r io.Reader, size int64, info *WAVInfo, put func(float32)) error {
	bytesPer := info.BitsPerSample / 8
	frameBytes := bytesPer * info.Channels
	maxFrames := MaxWAVDuration * info.SampleRate
	if size == 0 || size == math.MaxUint32 {
		size = math.MaxInt64 // streamed: size unknown, read to EOF
	}
	frames := 0
	buf := make([]byte, 64*1024-64*1024%frameBytes)
	var left int64 = size
	for left > 0 {
		want := min(int64(len(buf)), left)
		want -= want % int64(frameBytes)
		if want == 0 {
			break
		}
		n, err := io.ReadFull(r, buf[:want])
		n -= n % frameBytes
		for off := 0; off < n; off += frameBytes {
			var sum float64
			for c := range info.Channels {
				sum += wavSample(buf[off+c*bytesPer:], info)
			}
			put(float32(sum / float64(info.Channels)))
			frames++
		}
		if frames > maxFrames {
			return fmt.Errorf("%w: longer than %d minutes; trim it (sox in.wav out.wav trim 0 60)", ErrWAV, MaxWAVDuration/60)
		}
		left -= int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // a cut-short file: keep what is there
		}
		if err != nil {
			return fmt.Errorf("%w: reading samples: %v", ErrWAV, err)
		}
	}
	info.Frames = frames
	return nil
}

// wavSample decodes one little-endian sample to -1..1.
func wavSample(b []byte, info *WAVInfo) float64 {
	switch {
	case info.Float && info.BitsPerSample == 32:
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		return sanitize(v)
	case info.Float:
		return sanitize(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	}
	switch info.BitsPerSample {
	case 8:
		return (float64(b[0]) - 128) / 128
	case 16:
		return float64(int16(binary.LittleEndian.Uint16(b))) / 32768
	case 24:
		v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
		return float64(v) / (1 << 23)
	default:
		return float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31)
	}
}

// sanitize clamps a float sample to -1..1 and maps NaN to 0.
func sanitize(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return max(-1, min(v, 1))
}

func floatToPCM(x []float32) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = sampleToPCM(v)
	}
	return out
}

// sampleToPCM turns a sample in -1..1 into 16-bit PCM.
func sampleToPCM(v float32) int16 { return clamp16(math.Round(float64(v) * 32768)) }

// WAVWriter records 48 kHz mono 16-bit PCM to a WAV file that stays valid
// if the process dies: the header's sizes are rewritten every
// wavHeaderEvery frames and on Flush and Close, and they never claim more
// than was written. The first write error (a full disk) is sticky: Write
// returns it from then on and writes nothing.
type WAVWriter struct {
	w       io.WriteSeeker
	closer  io.Closer
	path    string
	data    int64 // bytes of samples written
	pending int   // writes since the header was last updated
	buf     [2 * MaxPacketSamples]byte
	err     error
}

// wavHeaderEvery is how often (in 20 ms writes) the header sizes are
// refreshed: every 100 ms, so an interrupted recording loses at most
// that much from a player's point of view.
const wavHeaderEvery = 5

// maxWAVData is the most sample data a WAV file can describe (its sizes are
// 32-bit): about 6 hours at 48 kHz mono 16-bit.
const maxWAVData = math.MaxUint32 - 36 - 1

// CreateWAV creates (or truncates) path and writes a WAV header to it.
func CreateWAV(path string) (*WAVWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%w: creating %s: %v", ErrRecording, path, err)
	}
	w, err := NewWAVWriter(f)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%w: %s: %v", ErrRecording, path, errors.Unwrap(err))
	}
	w.closer, w.path = f, path
	return w, nil
}

// NewWAVWriter writes a WAV header for 48 kHz mono 16-bit PCM to w and
// returns a writer that appends samples after it.
func NewWAVWriter(w io.WriteSeeker) (*WAVWriter, error) {
	ww := &WAVWriter{w: w}
	if _, err := w.Write(wavHeader(0)); err != nil {
		return nil, fmt.Errorf("%w: writing the WAV header: %v", ErrRecording, err)
	}
	return ww, nil
}

// wavHeader returns the 44-byte header for dataBytes of samples.
func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], wavPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataBytes)
	return h
}

// Write appends samples (at most MaxPacketSamples per call). It does not
// allocate.
func (w *WAVWriter) Write(pcm []int16) error {
	if w.err != nil {
		return w.err
	}
	if len(pcm) > MaxPacketSamples {
		return fmt.Errorf("%w: writing %d samples at once (at most %d)", ErrRecording, len(pcm), MaxPacketSamples)
	}
	if w.data+int64(2*len(pcm)) > maxWAVData {
		w.fail(errors.New("the WAV format's 4 GiB size limit is reached; start a new recording"))
		return w.err
	}
	b := w.buf[:2*len(pcm)]
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	n, err := w.w.Write(b)
	w.data += int64(n)
	if err != nil {
		w.fail(err)
		return w.err
	}
	w.pending++
	if w.pending >= wavHeaderEvery {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteSilence appends n samples of silence without writing them: it moves
// past them (a hole in the file, which reads back as zeros, on file systems
// that have holes) and writes the last one, so the file has its full
// length. A recording that spans hours of idle costs no time and, mostly,
// no disk.
func (w *WAVWriter) WriteSilence(n int64) error {
	if w.err != nil {
		return w.err
	}
	if n <= 0 {
		return nil
	}
	if w.data+2*n > maxWAVData {
		w.fail(errors.New("the WAV format's 4 GiB size limit is reached; start a new recording"))
		return w.err
	}
	if _, err := w.w.Seek(44+w.data+2*n-2, io.SeekStart); err != nil {
		w.fail(err)
		return w.err
	}
	if _, err := w.w.Write([]byte{0, 0}); err != nil {
		w.fail(err)
		return w.err
	}
	w.data += 2 * n
	return w.Flush()
}

// fail records the first error, makes the header describe what was written,
// and leaves the file valid.
func (w *WAVWriter) fail(err error) {
	where := "the recording"
	if w.path != "" {
		where = w.path
	}
	w.err = fmt.Errorf("%w: writing %s: %v", ErrRecording, where, err)
	w.updateHeader()
}

// updateHeader rewrites the two size fields for the whole samples written
// and moves back to the end of the data.
func (w *WAVWriter) updateHeader() error {
	data := uint32(w.data - w.data%2) // never claim half a sample
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 36+data)
	if _, err := w.w.Seek(4, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.w.Write(b[:]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[:], data)
	if _, err := w.w.Seek(40, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.w.Write(b[:]); err != nil {
		return err
	}
	_, err := w.w.Seek(44+w.data, io.SeekStart)
	return err
}

// Flush updates the header sizes to everything written so far.
func (w *WAVWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.pending = 0
	if err := w.updateHeader(); err != nil {
		w.fail(err)
		return w.err
	}
	return nil
}

// Err returns the first write error, or nil.
func (w *WAVWriter) Err() error { return w.err }

// Samples returns the number of samples written.
func (w *WAVWriter) Samples() int64 { return w.data / 2 }

// Close updates the header and closes the file (when the writer created
// it). It returns the first error of the recording.
func (w *WAVWriter) Close() error {
	err := w.Flush()
	if w.err != nil {
		err = w.err
	}
	if w.closer != nil {
		if cerr := w.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%w: closing %s: %v", ErrRecording, w.path, cerr)
		}
		w.closer = nil
	}
	return err
}
