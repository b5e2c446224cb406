# softphone — build, test and demo.
#
#   make test   install what the tests need (Debian packages, only the missing
#               ones), then go vet, gofmt check, a check that the build needs
#               no system library, go test -race ./... and the codec interop
#               tests against libopus
#   make demo   build and run `softphone demo` (flags in ARGS="...")
#   make bench  softphone against baresip side by side (CPU, wake-ups, memory,
#               dial → RTP), then Go benchmarks of every package plus two short
#               load tests against a fresh server, one table of results against
#               the targets

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go

# The build needs Go and gcc only (malgo compiles miniaudio from its own
# sources; Opus is pure Go). The tests need more, and make test installs it:
# PulseAudio and sox for the real-device audio tests, espeak-ng for the
# speech the voice processing tests talk with, tmux for the terminal
# end-to-end tests, git to clone a fresh copy, OpenSSH and iproute2 for the
# sound-over-SSH test (a real sshd in a network namespace), libopus-dev
# with pkg-config for the interop tests against the reference codec (a
# test-only build tag: the product never links libopus), Chromium with
# nftables (packet loss in the test's namespace) and a font for the web
# phone's tests in a real browser, and nftables for the NAT tests (homes
# behind NAT routers, in namespaces).
DEB_PACKAGES := gcc git pulseaudio pulseaudio-utils sox espeak-ng tmux openssh-server openssh-client iproute2 libopus-dev pkg-config \
	chromium nftables fonts-dejavu-core

# The race detector makes the pure-Go Opus codec ~10x slower (5 ms per
# frame), too slow for the real-time audio tests. Its package is compiled
# without race instrumentation; our own code keeps it. The codec keeps its
# state per stream, used by one goroutine, and its own tests cover it.
# The same holds for the voice processing (audio/voice: pure arithmetic on
# one processor per pipeline, used by the run loop alone): instrumented, it
# takes milliseconds per frame, starves the real-time tests running beside
# it, and its own measurements take minutes.
RACE := -race -gcflags='github.com/thesyncim/gopus/...=-race=false' -gcflags='softphone/audio/voice=-race=false'

# make bench measures the C softphone baresip (Debian's) beside ours.
BENCH_DEB_PACKAGES := baresip-core

.PHONY: all build deps bench-deps test vet fmt-check nolibs-check demo bench bench-versus clean

all: build

build:
	$(GO) build -o softphone .

# Installs only what is missing, so a warm machine pays nothing.
deps bench-deps: PACKAGES = $(if $(filter bench-deps,$@),$(BENCH_DEB_PACKAGES),$(DEB_PACKAGES))
deps bench-deps:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The build must need no system -dev package: build with pkg-config
# disabled and check that the binary links no Opus library.
nolibs-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	PKG_CONFIG=/bin/false $(GO) build -o "$$tmp/softphone" . && \
	if ldd "$$tmp/softphone" | grep -i opus; then echo "the binary links libopus"; exit 1; fi && \
	echo "nolibs-check: builds without pkg-config, links no libopus"

# SOFTPHONE_MAKE_TEST tells tests that need a real part (PulseAudio, tmux,
# git) to fail instead of skipping when it is missing: make test installed it.
test: deps vet fmt-check nolibs-check
	SOFTPHONE_MAKE_TEST=1 $(GO) test $(RACE) ./...
	SOFTPHONE_MAKE_TEST=1 $(GO) test -tags libopus,nolibopusfile -run Interop -count 1 ./audio

# ARGS passes flags through: make demo ARGS="--listen 0.0.0.0:7880".
demo: build
	./softphone demo $(ARGS)

# BENCH_FLAGS passes options to internal/benchtable, e.g. BENCH_FLAGS="-duration 30s"
# for the issue's 30-second sustained run, or -skip-go for the load tests only.
# VERSUS_FLAGS passes options to internal/versus (the side-by-side call with
# baresip), e.g. VERSUS_FLAGS="-rounds 2 -window 10s". make bench runs it
# first and still runs the rest when it misses a target; it exits 1 then.
bench: deps bench-deps build
	@$(GO) run ./internal/versus $(VERSUS_FLAGS); versus=$$?; \
	$(GO) run ./internal/benchtable $(BENCH_FLAGS) && exit $$versus

# Only the side-by-side call with baresip.
bench-versus: bench-deps build
	$(GO) run ./internal/versus $(VERSUS_FLAGS)

clean:
	rm -f softphone
