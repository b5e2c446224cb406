// Package timerslack gives the Go runtime's sysmon thread a 1 ms Linux timer
// slack and leaves every other thread at the slack the process started with
// (prctl(2) PR_SET_TIMERSLACK; the kernel's default is 50 µs). Importing the
// package is enough.
//
// Why: in a call the process wakes for every 20 ms audio frame and every
// packet. The first system call after the process was idle wakes sysmon
// from its deep sleep, and sysmon then sleeps 20 µs at a time until the
// process is idle again (golang/go#18236): on this kind of virtual machine
// that was over half of a call's context switches and a sixth of its CPU.
// With a 1 ms slack its 20 µs sleeps end about when the process has gone
// idle, so it polls about once per wake-up. Nothing in sysmon's work needs
// sub-millisecond timing: it preempts goroutines that ran 10 ms, takes
// processors from system calls that blocked and polls the network when no
// one did for 10 ms.
//
// Only sysmon: a slack on the threads that run goroutines delays the
// runtime's own short sleeps (work stealing, stopping the world for a
// garbage collection), and under load that made audio frames late (with 20
// calls in one busy process, 1.5–4.5 times as many came too late to play).
// sysmon is the first thread the runtime creates, before any Go code runs;
// the package wraps pthread_create so that the first new thread starts with
// sysmon's slack and every later one with the process's, whichever thread
// creates it (sysmon itself creates threads at times).
//
// Environment, read once at start (nanoseconds; not a number: ignored):
//
//	SOFTPHONE_SYSMON_SLACK  sysmon's slack; 0 leaves it as the process's (default 1000000)
//	SOFTPHONE_TIMER_SLACK   every thread's slack (unset or 0: as inherited)
package timerslack

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>

typedef int (*softphone_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

// softphone_real_create is libc's pthread_create, looked up once (by the
// constructor below, before any thread exists; or by the first call, if a
// library's constructor made a thread before it).
static softphone_create_fn softphone_real_create(void) {
	static softphone_create_fn real;
	softphone_create_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	if (f == NULL) {
		f = (softphone_create_fn)dlsym(RTLD_NEXT, "pthread_create");
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	return f;
}

static long softphone_base_slack;   // every thread but sysmon
static long softphone_sysmon_slack; // the first thread the runtime creates
static int softphone_first_taken;

static long softphone_env_ns(const char *name, long unset) {
	const char *v = getenv(name);
	if (v == NULL || *v == 0) {
		return unset;
	}
	char *end;
	long x = strtol(v, &end, 10);
	if (*end != 0 || x < 0) {
		return unset;
	}
	return x;
}

// Runs before the Go runtime creates its first thread: C constructors run
// before main in a binary linked with cgo (which softphone is: malgo).
__attribute__((constructor)) static void softphone_set_timerslack(void) {
	long all = softphone_env_ns("SOFTPHONE_TIMER_SLACK", 0);
	if (all > 0) {
		prctl(PR_SET_TIMERSLACK, (unsigned long)all, 0, 0, 0);
	}
	softphone_base_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	softphone_sysmon_slack = softphone_env_ns("SOFTPHONE_SYSMON_SLACK", 1000000);
	if (softphone_sysmon_slack == 0) {
		softphone_sysmon_slack = softphone_base_slack;
	}
	softphone_real_create();
}

struct softphone_start {
	void *(*fn)(void *);
	void *arg;
	long slack;
};

static void *softphone_thread_start(void *p) {
	struct softphone_start s = *(struct softphone_start *)p;
	free(p);
	prctl(PR_SET_TIMERSLACK, (unsigned long)s.slack, 0, 0, 0);
	return s.fn(s.arg);
}

// pthread_create wraps libc's for the threads this binary's own C code
// creates: the Go runtime's and the sound library's. A thread inherits its
// creator's slack; each is set here instead, so that one made by sysmon
// does not get sysmon's.
int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
	softphone_create_fn real = softphone_real_create();
	struct softphone_start *s = malloc(sizeof *s);
	if (s == NULL) {
		return real(t, attr, fn, arg);
	}
	s->fn = fn;
	s->arg = arg;
	// The first thread made is sysmon. A creation that fails (the
	// runtime retries on EAGAIN, which a machine short of threads or
	// memory returns) does not use up the first place.
	int first = __atomic_exchange_n(&softphone_first_taken, 1, __ATOMIC_SEQ_CST) == 0;
	s->slack = first ? softphone_sysmon_slack : softphone_base_slack;
	int r = real(t, attr, softphone_thread_start, s);
	if (r != 0) {
		if (first) {
			__atomic_store_n(&softphone_first_taken, 0, __ATOMIC_SEQ_CST);
		}
		free(s);
	}
	return r;
}

static long softphone_get_timerslack(void) {
	return prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
}
static long softphone_sysmon(void) { return softphone_sysmon_slack; }
static long softphone_base(void) { return softphone_base_slack; }
*/
import "C"

// Current is the timer slack of the calling thread in nanoseconds.
func Current() int64 { return int64(C.softphone_get_timerslack()) }

// Sysmon is the slack given to the runtime's sysmon thread, and Base the
// slack of every other thread, in nanoseconds.
func Sysmon() int64 { return int64(C.softphone_sysmon()) }

// Base is the slack of every thread but sysmon, in nanoseconds.
func Base() int64 { return int64(C.softphone_base()) }
