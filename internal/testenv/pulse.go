package testenv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Pulse is a private PulseAudio daemon for real-device tests, with two null
// sinks: "spk" (a speaker: its monitor, spk.monitor, is what was played) and
// "mic" (what is played into it, a microphone on mic.monitor hears). They
// are the defaults. It has its own runtime directory and socket, so it never
// touches a desktop's sound server.
type Pulse struct {
	// Server is the daemon's unix socket as a PULSE_SERVER value.
	Server string
	dir    string
	pid    int
}

// StartPulse starts a daemon, loading extra modules (such as
// "module-native-protocol-tcp port=4713 auth-ip-acl=127.0.0.1") beside its
// socket and sinks. wrap, if not nil, prefixes the command (to start it in
// a network namespace, say). Stop it with Stop.
func StartPulse(wrap []string, extra ...string) (*Pulse, error) {
	bin, err := exec.LookPath("pulseaudio")
	if err != nil {
		return nil, errors.New("the pulseaudio binary is not installed (apt-get install pulseaudio pulseaudio-utils)")
	}
	for _, tool := range []string{"pactl", "pacat", "parec"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (apt-get install pulseaudio-utils)", tool)
		}
	}
	dir, err := os.MkdirTemp("", "softphone-pulse-")
	if err != nil {
		return nil, err
	}
	p := &Pulse{dir: dir}
	socket := filepath.Join(dir, "native")
	p.Server = "unix:" + socket
	args := []string{bin, "--daemonize", "-n",
		"--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=yes",
		"--log-target=file:" + filepath.Join(dir, "log"),
		"--load=module-native-protocol-unix auth-anonymous=1 socket=" + socket,
		"--load=module-null-sink sink_name=spk",
		"--load=module-null-sink sink_name=mic"}
	for _, m := range extra {
		args = append(args, "--load="+m)
	}
	args = append(append([]string(nil), wrap...), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "HOME="+dir, "PULSE_RUNTIME_PATH="+filepath.Join(dir, "pulse"))
	if out, err := cmd.CombinedOutput(); err != nil {
		p.Stop()
		return nil, fmt.Errorf("pulseaudio: %v: %s", err, bytes.TrimSpace(out))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "pulse", "pid")); err == nil {
		p.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := p.Pactl("info")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("the daemon did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, args := range [][]string{{"set-default-sink", "spk"}, {"set-default-source", "mic.monitor"}} {
		if err := p.Pactl(args...); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

// NeedPulse starts a daemon for one test and stops it when the test ends;
// it fails the test under make test (skips elsewhere) when PulseAudio
// cannot run.
func NeedPulse(t testing.TB, wrap []string, extra ...string) *Pulse {
	t.Helper()
	p, err := StartPulse(wrap, extra...)
	if err != nil {
		Missing(t, "the real-device test needs PulseAudio, which cannot start here: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Pactl runs pactl against the daemon.
func (p *Pulse) Pactl(args ...string) error {
	out, err := exec.Command("pactl", append([]string{"-s", p.Server}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pactl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Log is the daemon's log so far, for a failing test's report.
func (p *Pulse) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "log"))
	return string(b)
}

// Stop ends the daemon by its pid and removes its directory.
func (p *Pulse) Stop() {
	if p.pid > 0 {
		syscall.Kill(p.pid, syscall.SIGTERM)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(p.pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(p.pid, 0) == nil {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		p.pid = 0
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
		p.dir = ""
	}
}

// RawFormat is how Play and Record talk to the daemon: 48 kHz mono s16.
var RawFormat = []string{"--format=s16le", "--rate=48000", "--channels=1", "--raw", "--latency-msec=20"}

// Play plays a hz sine at amplitude 0.3 into sink until the test ends.
func (p *Pulse) Play(t testing.TB, sink string, hz float64) {
	t.Helper()
	cmd := exec.Command("pacat", append([]string{"--playback", "-s", p.Server, "-d", sink}, RawFormat...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		const frame = 960
		buf := make([]byte, 2*frame)
		var phase float64
		step := 2 * math.Pi * hz / 48000
		for {
			select {
			case <-done:
				return
			default:
			}
			for i := range frame {
				binary.LittleEndian.PutUint16(buf[2*i:], uint16(int16(0.3*math.MaxInt16*math.Sin(phase))))
				phase = math.Mod(phase+step, 2*math.Pi)
			}
			// pacat's pipe paces us at real time.
			if _, err := in.Write(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// Record records source (raw 48 kHz mono) until the test ends; the returned
// function gives what was recorded so far.
func (p *Pulse) Record(t testing.TB, source string) func() []int16 {
	t.Helper()
	cmd := exec.Command("parec", append([]string{"-s", p.Server, "-d", source}, RawFormat...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var data []byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := out.Read(b)
			mu.Lock()
			data = append(data, b[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	return func() []int16 {
		mu.Lock()
		defer mu.Unlock()
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return pcm
	}
}
