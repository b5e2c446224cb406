package testenv

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

var speechCache sync.Map // key → []int16

// Speech returns text spoken by espeak-ng's voice, resampled by sox to rate
// Hz, mono 16-bit. Both tools are needed (make test installs them); the
// result is cached for the test binary's life, so callers must not change
// it.
func Speech(t testing.TB, voice, text string, rate int) []int16 {
	t.Helper()
	key := voice + "|" + text + "|" + strconv.Itoa(rate)
	if v, ok := speechCache.Load(key); ok {
		return v.([]int16)
	}
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, "%s is not installed (apt-get install espeak-ng sox)", tool)
		}
	}
	dir := t.TempDir()
	wav := filepath.Join(dir, "speech.wav")
	raw := filepath.Join(dir, "speech.raw")
	if out, err := exec.Command("espeak-ng", "-v", voice, "-s", "150", "-w", wav, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	if out, err := exec.Command("sox", wav, "-r", strconv.Itoa(rate), "-b", "16", "-e", "signed-integer", "-c", "1", "-t", "raw", raw).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	speechCache.Store(key, pcm)
	return pcm
}
