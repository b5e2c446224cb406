package audio

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"softphone/internal/testenv"
)

// TestWAVSinkSurvivesKill records the ringtone to a WAV file in a child
// process and kills it with SIGKILL mid-recording: the file must still be a
// valid WAV holding what was recorded up to a fraction of a second before.
func TestWAVSinkSurvivesKill(t *testing.T) {
	if path := os.Getenv("AUDIO_TEST_WAV_HELPER"); path != "" {
		p, err := Open(Config{Mode: ModeCall, Mic: "silence", Speaker: "wav:" + path})
		if err != nil {
			os.Exit(3)
		}
		p.Ring(RingIncoming)
		select {} // until killed
	}
	path := filepath.Join(t.TempDir(), "killed.wav")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWAVSinkSurvivesKill$")
	cmd.Env = append(os.Environ(), "AUDIO_TEST_WAV_HELPER="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for 1.5 s of audio on disk.
	waitFor(t, "the child to record", func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > 44+3*SampleRate
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	pcm := readWAVFile(t, path)
	fi, _ := os.Stat(path)
	onDisk := (fi.Size() - 44) / 2
	if lag := onDisk - int64(len(pcm)); lag < 0 || lag > wavHeaderEvery*FrameSamples {
		t.Errorf("header covers %d of %d samples on disk: lags by more than %d frames", len(pcm), onDisk, wavHeaderEvery)
	}
	in := window(pcm, 0.05, 0.35)
	if goertzelPower(in, 400) < 100*goertzelPower(in, 480) {
		t.Error("the recording does not hold the ringtone")
	}
}

// TestWAVSinkDiskFull records to a 64 KiB file system: when it fills up,
// the recording stops with a clear warning, the pipeline keeps running, and
// the file is a valid WAV of what fitted.
func TestWAVSinkDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot mount a small tmpfs to fill up (needs root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	warnings := make(chan string, 4)
	path := filepath.Join(dir, "full.wav")
	p := mustOpen(t, Config{Mode: ModeCall, Mic: "silence", Speaker: "wav:" + path, OnWarning: func(w string) { warnings <- w }})
	p.Ring(RingOutgoing)
	select {
	case w := <-warnings:
		if !strings.Contains(w, "no space left on device") || !strings.Contains(w, path) {
			t.Errorf("warning %q does not say the disk is full", w)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no warning when the disk filled up")
	}
	before := p.Stats().FramesPlayed
	waitFor(t, "the playout to go on", func() bool { return p.Stats().FramesPlayed > before+10 })
	if err := p.Close(); !errors.Is(err, ErrRecording) || !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space") {
		t.Errorf("Close: %v, want the recording error", err)
	}
	pcm := readWAVFile(t, path)
	if s := float64(len(pcm)) / SampleRate; s < 0.5 || s > 0.7 {
		t.Errorf("%.2f s recorded in 64 KiB", s)
	}
}
