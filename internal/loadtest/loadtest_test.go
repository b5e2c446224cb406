package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/internal/calltest"
	"softphone/internal/testenv"
	"softphone/signaling"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// loadConfig is a small load test against s.
func loadConfig(s *calltest.Server, users int, rate float64, d time.Duration) Config {
	return Config{
		ServerURL: s.URL, SecretKey: calltest.Key, SDKAppID: calltest.App,
		Users: users, CallsPerSec: rate, Duration: d,
		CallTimeout: calltest.Wait, Logger: calltest.DebugLog(),
	}
}

// runLoad runs a load test and checks what must hold whatever happened:
// everyone logged out, the server's tally of the calls matches the
// report's, and no goroutine is left.
func runLoad(t *testing.T, s *calltest.Server, cfg Config) *Report {
	t.Helper()
	before := s.Srv.Stats()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "everyone logged out", calltest.Wait, func() bool {
		st := s.Srv.Stats()
		return st.Sessions == 0 && st.Connections == 0 && st.Calls == 0
	})
	after := s.Srv.Stats()
	if rep.Attempted != rep.Completed+rep.Failed {
		t.Errorf("attempted %d ≠ completed %d + failed %d", rep.Attempted, rep.Completed, rep.Failed)
	}
	if total := int(cfg.CallsPerSec*cfg.Duration.Seconds() + 0.5); rep.Attempted+rep.NotPlaced != total {
		t.Errorf("attempted %d + not placed %d ≠ the %d calls the schedule offered", rep.Attempted, rep.NotPlaced, total)
	}
	if got := after.CallsEnded - before.CallsEnded; got != after.CallsStarted-before.CallsStarted {
		t.Errorf("the server started %d calls and ended %d", after.CallsStarted-before.CallsStarted, got)
	}
	if rep.Failed > 0 {
		// A failed call may have connected on the server before failing,
		// and a connection the server closed comes back with a new login.
		return rep
	}
	if got := after.CallsStarted - before.CallsStarted; got != uint64(rep.Attempted) {
		t.Errorf("the server started %d calls, the report attempted %d", got, rep.Attempted)
	}
	if got := after.Logins - before.Logins; got != uint64(rep.LoggedIn) {
		t.Errorf("the server counted %d logins, the report %d", got, rep.LoggedIn)
	}
	if got := after.CallsConnected - before.CallsConnected; got != uint64(rep.Completed) {
		t.Errorf("the server connected %d calls, the report completed %d", got, rep.Completed)
	}
	return rep
}

// TestLoadSignalingCountsMatchTheServer runs the signaling load test for a
// few seconds against a real server: every call completes, and its counts
// are the server's own.
func TestLoadSignalingCountsMatchTheServer(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	// 40 pairs, each called every 0.4 s. On a loaded CI machine a call
	// cycle now and then takes longer than that (setup p99 345 ms seen
	// under the race detector with the machine 99 % busy), and the load
	// test then skips that pair's next call and counts it as not placed:
	// that is the load, not a miscount. Every call must be either placed
	// or counted as not placed, every placed one must complete, and the
	// round trips must be those of the placed calls.
	cfg := loadConfig(s, 80, 100, 3*time.Second)
	rep := runLoad(t, s, cfg)
	placed := rep.Attempted
	if rep.LoggedIn != 80 || rep.LoginFailed != 0 || rep.Pairs != 40 || rep.Failed != 0 ||
		placed+rep.NotPlaced != 300 || rep.Completed != placed || placed < 240 {
		t.Fatalf("report: %s\n%+v", rep.Problems(), rep)
	}
	if rep.NotPlaced > 0 {
		t.Logf("%d of 300 calls not placed: every pair was busy (machine %.0f %% busy, setup p99 %.0f ms)",
			rep.NotPlaced, rep.MachineBusy, rep.Setup.P99)
	}
	if rep.Signaling.N != 3*placed || rep.Requests["invite"].N != placed || rep.Requests["accept"].N != placed || rep.Requests["hangup"].N != placed {
		t.Errorf("request round trips for %d calls: %+v %+v", placed, rep.Signaling, rep.Requests)
	}
	if rep.Setup.N != placed || !(rep.Setup.P50 > 0) || rep.Setup.P50 > rep.Setup.P95 || rep.Setup.P95 > rep.Setup.Max {
		t.Errorf("setup: %+v", rep.Setup)
	}
	if !(rep.AchievedRate > 50 && rep.AchievedRate <= 101) {
		t.Errorf("achieved %v calls/s for 100 offered", rep.AchievedRate)
	}
	if rep.Process == nil || !(rep.Process.RSSPeakMB > 0) {
		t.Errorf("process stats: %+v", rep.Process)
	}
	if !(rep.MachineBusy > 0 && rep.MachineBusy <= 100) || rep.CPUs < 1 {
		t.Errorf("machine: %d CPUs, %v%% busy", rep.CPUs, rep.MachineBusy)
	}
	if rep.Audio != nil || rep.AudioSetup != nil || rep.ServerProcess != nil {
		t.Errorf("media or server figures without media or a pid: %+v", rep)
	}
}

// TestLoadMedia runs calls with real engines: audio flows both ways and is
// measured at the receivers.
func TestLoadMedia(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	cfg := loadConfig(s, 8, 2, 2*time.Second)
	cfg.Media = true
	cfg.Hold = time.Second
	cfg.ServerPID = os.Getpid() // the server is in this process
	rep := runLoad(t, s, cfg)
	if rep.Completed != 4 || rep.Failed != 0 {
		t.Fatalf("report: %s\n%+v", rep.Problems(), rep)
	}
	a := rep.Audio
	// Four calls held 1 s: about 50 packets each way.
	if a == nil || a.Calls != 4 || a.Received < 4*2*30 || a.CallsWithoutAudio != 0 {
		t.Fatalf("audio: %+v", a)
	}
	if rep.AudioSetup == nil || rep.AudioSetup.N != 4 || rep.AudioSetup.P50 < rep.Setup.P50 {
		t.Errorf("audio setup %+v, setup %+v", rep.AudioSetup, rep.Setup)
	}
	if rep.ServerProcess == nil || rep.ServerProcess.PID != os.Getpid() || !(rep.ServerProcess.RSSPeakMB > 0) {
		t.Errorf("server process: %+v", rep.ServerProcess)
	}
}

// TestLoadFailuresAreCountedByReason: a server that rate-limits each
// connection hard makes calls fail; they are counted by reason, the pairs
// recover, and the server's counts still match.
func TestLoadFailuresAreCountedByReason(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, func(c *signaling.Config) { c.RateLimit = 2; c.RateBurst = 2 })
	cfg := loadConfig(s, 2, 20, time.Second)
	cfg.CallTimeout = 2 * time.Second
	rep := runLoad(t, s, cfg)
	if rep.Failed == 0 || rep.OK() {
		t.Fatalf("no failures: %+v", rep)
	}
	t.Logf("failed by: %v", rep.FailedBy)
	limited := 0
	for reason, n := range rep.FailedBy {
		if strings.Contains(reason, "rateLimited (1006)") {
			limited += n
		}
	}
	if limited == 0 {
		t.Errorf("no rateLimited failures: %v", rep.FailedBy)
	}
	if !strings.Contains(rep.Problems(), "calls failed") {
		t.Errorf("problems: %q", rep.Problems())
	}
}

// TestLoadNotPlaced: when every pair is still busy, a call due on the
// schedule is not placed and counted, not delayed.
func TestLoadNotPlaced(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	cfg := loadConfig(s, 2, 10, time.Second)
	cfg.Hold = 2 * time.Second
	rep := runLoad(t, s, cfg)
	if rep.Attempted != 1 || rep.Completed != 1 || rep.NotPlaced != 9 || rep.PeakConcurrent != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "every pair busy") {
		t.Errorf("warnings: %q", rep.Warnings)
	}
}

func TestLoadConfigChecks(t *testing.T) {
	ok := Config{ServerURL: "ws://127.0.0.1:1/ws", SecretKey: "k", Users: 2, CallsPerSec: 1, Duration: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // part of the error; "" for none
	}{
		{"fine", func(*Config) {}, ""},
		{"no server", func(c *Config) { c.ServerURL = "" }, "no server URL"},
		{"http URL", func(c *Config) { c.ServerURL = "http://127.0.0.1:1/ws" }, "want ws://"},
		{"remote", func(c *Config) { c.ServerURL = "ws://192.0.2.1:7880/ws" }, "loopback"},
		{"remote allowed", func(c *Config) { c.ServerURL = "ws://192.0.2.1:7880/ws"; c.AllowRemote = true }, ""},
		{"localhost", func(c *Config) { c.ServerURL = "ws://localhost:7880/ws" }, ""},
		{"IPv6 loopback", func(c *Config) { c.ServerURL = "wss://[::1]:7880/ws" }, ""},
		{"no key", func(c *Config) { c.SecretKey = "" }, "no secret key"},
		{"one user", func(c *Config) { c.Users = 1 }, "at least 2"},
		{"too many media users", func(c *Config) { c.Media = true; c.Users = MaxMediaUsers + 1 }, "at most"},
		{"zero rate", func(c *Config) { c.CallsPerSec = 0 }, "positive rate"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "positive duration"},
		{"negative hold", func(c *Config) { c.Hold = -time.Second }, "hold"},
		{"short call timeout", func(c *Config) { c.CallTimeout = time.Millisecond }, "call timeout"},
		{"more users than files", func(c *Config) { c.Users = 1 << 30 }, "open files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
			if tc.name == "remote" && !errors.Is(err, ErrRemoteTarget) {
				t.Errorf("%v is not ErrRemoteTarget", err)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := PercentilesOf(d)
	want := Percentiles{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := PercentilesOf(nil); got != (Percentiles{}) {
		t.Fatalf("empty: %+v", got)
	}
	if got := PercentilesOf([]time.Duration{3 * time.Millisecond}); got != (Percentiles{1, 3, 3, 3, 3}) {
		t.Fatalf("one: %+v", got)
	}
}

// TestLoadReportTable pins the table people read (golden file; go test
// -run TestLoadReportTable -update rewrites it) and checks the JSON names
// that scripts such as make bench read.
func TestLoadReportTable(t *testing.T) {
	rep := &Report{
		Server: "ws://127.0.0.1:7880/ws", Users: 40, Pairs: 20, Media: true,
		OfferedRate: 4, Duration: 5, HoldSec: 10,
		LoggedIn: 40, LoginSec: 0.114, Login: Percentiles{40, 91, 109, 114, 114},
		Attempted: 20, Completed: 19, Failed: 1, FailedBy: map[string]int{"audio: no audio arrived within the call timeout": 1},
		AchievedRate: 1.4, PeakConcurrent: 20,
		Signaling: Percentiles{57, 1.06, 3.92, 6.82, 6.82},
		Requests: map[string]Percentiles{
			"invite": {20, 0.55, 1.93, 2.15, 2.15}, "accept": {19, 1.2, 4.58, 6.82, 6.82}, "hangup": {18, 1.77, 3.66, 3.92, 3.92},
		},
		Setup:      Percentiles{19, 3.01, 6.83, 8.01, 8.01},
		AudioSetup: &Percentiles{19, 29.1, 45, 51, 51},
		Audio:      &AudioHealth{Calls: 19, Received: 19039, Late: 16, Concealed: 16, CallsWithoutAudio: 1},
		Process:    &ProcessStats{CPUPercent: 68, RSSLoggedInMB: 36, RSSPeakMB: 102},
		CPUs:       2, MachineBusy: 87, LoadAvg: [2]float64{1.25, 2.5},
		Warnings: []string{"a warning"},
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "loadreport.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s (-update rewrites it):\n%s", golden, buf.String())
	}
	if got := rep.Problems(); got != "1 of 20 calls failed, 1 calls without audio, 16 frames concealed at the receivers" {
		t.Errorf("problems: %q", got)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"achievedCallsPerSec", "attempted", "completed", "failed", "notPlaced", "signaling", "setup", "audioSetup", "audio", "process"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, b)
		}
	}
	if p99 := m["signaling"].(map[string]any)["p99Ms"]; p99 != 6.82 {
		t.Errorf("signaling.p99Ms = %v", p99)
	}
}

// TestLoadAcrossNodes spreads the users over two nodes of a cluster (two
// servers on embedded NATS servers routed on loopback): the two users of
// each pair are on different nodes, so every call crosses them, and every
// one completes; each node counts its own half of the logins.
func TestLoadAcrossNodes(t *testing.T) {
	// The NATS servers run in processes of their own (testenv.NATSNodes
	// says why); each call server joins one, as `softphone serve --nats`.
	urls := testenv.NATSNodes(t, 2, "loadtest", calltest.Key)
	cls := make([]*signaling.NATSCluster, 2)
	for i := range cls {
		cl, err := signaling.NewNATSCluster(signaling.NATSConfig{URL: urls[i], Name: "loadtest", Replicas: 2,
			SecretKey: calltest.Key, Logger: calltest.DebugLog()})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { cl.Close() })
		cls[i] = cl
	}
	var nodes []*calltest.Server
	for _, cl := range cls {
		nodes = append(nodes, calltest.NewServer(t, func(c *signaling.Config) { c.Cluster = cl }))
	}
	cfg := loadConfig(nodes[0], 20, 20, 2*time.Second)
	cfg.ServerURLs = []string{nodes[1].URL}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Completed != 40 || rep.LoggedIn != 20 {
		t.Fatalf("report: %+v", rep)
	}
	var connected uint64
	for i, n := range nodes {
		st := n.Srv.Stats()
		connected += st.CallsConnected
		if st.Logins != 10 {
			t.Errorf("node %d counted %d logins, want 10", i, st.Logins)
		}
	}
	if connected != 40 {
		t.Errorf("the nodes connected %d calls, the report completed 40", connected)
	}
}
