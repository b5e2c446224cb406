package audio

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// ALSA prints its errors ("ALSA lib pcm.c:2666: Unknown PCM default", a
// screenful on a machine without a sound card) and JACK its connection
// failures straight to stderr, which garbles a terminal UI. Both libraries
// let a program replace that printer; miniaudio loads them with dlopen, so
// we load the same libraries first, install handlers that drop the text,
// and keep our handle open so the handlers outlive miniaudio's dlclose.
// miniaudio's own diagnostics still reach the logger through its log
// callback.

static void quietALSA(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void quietJACK(const char *msg) {}

typedef void (*alsaHandler)(const char *, int, const char *, int, const char *, ...);
typedef int (*alsaSetHandler)(alsaHandler);
typedef void (*jackSetFunction)(void (*)(const char *));

static int silenceALSA(void) {
	void *h = dlopen("libasound.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (!h) return 0;
	alsaSetHandler set = (alsaSetHandler)dlsym(h, "snd_lib_error_set_handler");
	if (!set) return 0;
	set(quietALSA);
	return 1;
}

static int silenceJACK(void) {
	void *h = dlopen("libjack.so.0", RTLD_NOW | RTLD_GLOBAL);
	if (!h) return 0;
	jackSetFunction e = (jackSetFunction)dlsym(h, "jack_set_error_function");
	jackSetFunction i = (jackSetFunction)dlsym(h, "jack_set_info_function");
	if (e) e(quietJACK);
	if (i) i(quietJACK);
	return e != 0;
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

var silenceOnce sync.Once

// silenceCLibraries stops ALSA and JACK from printing to stderr, once per
// process, before any backend is initialized. A library that is not
// installed needs no silencing: miniaudio cannot load it either.
func silenceCLibraries() {
	silenceOnce.Do(func() {
		C.silenceALSA()
		C.silenceJACK()
	})
}

// cFree frees C memory (malgo's DeviceID.Pointer returns a C copy).
func cFree(p unsafe.Pointer) { C.free(p) }
