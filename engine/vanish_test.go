package engine

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"softphone/audio"
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

// A participant whose process is killed is reported with onUserLeave within
// 10 s, and the 1:1 call then ends with onCallEnd.
func TestPeerProcessKilled(t *testing.T) {
	s := newTestServer(t, nil)
	alice := s.engine("alice", nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEngine$", "-test.v=false")
	cmd.Env = append(os.Environ(), "SOFTPHONE_HELPER_URL="+s.url, "SOFTPHONE_HELPER_USER=bob", "SOFTPHONE_HELPER_SIG="+s.ticket("bob", time.Hour))
	out, err := cmd.StdoutPipe()
	must(t, "pipe", err)
	must(t, "start helper", cmd.Start())
	var once sync.Once
	kill := func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(kill)
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
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{}))
	expect(alice, func(CallBegin) bool { return true })
	volumeOf(alice, "bob", 5)

	kill()
	killed := time.Now()
	alice.waitHas("onUserLeave(bob)")
	took := time.Since(killed)
	alice.waitHas("onCallEnd(caller)")
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
	must(t, "proxy listen", err)
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
// call-ending event is raised.
func TestSignalingReconnectKeepsTheCall(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	host := strings.TrimPrefix(strings.TrimSuffix(s.url, "/ws"), "ws://")
	p := newProxy(t, host)
	alice := s.engine("alice", nil)
	bob := s.engine("bob", func(c *Config) { c.ServerURL = "ws://" + p.ln.Addr().String() + "/ws" })
	connect(t, alice, bob)
	p.cut()
	bob.waitHas("onConnectionChanged(reconnecting)")
	waitCount(bob, "onConnectionChanged(connected)", 2)
	time.Sleep(3 * time.Second) // longer than the vanish window: bob is not gone
	volumeOf(alice, "bob", 5)
	volumeOf(bob, "alice", 5)
	for _, te := range []*testEngine{alice, bob} {
		if te.has("onCallEnd(caller)") || te.has("onCallEnd(called)") || te.has("onUserLeave(alice)") || te.has("onUserLeave(bob)") {
			t.Fatalf("%s: the reconnect dropped the call\n%s", te.UserID(), te.dump())
		}
	}
	// Signaling works again: a media switch goes through.
	must(t, "switch after reconnect", bob.SwitchMediaType(ctxT(t), MediaVideo))
	alice.expectEvent(CallMediaTypeChanged{OldCallMediaType: MediaVoice, NewCallMediaType: MediaVideo})
}
