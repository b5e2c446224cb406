// Package timerslack widens the Linux timer slack of the whole process to
// 1 ms, from before the Go runtime starts, so that every thread the runtime
// creates inherits it (prctl(2) PR_SET_TIMERSLACK; the default is 50 µs).
// Importing it is enough.
//
// Why: in a call the process wakes for every 20 ms audio frame and every
// packet, and each wake-up that makes a system call wakes the runtime's
// sysmon thread, which then polls every 20 µs until the process is idle
// again (golang/go#18236). On this kind of virtual machine a context switch
// costs ~27–30 µs of CPU, and those polls were over half of a call's
// switches. With a 1 ms slack the kernel may defer a sleep's end by up to
// 1 ms to batch wake-ups: sysmon's 20 µs polls become about one per wake-up
// of the process. Only timed sleeps are affected (timers, sysmon, a 3 µs
// pause in the scheduler's work stealing); packets, device callbacks and
// channel hand-offs wake at once. A timer firing up to 1 ms late is within
// the audio clock's tolerance: the 20 ms frame ticker keeps its absolute
// schedule and the sound devices run on their own callbacks.
//
// SOFTPHONE_TIMER_SLACK overrides the slack in nanoseconds; 0 keeps the
// slack the process inherited.
package timerslack

/*
#include <stdlib.h>
#include <sys/prctl.h>

// Runs before the Go runtime creates its first thread: C constructors run
// before main in a binary linked with cgo (which softphone is: malgo).
__attribute__((constructor)) static void softphone_set_timerslack(void) {
	long ns = 1000000;
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

// Default is the slack the process runs with unless SOFTPHONE_TIMER_SLACK
// says otherwise, in nanoseconds.
const Default = 1_000_000

// Current is the timer slack of the calling thread in nanoseconds.
func Current() int64 { return int64(C.softphone_get_timerslack()) }
