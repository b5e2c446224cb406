// Package timerslack lets SOFTPHONE_TIMER_SLACK (nanoseconds) set the Linux
// timer slack of the whole process from before the Go runtime starts, so
// that every thread the runtime creates inherits it (prctl(2)
// PR_SET_TIMERSLACK; the kernel's default is 50 µs). Unset, 0 or not a
// number: the process keeps the slack it inherited. Importing the package is
// enough.
//
// Why: in a call the process wakes for every 20 ms audio frame and every
// packet, and each wake-up that makes a system call wakes the runtime's
// sysmon thread, which then polls every 20 µs until the process is idle
// again (golang/go#18236): over half of a call's context switches on this
// kind of virtual machine. With a 1 ms slack the kernel may end a timed
// sleep up to 1 ms late, so sysmon polls about once per wake-up: a third to
// a half fewer context switches in a call. It is off by default because it
// bought no measurable CPU, and under load it cost audio: with 20 calls in
// one busy process (softphone loadtest --media) 1.5–4.5 times as many frames
// came too late to play, in each of 6 runs side by side.
package timerslack

/*
#include <stdlib.h>
#include <sys/prctl.h>

// Runs before the Go runtime creates its first thread: C constructors run
// before main in a binary linked with cgo (which softphone is: malgo).
__attribute__((constructor)) static void softphone_set_timerslack(void) {
	long ns = 0;
	const char *v = getenv("SOFTPHONE_TIMER_SLACK");
	if (v != NULL && *v != 0) {
		char *end;
		long x = strtol(v, &end, 10);
		if (*end == 0 && x >= 0) {
			ns = x;
		}
	}
	if (ns > 0) {
		prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0);
	}
}

static long softphone_get_timerslack(void) {
	return prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
}
*/
import "C"

// Current is the timer slack of the calling thread in nanoseconds.
func Current() int64 { return int64(C.softphone_get_timerslack()) }
