// Package testenv holds what tests share about their environment.
package testenv

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// MakeTestEnv is set by make test, which installs every real part the tests
// need (PulseAudio, tmux, git, libopus for the interop tests).
const MakeTestEnv = "SOFTPHONE_MAKE_TEST"

// UnderMakeTest reports whether the tests run under make test.
func UnderMakeTest() bool { return os.Getenv(MakeTestEnv) != "" }

// Missing is for a test whose real part (a sound server, a program, root)
// is not there. Under make test, which installed it, that is a failure: a
// broken set-up must not turn the suite green. Elsewhere (a developer's
// plain go test) the test skips with the reason.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if UnderMakeTest() {
		t.Fatalf("make test installed this, yet: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Buffer is a bytes.Buffer that several goroutines may write and read: a
// program's output while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len is how many bytes were written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// FreeAddr is a loopback address (127.0.0.1:PORT) whose port was free a
// moment ago, for a listener that cannot take port 0 (a route address
// other processes must be told before it listens, a node started again at
// the address it had).
//
// The port lies below the kernel's ephemeral range, which connect and
// port-0 listeners draw from: a port from that range, released and bound
// again later, can meanwhile be taken by any outgoing connection on the
// machine (a node's restart once failed so, "address already in use").
// Below the range only an explicit bind takes it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln := ListenLoopback(t)
	defer ln.Close()
	return ln.Addr().String()
}

// ListenLoopback listens on 127.0.0.1 at a port below the ephemeral range
// (see FreeAddr): for a server that a test stops and starts again at the
// same address.
func ListenLoopback(t testing.TB) net.Listener {
	t.Helper()
	lo := ephemeralLow()
	const base = 10000
	for range 200 {
		port := base + rand.IntN(lo-base)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return ln
		}
	}
	t.Fatalf("no free loopback port in %d-%d after 200 tries", base, lo-1)
	return nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// where it cannot be read, Linux's default).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > 11000 {
				return lo
			}
		}
	}
	return 32768
}

// WaitFor polls cond until it holds, failing the test after d: for states
// that announce themselves with no event (a server's counters, a process's
// files, a device's counters).
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leakWait is how long goroutines may take to end after a test: generous,
// for a shared two-core machine under -race. Nothing waits that long
// unless a goroutine really is left behind.
const leakWait = 10 * time.Second

// NoLeaks makes t fail at its end if any goroutine that was not running when
// NoLeaks was called is still running then, listing each with its stack
// (go.uber.org/goleak). The check is exact: no slack for a few extra
// goroutines, so a leak of one goroutine per call shows. Call it first in
// the test, so that its cleanup runs after every other.
func NoLeaks(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	g := Running()
	t.Cleanup(func() {
		t.Helper()
		g.Check(t, opts...)
	})
}

// Goroutines is the set of goroutines running at one moment.
type Goroutines struct{ ignore goleak.Option }

// Running notes the goroutines running now.
func Running() Goroutines { return Goroutines{goleak.IgnoreCurrent()} }

// Check fails t if a goroutine started since g was noted still runs after
// leakWait; it returns as soon as none does.
func (g Goroutines) Check(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	g.check(t, leakWait, opts...)
}

func (g Goroutines) check(t testing.TB, wait time.Duration, opts ...goleak.Option) {
	t.Helper()
	opts = append([]goleak.Option{g.ignore}, opts...)
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left running: %v", err)
			return
		}
	}
}

// TonePower is the power of frequency hz in 48 kHz pcm (the Goertzel
// algorithm), normalised by length, so that tests can tell which tones a
// recording holds.
func TonePower(pcm []int16, hz float64) float64 {
	w := 2 * math.Pi * hz / 48000
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - coeff*s1*s2) / float64(len(pcm)*len(pcm))
}
