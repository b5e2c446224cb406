package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
	"softphone/signaling"
)

// Issue 11 against the real binary: `softphone serve` as its own process,
// attacked with thousands of connections under a low open-file limit, and
// killed with SIGKILL in the middle of a call.

// calltestKey writes calltest's secret key to a file, so that a `softphone
// serve` child accepts calltest's tickets and engines.
func calltestKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte(calltest.Key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openFiles counts the descriptors process pid has open.
func openFiles(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// dialFrom opens a WebSocket to url from source address ip.
func dialFrom(ctx context.Context, url, ip string) (*websocket.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	return ws, err
}

// TestDescriptorExhaustion is finding 1: strangers open thousands of
// connections that never log in (raw TCP that says nothing, and WebSockets
// that ping every 300 ms) from 20 addresses, and hundreds more to the
// built-in TURN server's TCP port, against a server whose open-file limit
// is 256. The server never runs out of descriptors, closes
// each stranger at the login deadline however it pings, and real users
// log in and call throughout.
func TestDescriptorExhaustion(t *testing.T) {
	bin := softphoneBinary(t)
	const limit = 256
	srv := startServe(t, []string{"sh", "-c", `ulimit -n ` + strconv.Itoa(limit) + ` && exec "$0" "$@"`,
		bin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--secret-key-file", calltestKey(t),
		"--login-timeout", "3s", "--log-level", "info"})
	pid := srv.cmd.Process.Pid
	host := strings.TrimSuffix(strings.TrimPrefix(srv.url, "ws://"), "/ws")
	var m []string
	testenv.WaitFor(t, "the STUN/TURN port in the log", 10*time.Second, func() bool {
		m = regexp.MustCompile(`STUN/TURN on UDP and TCP port (\d+)`).FindStringSubmatch(srv.stderr.String())
		return m != nil
	})
	turnAddr := "127.0.0.1:" + m[1]

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var opened, pingerClosed atomic.Int64
	var maxFiles atomic.Int64
	defer func() { stop(); wg.Wait() }()
	watch := func() {
		if n := int64(openFiles(pid)); n > maxFiles.Load() {
			maxFiles.Store(n)
		}
	}
	for w := 0; w < 20; w++ {
		ip := fmt.Sprintf("127.0.0.%d", 10+w)
		wg.Add(3)
		hold := func(addr string, n int) { // silent TCP connections, as many as it can hold
			defer wg.Done()
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			for i := 0; i < n && ctx.Err() == nil; i++ {
				if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
					held = append(held, c)
					opened.Add(1)
				}
			}
			<-ctx.Done()
		}
		go hold(host, 100)    // the call server's port
		go hold(turnAddr, 50) // the TURN server's TCP port, in the same process
		// WebSockets that keep pinging and never log in.
		go func() {
			defer wg.Done()
			for i := 0; i < 25 && ctx.Err() == nil; i++ {
				ws, err := dialFrom(ctx, srv.url, ip)
				if err != nil {
					continue
				}
				opened.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer ws.CloseNow()
					started := time.Now()
					go func() {
						for {
							if _, _, err := ws.Read(context.Background()); err != nil {
								return
							}
						}
					}()
					for ctx.Err() == nil {
						wctx, cancel := context.WithTimeout(ctx, time.Second)
						err := ws.Write(wctx, websocket.MessageText, []byte(`{"type":"ping","id":1}`))
						cancel()
						if err != nil {
							if ctx.Err() == nil && time.Since(started) < 10*time.Second {
								pingerClosed.Add(1)
							}
							return
						}
						time.Sleep(300 * time.Millisecond)
					}
				}()
			}
		}()
	}

	// Real users log in from another address while the flood goes on, and
	// call each other.
	sv := calltest.External(t, srv.url)
	deadline := time.Now().Add(8 * time.Second)
	logins := 0
	for time.Now().Before(deadline) {
		watch()
		user := fmt.Sprintf("user%02d", logins)
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err := signaling.Dial(lctx, signaling.ClientConfig{URL: srv.url, UserID: user, UserSig: sv.Ticket(user, time.Hour)})
		cancel()
		if err != nil {
			t.Fatalf("login %d during the flood (%d stranger connections opened so far): %v\nserver stderr:\n%s", logins, opened.Load(), err, lastLines(srv.stderr.String(), 25))
		}
		defer cl.Close()
		logins++
		time.Sleep(200 * time.Millisecond)
	}
	a, b := sv.Engine("alice", nil), sv.Engine("bob", nil)
	calltest.Connect(t, a, b)
	watch()
	stop()
	wg.Wait()
	t.Logf("%d real logins and a call during the flood; %d stranger connections opened; %d pinging strangers closed within 10 s; the server held at most %d descriptors of %d",
		logins, opened.Load(), pingerClosed.Load(), maxFiles.Load(), limit)
	if pingerClosed.Load() == 0 {
		t.Error("no pinging stranger was closed: the login deadline does not hold")
	}
	if maxFiles.Load() >= limit {
		t.Errorf("the server reached %d descriptors, its limit", maxFiles.Load())
	}
	errs := srv.stderr.String()
	if strings.Contains(errs, "too many open files") {
		t.Errorf("the server ran out of descriptors:\n%s", lastLines(errs, 25))
	}
	// The strangers show only in the aggregated line, at most once per
	// 10 s: no line names one of their addresses.
	if strings.Count(errs, "connection limits at work") > 2 {
		t.Errorf("the aggregated line came more than once per 10 s:\n%s", lastLines(errs, 25))
	}
	if regexp.MustCompile(`127\.0\.0\.(1\d|2\d)[: ]`).MatchString(errs) {
		t.Errorf("the log has lines about single strangers:\n%s", lastLines(errs, 25))
	}
	if !strings.Contains(errs, "connection limits at work") {
		t.Errorf("no aggregated limits line in the log:\n%s", lastLines(errs, 25))
	}
}

// TestCallSurvivesServerKill is finding 4: the server is killed (SIGKILL)
// in the middle of a call and started again on the same address with the
// same key. The phones show "reconnecting" and nothing else, audio flows
// through it all and after, and the call is the same call: a third user
// invited into it gets its callId.
func TestCallSurvivesServerKill(t *testing.T) {
	bin := softphoneBinary(t)
	key := calltestKey(t)
	argv := func(listen string) []string {
		return []string{bin, "serve", "--listen", listen, "--turn-listen", "127.0.0.1:0", "--secret-key-file", key, "--log-level", "warn"}
	}
	addr := testenv.FreeAddr(t) // kept across the restart, below the ephemeral range
	first := startServe(t, argv(addr))
	sv := calltest.External(t, first.url)
	alice, bob := sv.Engine("alice", nil), sv.Engine("bob", nil)
	calltest.Connect(t, alice, bob)
	began, _ := calltest.Last[engine.CallBegin](alice)
	na, nb := len(alice.CallEvents()), len(bob.CallEvents())

	calltest.Must(t, "kill -9 the server", first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.exited
	first.exited <- nil
	alice.WaitHas("onConnectionChanged(reconnecting)")
	bob.WaitHas("onConnectionChanged(reconnecting)")
	alice.VolumeOf("bob", 5) // media goes on without the server
	startServe(t, argv(addr))
	for _, te := range []*calltest.Engine{alice, bob} {
		calltest.Expect(te, func(v engine.ConnectionChanged) bool { return v.State == engine.ConnConnected })
	}
	alice.VolumeOf("bob", 5)
	bob.VolumeOf("alice", 5)
	for i, got := range [][]string{alice.CallEvents()[na:], bob.CallEvents()[nb:]} {
		if len(got) != 1 || got[0] != "onConnectionChanged(reconnecting)" {
			t.Fatalf("%s saw %q across the kill, want only reconnecting", []string{"alice", "bob"}[i], got)
		}
	}
	carol := sv.Engine("carol", nil)
	calltest.Must(t, "invite carol", alice.Invite(calltest.Ctx(t), []string{"carol"}))
	if rcv := calltest.Expect(carol, func(engine.CallReceived) bool { return true }); rcv.CallID != began.CallID {
		t.Fatalf("carol was invited to %q, want the call from before the kill %q", rcv.CallID, began.CallID)
	}
	calltest.Must(t, "carol accepts", carol.Accept(calltest.Ctx(t)))
	carol.VolumeOf("alice", 5)
	carol.VolumeOf("bob", 5)
	calltest.Must(t, "bob hangs up", bob.Hangup(calltest.Ctx(t)))
	alice.ExpectEvent(engine.UserLeave{UserID: "bob", Reason: "hangup"})
}

// TestSIGTERMWithAClientThatDoesNotRead: SIGTERM ends the server at once
// (well within a second here; the test allows more for a loaded machine)
// with status 0, even with a logged-in client that never reads.
func TestSIGTERMWithAClientThatDoesNotRead(t *testing.T) {
	bin := softphoneBinary(t)
	key := calltestKey(t)
	srv := startServe(t, []string{bin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--secret-key-file", key, "--log-level", "warn"})
	sv := calltest.External(t, srv.url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.url, nil)
	calltest.Must(t, "dial", err)
	defer ws.CloseNow()
	login, _ := signaling.EncodeFrame(&signaling.Frame{Type: signaling.TypeLogin, ID: 1, Version: 1, UserID: "deaf", UserSig: sv.Ticket("deaf", time.Hour)})
	calltest.Must(t, "login", ws.Write(ctx, websocket.MessageText, login))
	testenv.WaitFor(t, "the login", 10*time.Second, func() bool { return openFiles(srv.cmd.Process.Pid) > 0 })
	time.Sleep(200 * time.Millisecond) // the login is processed; from now on the client reads nothing

	start := time.Now()
	calltest.Must(t, "SIGTERM", srv.cmd.Process.Signal(syscall.SIGTERM))
	var err2 error
	select {
	case err2 = <-srv.exited:
		srv.exited <- err2
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit within 10 s of SIGTERM")
	}
	took := time.Since(start)
	t.Logf("serve exited %v after SIGTERM: %v", took.Round(time.Millisecond), err2)
	if err2 != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err2, srv.stderr.String())
	}
	if took > 2500*time.Millisecond {
		t.Fatalf("serve took %v to exit after SIGTERM, want about half a second", took)
	}
}
