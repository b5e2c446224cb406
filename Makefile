# softphone — build, test and demo.
#
#   make test   install what the tests need (Debian packages, only the missing
#               ones), then go vet, gofmt check and go test -race ./...
#   make demo   build and run `softphone demo` (flags in ARGS="...")
#   make bench  Go benchmarks of every package plus two short load tests against
#               a fresh server, one table of results against the targets

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go

# Debian packages: libopus for the codec (cgo via pkg-config), PulseAudio and
# sox for the real-device audio tests, tmux for the terminal end-to-end tests.
DEB_PACKAGES := gcc pkg-config libopus-dev libopusfile-dev pulseaudio pulseaudio-utils sox tmux

.PHONY: all build deps test vet fmt-check demo bench clean

all: build

build:
	$(GO) build -o softphone .

# Installs only what is missing, so a warm machine pays nothing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
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

test: deps vet fmt-check
	$(GO) test -race ./...

# ARGS passes flags through: make demo ARGS="--listen 0.0.0.0:7880".
demo: build
	./softphone demo $(ARGS)

# BENCH_FLAGS passes options to .ci/bench.go, e.g. BENCH_FLAGS="-duration 30s"
# for the issue's 30-second sustained run, or -skip-go for the load tests only.
bench: deps build
	$(GO) run .ci/bench.go $(BENCH_FLAGS)

clean:
	rm -f softphone
