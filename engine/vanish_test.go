package engine_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"softphone/audio"
	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// TestHelperEngine is not a test: it is the child process of
// TestPeerProcessKilled, an auto-answering engine that runs until killed.
func TestHelperEngine(t *testing.T) {
	url, user, sig := os.Getenv("SOFTPHONE_HELPER_URL"), os.Getenv("SOFTPHONE_HELPER_USER"), os.Getenv("SOFTPHONE_HELPER_SIG")
	if url == "" {
		t.Skip("helper process only")
	}
	e, err := New(Config{ServerURL: url, UserID: user, UserSig: sig, Mic: "tone:300", Speaker: "none",
		AudioBackends: []audio.Backend{audio.BackendNull}, AutoAnswer: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range e.Events() {
		}
	}()
	if err := e.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready\n")
	select {}
}

// helperPeer is an auto-answering engine in a child process (this test
// binary again, TestHelperEngine), so a test can stop or kill it as a
// process: what happens to a peer on another machine.
type helperPeer struct {
	cmd  *exec.Cmd
	once sync.Once
}

func startHelperPeer(t testing.TB, s *calltest.Server, user string) *helperPeer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEngine$", "-test.v=false")
	cmd.Env = append(os.Environ(), "SOFTPHONE_HELPER_URL="+s.URL, "SOFTPHONE_HELPER_USER="+user, "SOFTPHONE_HELPER_SIG="+s.Ticket(user, time.Hour))
	out, err := cmd.StdoutPipe()
	calltest.Must(t, "pipe", err)
	calltest.Must(t, "start helper", cmd.Start())
	h := &helperPeer{cmd: cmd}
	t.Cleanup(h.kill)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("helper engine did not start")
	}
	return h
}

// kill ends the helper at once (SIGKILL), also when it is stopped.
func (h *helperPeer) kill() {
	h.once.Do(func() { _ = h.cmd.Process.Kill(); _ = h.cmd.Wait() })
}

func (h *helperPeer) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	calltest.Must(t, "signal the helper", h.cmd.Process.Signal(sig))
}

// A participant whose process is killed is reported with onUserLeave within
// 10 s, and the 1:1 call then ends with onCallEnd.
func TestPeerProcessKilled(t *testing.T) {
	s := calltest.NewServer(t, nil)
	alice, bob := inCallWithHelper(t, s)
	bob.kill()
	killed := time.Now()
	alice.WaitHas("onUserLeave(bob)")
	took := time.Since(killed)
	alice.WaitHas("onCallEnd(caller)")
	t.Logf("onUserLeave %v after the kill", took)
	if took > 10*time.Second {
		t.Fatalf("onUserLeave took %v, want within 10 s", took)
	}
}

// proxy is a TCP relay between a client and the server that a test can
// cut, as a flaky network would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	calltest.Must(t, "proxy listen", err)
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); pipe(c, up) }()
			go func() { defer p.wg.Done(); pipe(up, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// cut drops every connection through the proxy (new ones still work).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A signaling reconnect does not drop the call: media keeps flowing and no
// call-ending event is raised. Event-driven, no sleeping through the
// vanish window: bob's media switch after his reconnect reaches alice as a
// push ordered after the server's userAway and userBack about him, so once
// alice raises onCallMediaTypeChanged she has applied both, and a vanish
// (onUserLeave) would have come before it.
func TestSignalingReconnectKeepsTheCall(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	host := strings.TrimPrefix(strings.TrimSuffix(s.URL, "/ws"), "ws://")
	p := newProxy(t, host)
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", func(c *Config) { c.ServerURL = "ws://" + p.ln.Addr().String() + "/ws" })
	calltest.Connect(t, alice, bob)
	p.cut()
	bob.WaitHas("onConnectionChanged(reconnecting)")
	bob.WaitCount("onConnectionChanged(connected)", 2)
	// Signaling works again: a media switch goes through.
	calltest.Must(t, "switch after reconnect", bob.SwitchMediaType(calltest.Ctx(t), MediaVideo))
	alice.ExpectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo})
	if RemoteAway(alice.Engine, "bob") {
		t.Fatal("alice still holds bob as away after his reconnect")
	}
	for _, te := range []*calltest.Engine{alice, bob} {
		if te.Has("onCallEnd(caller)") || te.Has("onCallEnd(called)") || te.Has("onUserLeave(alice)") || te.Has("onUserLeave(bob)") {
			t.Fatalf("%s: the reconnect dropped the call\n%s", te.UserID(), te.Dump())
		}
	}
	alice.VolumeOf("bob", 5)
	bob.VolumeOf("alice", 5)
}
