// Package testenv holds what tests share about their environment.
package testenv

import (
	"os"
	"testing"
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
