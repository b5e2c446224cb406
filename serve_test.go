package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"softphone/signaling"
)

// syncBuffer collects stderr written from another goroutine.
type syncBuffer struct {
	ch chan string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.ch <- string(p)
	return len(p), nil
}

func TestServeBannerAndGracefulShutdown(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(signaling.SecretKeyEnv, "")
	outR, outW := io.Pipe()
	errs := &syncBuffer{ch: make(chan string, 1000)}
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--log-level", "warn"}, strings.NewReader(""), outW, errs)
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	if !sc.Scan() {
		t.Fatalf("no banner")
	}
	banner := sc.Text()
	m := regexp.MustCompile(`^softphone server listening on (ws://127\.0\.0\.1:\d+/ws)$`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("banner %q", banner)
	}
	// The generated key was announced (without the key) and is usable by
	// usersig.
	announced := <-errs.ch
	if !strings.Contains(announced, "generated a new secret key") {
		t.Fatalf("stderr %q", announced)
	}
	// So was the built-in STUN/TURN server, at the listen address.
	if turn := <-errs.ch; !regexp.MustCompile(`STUN/TURN on UDP and TCP port \d+, told to phones as 127\.0\.0\.1; relays on UDP ports 49160-49200`).MatchString(turn) {
		t.Fatalf("stderr %q", turn)
	}
	var sig strings.Builder
	if c := run([]string{"usersig", "--user", "alice", "--expire", "1h"}, nil, &sig, io.Discard); c != 0 {
		t.Fatalf("usersig exit %d", c)
	}
	key, _ := os.ReadFile(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "softphone", "secret.key"))
	if strings.Contains(announced, strings.TrimSpace(string(key))) {
		t.Fatal("the key was printed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := signaling.Dial(ctx, signaling.ClientConfig{URL: m[1], UserID: "alice", UserSig: strings.TrimSpace(sig.String())})
	if err != nil {
		t.Fatalf("log in with the minted ticket: %v", err)
	}
	defer cl.Close()
	<-cl.Events() // connected

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case ev := <-cl.Events():
		if _, ok := ev.(signaling.ServerShutdown); !ok {
			t.Fatalf("client got %T %+v, want ServerShutdown", ev, ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client was not told about the shutdown")
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("serve exit code %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit on SIGTERM")
	}
	if sc.Scan() {
		t.Fatalf("more than one line on stdout: %q", sc.Text())
	}
}

func TestUsersigFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k")
	os.WriteFile(keyFile, []byte("s3cret\n"), 0o600)
	var out, errOut strings.Builder
	if c := run([]string{"usersig", "--user", "bob", "--secret-key-file", keyFile, "--sdk-app-id", "7", "--expire", "2h"}, nil, &out, &errOut); c != 0 {
		t.Fatalf("exit %d: %s", c, errOut.String())
	}
	tk, err := signaling.VerifyTicket("s3cret", 7, "bob", strings.TrimSpace(out.String()), time.Now())
	if err != nil || tk.Lifetime != 2*time.Hour {
		t.Fatalf("ticket %+v %v", tk, err)
	}
	if c := run([]string{"usersig"}, nil, io.Discard, io.Discard); c != 2 {
		t.Fatalf("missing --user: exit %d", c)
	}
	if c := run([]string{"usersig", "--user", "b b", "--secret-key-file", keyFile}, nil, io.Discard, io.Discard); c != 1 {
		t.Fatalf("bad user: exit %d", c)
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(signaling.SecretKeyEnv, "")
	errOut.Reset()
	if c := run([]string{"usersig", "--user", "bob"}, nil, io.Discard, &errOut); c != 1 || !strings.Contains(errOut.String(), "softphone serve") {
		t.Fatalf("no key: exit %d %q", c, errOut.String())
	}
	if c := run([]string{"serve", "--tls-cert", "x"}, nil, io.Discard, io.Discard); c != 2 {
		t.Fatalf("--tls-cert alone: exit %d", c)
	}
	for _, bad := range [][]string{{"--turn", "maybe"}, {"--turn-ports", "5000-4000"}, {"--turn-ports", "49160"},
		{"--turn-public-ip", "::1"}, {"--turn-public-ip", "example.org"}, {"--turn-user-kbps", "0"}} {
		errOut.Reset()
		if c := run(append([]string{"serve"}, bad...), nil, io.Discard, &errOut); c != 2 || !strings.Contains(errOut.String(), bad[0]) {
			t.Errorf("serve %q: exit %d, %q", bad, c, errOut.String())
		}
	}
	errOut.Reset()
	c := run([]string{"--headless", "--server", "ws://127.0.0.1:1/ws", "--user", "a", "--usersig", "x", "--ice-transport-policy", "direct"}, nil, io.Discard, &errOut)
	if c != 2 || !strings.Contains(errOut.String(), "want all or relay") {
		t.Errorf("--ice-transport-policy direct: exit %d, %q", c, errOut.String())
	}
}
