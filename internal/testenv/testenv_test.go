package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperMissing is not a test: it is the child process of
// TestMissingFailsUnderMakeTest.
func TestHelperMissing(t *testing.T) {
	if os.Getenv("SOFTPHONE_TESTENV_CHILD") == "" {
		t.Skip("helper process only")
	}
	Missing(t, "the real part is not here")
}

// TestMissingFailsUnderMakeTest: a missing real part skips a plain go test
// and fails under make test.
func TestMissingFailsUnderMakeTest(t *testing.T) {
	for _, tc := range []struct {
		env  string
		fail bool
	}{{"", false}, {MakeTestEnv + "=1", true}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "SOFTPHONE_TESTENV_CHILD=1", MakeTestEnv+"=")
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.fail {
			t.Errorf("with %q: failed %v, want %v:\n%s", tc.env, failed, tc.fail, out)
		}
		if !tc.fail && !strings.Contains(string(out), "SKIP") {
			t.Errorf("without make test the test did not skip:\n%s", out)
		}
	}
}

// recorder is a testing.TB that keeps its errors.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestGoroutinesCheckIsExact: one goroutine left running is found, named by
// its function; none left passes.
func TestGoroutinesCheckIsExact(t *testing.T) {
	g := Running()
	stop := make(chan struct{})
	go leakyWorker(stop)
	r := &recorder{TB: t}
	g.check(r, 200*time.Millisecond)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "leakyWorker") {
		t.Fatalf("one leaked goroutine: errors %q", r.errs)
	}
	close(stop)
	r = &recorder{TB: t}
	g.check(r, leakWait)
	if len(r.errs) != 0 {
		t.Fatalf("nothing leaked: errors %q", r.errs)
	}
}

func leakyWorker(stop chan struct{}) { <-stop }

// TestFreeAddrIsBelowTheEphemeralRange: the port is one no outgoing
// connection can take, and it can be bound.
func TestFreeAddrIsBelowTheEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	for range 20 {
		addr := FreeAddr(t)
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if port, _ := strconv.Atoi(p); port < 10000 || port >= lo {
			t.Fatalf("FreeAddr gave %s, want a port in 10000-%d", addr, lo-1)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("FreeAddr's %s cannot be bound: %v", addr, err)
		}
		ln.Close()
	}
}
