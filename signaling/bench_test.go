package signaling

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"softphone/internal/procstat"
)

// Benchmarks of the targets. Run them with
//
//	go test -run '^$' -bench . -benchtime 5000x ./signaling/   # call cycles
//	go test -run '^$' -bench 'IdleConn|UnauthenticatedConn' -benchtime 1x ./signaling/
//
// Both use a real server on a loopback port with real WebSocket clients.

const benchKey = "bench-secret-key"

// benchServer starts a server with the real clock.
func benchServer(b *testing.B, edit func(*Config)) (*Server, string) {
	b.Helper()
	cfg := Config{SecretKey: benchKey, SDKAppID: testApp, IdleTimeout: 10 * time.Minute}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return srv, WebSocketURL(ln.Addr(), false)
}

// BenchmarkCallCycle runs full call cycles (invite → incoming → accept →
// callBegan/userJoined → hangup → callEnded/userLeft) between pairs of
// signaling.Clients through the real server, all on this machine. It
// reports cycles/s and the client-measured round-trip latency of the
// requests (an upper bound of the server's latency per request).
func BenchmarkCallCycle(b *testing.B) {
	pairs := 8
	if s := os.Getenv("SOFTPHONE_BENCH_PAIRS"); s != "" {
		pairs, _ = strconv.Atoi(s)
	}
	// The default per-connection rate limit (100/s) is an abuse guard; the
	// load generator here pushes each connection harder than any person.
	_, url := benchServer(b, func(c *Config) { c.RateLimit = 1e6; c.RateBurst = 1e6 })
	ctx := context.Background()
	type pair struct{ a, b *Client }
	ps := make([]pair, pairs)
	for i := range ps {
		for j, c := range []**Client{&ps[i].a, &ps[i].b} {
			user := fmt.Sprintf("u%d_%d", i, j)
			sig, _ := Sign(benchKey, testApp, user, time.Hour, time.Now())
			cl, err := Dial(ctx, ClientConfig{URL: url, UserID: user, UserSig: sig})
			if err != nil {
				b.Fatal(err)
			}
			<-cl.Events() // Connected
			*c = cl
		}
	}
	defer func() {
		for _, p := range ps {
			p.a.Close()
			p.b.Close()
		}
	}()

	var left atomic.Int64
	left.Store(int64(b.N))
	lat := make([][]time.Duration, pairs)
	errs := make(chan error, pairs)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range ps {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a, c := ps[i].a, ps[i].b
			ls := make([]time.Duration, 0, 3*b.N/pairs+3)
			expect := func(cl *Client, typ string) error {
				ev := <-cl.Events()
				if ev == nil || ev.EventType() != typ {
					return fmt.Errorf("%s: got %T %+v, want %s", cl.UserID(), ev, ev, typ)
				}
				return nil
			}
			// expectEach waits for each client's next event in turn.
			type want struct {
				cl  *Client
				typ string
			}
			expectEach := func(ws ...want) error {
				for _, w := range ws {
					if err := expect(w.cl, w.typ); err != nil {
						return err
					}
				}
				return nil
			}
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				info, err := a.Invite(ctx, InviteParams{UserIDs: []string{c.UserID()}})
				ls = append(ls, time.Since(t0))
				if err != nil {
					errs <- err
					return
				}
				if err := expect(c, TypeIncoming); err != nil {
					errs <- err
					return
				}
				t0 = time.Now()
				_, err = c.Accept(ctx, info.CallID)
				ls = append(ls, time.Since(t0))
				if err != nil {
					errs <- err
					return
				}
				if err := expectEach(want{c, TypeCallBegan}, want{a, TypeUserJoined}, want{a, TypeCallBegan}); err != nil {
					errs <- err
					return
				}
				t0 = time.Now()
				err = a.Hangup(ctx, info.CallID)
				ls = append(ls, time.Since(t0))
				if err != nil {
					errs <- err
					return
				}
				if err := expectEach(want{a, TypeCallEnded}, want{c, TypeUserLeft}, want{c, TypeCallEnded}); err != nil {
					errs <- err
					return
				}
			}
			lat[i] = ls
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, ls := range lat {
		all = append(all, ls...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))]) / 1e6
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cycles/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkIdleConnMemory measures the server's memory per idle, logged-in
// connection with 10,000 connections. The clients run in a child process
// (this test binary again), so the parent's heap and stacks hold only the
// server's side.
func BenchmarkIdleConnMemory(b *testing.B) { connMemory(b, true) }

// BenchmarkUnauthenticatedConnMemory is the same for WebSocket connections
// that never log in (issue 11: what a stranger's connection costs before
// the login deadline closes it); the caps are lifted to hold 10,000.
func BenchmarkUnauthenticatedConnMemory(b *testing.B) { connMemory(b, false) }

func connMemory(b *testing.B, login bool) {
	n := 10000
	if s := os.Getenv("SOFTPHONE_BENCH_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	raiseFileLimit(b, uint64(n)+1024)
	srv, url := benchServer(b, func(c *Config) {
		c.LoginTimeout = 10 * time.Minute
		c.MaxConnections, c.MaxUnauthenticated, c.MaxUnauthenticatedPerAddress = n+100, n+100, n+100
	})

	runtime.GC()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := rss()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SOFTPHONE_IDLE_CLIENTS_URL="+url, "SOFTPHONE_IDLE_CLIENTS_N="+strconv.Itoa(n),
		"SOFTPHONE_IDLE_CLIENTS_LOGIN="+strconv.FormatBool(login))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ready") {
			ready = true
			break
		}
	}
	if !ready {
		b.Fatal("client process did not get ready")
	}
	go io.Copy(io.Discard, stdout)
	deadline := time.Now().Add(time.Minute)
	for st := srv.Stats(); st.Connections < n || (login && st.Sessions < n); st = srv.Stats() {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d connections, %d sessions", st.Connections, n, st.Sessions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let handshake garbage go and stacks shrink (the GC shrinks stacks
	// that use less than a quarter of their size).
	for i := 0; i < 4; i++ {
		runtime.GC()
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapInuse) - float64(before.HeapInuse)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	b.ReportMetric((heap+stack)/float64(n), "B/conn")
	b.ReportMetric(heap/float64(n), "heap-B/conn")
	b.ReportMetric(stack/float64(n), "stack-B/conn")
	b.ReportMetric(float64(rss()-rssBefore)/float64(n), "rss-B/conn")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/conn")
}

// TestHelperIdleClients is the client side of BenchmarkIdleConnMemory; it
// does nothing in a normal test run.
func TestHelperIdleClients(t *testing.T) {
	url := os.Getenv("SOFTPHONE_IDLE_CLIENTS_URL")
	if url == "" {
		t.Skip("helper process for BenchmarkIdleConnMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("SOFTPHONE_IDLE_CLIENTS_N"))
	login := os.Getenv("SOFTPHONE_IDLE_CLIENTS_LOGIN") != "false"
	raiseFileLimit(t, uint64(n)+1024)
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := idleLogin(url, i, login, &conns[i]); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until the benchmark is done
	for _, c := range conns {
		c.CloseNow()
	}
}

func idleLogin(url string, i int, login bool, out **websocket.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	if !login {
		*out = ws
		go func() {
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		return nil
	}
	user := "idle" + strconv.Itoa(i)
	sig, _ := Sign(benchKey, testApp, user, time.Hour, time.Now())
	b, _ := EncodeFrame(&Frame{Type: TypeLogin, ID: 1, Version: 1, UserID: user, UserSig: sig})
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return err
	}
	_, msg, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(msg), `"type":"ok"`) {
		return fmt.Errorf("login %s: %s %v", user, msg, err)
	}
	*out = ws
	// Keep reading so pings and closes are handled, like a real client.
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return nil
}

// raiseFileLimit lifts RLIMIT_NOFILE to at least n (as root the hard limit
// too), since 10,000 sockets exceed the usual soft limit. When that is not
// allowed (not root, and a lower hard limit) the benchmark is skipped with
// the reason, so that `make bench` goes on with the others.
func raiseFileLimit(tb testing.TB, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Skipf("skipped: %d connections need an open-file limit of %d and it cannot be raised (%v): run as root, raise the hard limit (ulimit -Hn), or set SOFTPHONE_BENCH_CONNS lower",
			n-1024, n, err)
	}
}

// rss is the process's resident set size in bytes.
func rss() int64 {
	n, _ := procstat.RSS(0)
	return n
}
