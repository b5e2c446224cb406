package signaling

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"softphone/internal/testenv"
)

// The cluster's tests run real nodes: three Servers, each with its own
// NATSCluster, on a real NATS cluster of three embedded servers (routes on
// loopback, each in a process of its own: testenv.NATSNodes says why),
// sharing one manual clock. TestCluster runs the one-server
// tests of the call state machine again with their users spread over the
// three nodes (the harness's dial goes to the nodes in turn): every push
// each user gets must be the same as on one server.

// testNATS is the NATS cluster that TestCluster's subtests share (each
// with buckets and subjects of its own).
var testNATS struct {
	mu   sync.Mutex
	urls []string
	seq  atomic.Int64
}

// clusterFor returns the NATS cluster for t when t runs under TestCluster.
func clusterFor(t *testing.T) []string {
	if !strings.HasPrefix(t.Name(), "TestCluster/") {
		return nil
	}
	testNATS.mu.Lock()
	defer testNATS.mu.Unlock()
	return testNATS.urls
}

func testLog() *slog.Logger {
	if os.Getenv("SOFTPHONE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newClusterHarness starts three Servers on the shared NATS cluster (as
// `softphone serve --nats URL` does), with buckets of their own.
func newClusterHarness(t *testing.T, urls []string, edit func(*Config)) *harness {
	t.Helper()
	running := testenv.Running()
	clock := NewManualClock(testStart)
	name := fmt.Sprintf("t%d", testNATS.seq.Add(1))
	h := &harness{t: t, clock: clock}
	dbg := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("DEBUG servers' log:\n%s", dbg.String())
		}
	})
	for i := range 3 {
		cl, err := NewNATSCluster(NATSConfig{URL: urls[i], Name: name, SecretKey: testKey, Replicas: 3, Logger: testLog()})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{SecretKey: testKey, SDKAppID: testApp, Clock: clock, IdleTimeout: 24 * time.Hour, Cluster: cl}
		if edit != nil {
			edit(&cfg)
		}
		if l := testLog(); l != nil {
			cfg.Logger = l
		} else {
			cfg.Logger = slog.New(slog.NewTextHandler(dbg, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i)
		}
		h.nodes = append(h.nodes, serveOnLoopback(t, cfg, clock))
	}
	h.srv, h.url, h.ln, h.done = h.nodes[0].srv, h.nodes[0].url, h.nodes[0].ln, h.nodes[0].done
	// Each node hears the others' heartbeats before the test begins.
	testenv.WaitFor(t, "the nodes to see each other", wait, func() bool {
		for _, n := range h.nodes {
			if len(n.srv.cl.liveNodes()) < 3 {
				return false
			}
		}
		return true
	})
	t.Cleanup(func() {
		for _, n := range h.nodes {
			n.shutdown()
		}
		dropBuckets(t, urls[0], name)
		running.Check(t)
	})
	return h
}

// dropBuckets deletes a test's buckets.
func dropBuckets(t testing.TB, url, name string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Errorf("drop buckets: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, b := range []string{name + "_presence", name + "_calls"} {
		if err := js.DeleteKeyValue(ctx, b); err != nil {
			t.Errorf("drop bucket %s: %v", b, err)
		}
	}
}

// TestCluster runs the call state machine's tests on three nodes.
func TestCluster(t *testing.T) {
	urls := testenv.NATSNodes(t, 3, "testnats", testKey)
	testNATS.mu.Lock()
	testNATS.urls = urls
	testNATS.mu.Unlock()
	defer func() {
		testNATS.mu.Lock()
		testNATS.urls = nil
		testNATS.mu.Unlock()
	}()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"CallerCancels", TestCallerCancels},
		{"CalleeTimesOut", TestCalleeTimesOut},
		{"CalleeRejects", TestCalleeRejects},
		{"CalleeBusy", TestCalleeBusy},
		{"CalleeOffline", TestCalleeOffline},
		{"SecondLoginKicksTheFirst", TestSecondLoginKicksTheFirst},
		{"ConnectedCallAndHangup", TestConnectedCallAndHangup},
		{"GroupCall", TestGroupCall},
		{"GroupCallAllDecline", TestGroupCallAllDecline},
		{"InviteMoreAndSizeCap", TestInviteMoreAndSizeCap},
		{"Authorisation", TestAuthorisation},
		{"SwitchMedia", TestSwitchMedia},
		{"TicketExpiresWhileOnline", TestTicketExpiresWhileOnline},
		{"GraceResumeAndExpiry", TestGraceResumeAndExpiry},
		{"ResumeReplacesLiveConnection", TestResumeReplacesLiveConnection},
		{"Logout", TestLogout},
		{"RingingCalleeLostConnection", TestRingingCalleeLostConnection},
		{"RingingCalleeResumes", TestRingingCalleeResumes},
		{"InviteLimits", TestInviteLimits},
		{"RelayLimits", TestRelayLimits},
		{"RelayPayloadChecked", TestRelayPayloadChecked},
		{"MemberListCapped", TestMemberListCapped},
		{"NamedRoomsAreTheCallers", TestNamedRoomsAreTheCallers},
		{"DisconnectWithoutCallEndsSession", TestDisconnectWithoutCallEndsSession},
		{"StatsCounts", TestStatsCounts},
		{"ClientCallFlow", TestClientCallFlow},
		{"ClientKicked", TestClientKicked},
		{"ClientTicketExpires", TestClientTicketExpires},
		{"ClientResumesWithinGrace", TestClientResumesWithinGrace},
		{"ClientAfterGrace", TestClientAfterGrace},
		{"ClientConcurrentRequests", TestClientConcurrentRequests},
		{"ClientKickedWhileAway", TestClientKickedWhileAway},
		{"ClientWaitingRequestFailsWhenRefused", TestClientWaitingRequestFailsWhenRefused},
		{"ClientTicketExpiresWhileAway", TestClientTicketExpiresWhileAway},
	} {
		t.Run(tc.name, tc.f)
	}
}
