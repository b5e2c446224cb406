package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// Issue 16 against the real binary: three `softphone serve` processes form
// one call service over their embedded NATS servers (routes on loopback),
// phones spread over them call each other with audio, and one node is
// killed with SIGKILL in the middle of a call and of an invitation.

// startServeCluster runs n `softphone serve` nodes of one cluster and
// returns them once all are up (each waits for the others' NATS servers
// before it prints its banner).
func startServeCluster(t *testing.T, n int, key string) []*serveProc {
	t.Helper()
	bin := softphoneBinary(t)
	var addrs, routes []string
	for range n {
		a := testenv.FreeAddr(t)
		addrs = append(addrs, a)
		routes = append(routes, "nats://"+a)
	}
	banners := make([]func() *serveProc, n)
	for i := range n {
		banners[i] = launchServe(t, []string{bin, "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0",
			"--secret-key-file", key, "--log-level", "info", "--cluster-name", "clustertest",
			"--cluster-listen", addrs[i], "--routes", strings.Join(routes, ",")})
	}
	procs := make([]*serveProc, n)
	for i, b := range banners {
		procs[i] = b()
	}
	return procs
}

// rotated is urls starting at the i-th: a phone's own node first, then
// the others to move on to.
func rotated(urls []string, i int) []string {
	return append(slices.Clone(urls[i:]), urls[:i]...)
}

// TestClusterSurvivesNodeKill: alice (on node 0) calls bob (node 1), dave
// (node 0) rings erin (node 2); the call's events are those of a call on
// one server. Node 0, which runs both calls, is killed with SIGKILL: alice
// and dave reconnect to another node and see "reconnecting" and nothing
// else, audio flows throughout, the call is the same call (carol, on node
// 2, invited into it gets its callId), and erin's ringing invitation,
// taken over with its timer, can still be accepted.
func TestClusterSurvivesNodeKill(t *testing.T) {
	key := calltestKey(t)

	// The same call on one server, for the events a cluster must match.
	one := startServe(t, []string{softphoneBinary(t), "serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0",
		"--secret-key-file", key, "--log-level", "warn"})
	sv1 := calltest.External(t, one.url)
	a1, b1 := sv1.Engine("alice1", nil), sv1.Engine("bob1", nil)
	calltest.Connect(t, a1, b1)

	procs := startServeCluster(t, 3, key)
	var urls []string
	for _, p := range procs {
		urls = append(urls, p.url)
	}
	sv := calltest.External(t, urls[0])
	on := func(user string, node int) *calltest.Engine {
		return sv.Engine(user, func(c *engine.Config) { c.ServerURL, c.ServerURLs = "", rotated(urls, node) })
	}
	alice, bob, carol := on("alice1", 0), on("bob1", 1), on("carol", 2)
	dave, erin := on("dave", 0), on("erin", 2)
	for i, e := range []*calltest.Engine{alice, bob, carol, dave, erin} {
		if want := urls[[]int{0, 1, 2, 0, 2}[i]]; e.ServerURL() != want {
			t.Fatalf("%s logged in to %s, want %s", e.UserID(), e.ServerURL(), want)
		}
	}
	calltest.Connect(t, alice, bob)
	for _, pair := range [][2]*calltest.Engine{{a1, alice}, {b1, bob}} {
		if one, many := pair[0].CallEvents(), pair[1].CallEvents(); !slices.Equal(one, many) {
			t.Fatalf("%s across nodes saw %q, on one server %q", pair[1].UserID(), many, one)
		}
	}
	began, _ := calltest.Last[engine.CallBegin](alice)
	calltest.Must(t, "dave calls erin", dave.Call(calltest.Ctx(t), []string{"erin"}, engine.CallParams{}))
	rcv := calltest.Expect(erin, func(engine.CallReceived) bool { return true })
	na, nb, nd, ne := len(alice.CallEvents()), len(bob.CallEvents()), len(dave.CallEvents()), len(erin.CallEvents())

	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range procs {
				t.Logf("node %d's log:\n%s", i, lastLines(p.stderr.String(), 40))
			}
		}
	})
	// Call snapshots are written behind the owner's back (within 20 ms
	// of a change, asynchronously): an invitation younger than that dies
	// with its node (both sides hear it cancelled). This one is older.
	time.Sleep(200 * time.Millisecond)
	calltest.Must(t, "kill -9 node 0", procs[0].cmd.Process.Signal(syscall.SIGKILL))
	<-procs[0].exited
	procs[0].exited <- nil
	alice.WaitHas("onConnectionChanged(reconnecting)")
	dave.WaitHas("onConnectionChanged(reconnecting)")
	alice.VolumeOf("bob1", 5) // media goes on without the node
	for _, te := range []*calltest.Engine{alice, dave} {
		te.WaitCount("onConnectionChanged(connected)", 2) // the login, and back
		if te.ServerURL() == urls[0] {
			t.Fatalf("%s is connected to the dead node", te.UserID())
		}
	}
	alice.VolumeOf("bob1", 5)
	bob.VolumeOf("alice1", 5)
	for i, got := range [][]string{alice.CallEvents()[na:], dave.CallEvents()[nd:]} {
		if len(got) != 1 || got[0] != "onConnectionChanged(reconnecting)" {
			t.Fatalf("%s saw %q across the kill, want only reconnecting\n%s", []string{"alice", "dave"}[i], got, dave.Dump())
		}
	}
	for i, got := range [][]string{bob.CallEvents()[nb:], erin.CallEvents()[ne:]} {
		if len(got) != 0 {
			t.Fatalf("%s (on a live node) saw %q across the kill, want nothing", []string{"bob", "erin"}[i], got)
		}
	}

	// The invitation rang on: erin accepts, and dave and erin talk.
	calltest.Must(t, "erin accepts", erin.Accept(calltest.Ctx(t)))
	calltest.Expect(dave, func(engine.CallBegin) bool { return true })
	if b := calltest.Expect(erin, func(engine.CallBegin) bool { return true }); b.CallID != rcv.CallID {
		t.Fatalf("erin's call began as %q, want the invitation from before the kill %q", b.CallID, rcv.CallID)
	}
	dave.VolumeOf("erin", 5)
	erin.VolumeOf("dave", 5)

	// The call is the same call: carol invited into it gets its callId.
	calltest.Must(t, "invite carol", alice.Invite(calltest.Ctx(t), []string{"carol"}))
	if rcv := calltest.Expect(carol, func(engine.CallReceived) bool { return true }); rcv.CallID != began.CallID {
		t.Fatalf("carol was invited to %q, want the call from before the kill %q", rcv.CallID, began.CallID)
	}
	calltest.Must(t, "carol accepts", carol.Accept(calltest.Ctx(t)))
	carol.VolumeOf("alice1", 5)
	carol.VolumeOf("bob1", 5)
	calltest.Must(t, "bob hangs up", bob.Hangup(calltest.Ctx(t)))
	alice.ExpectEvent(engine.UserLeave{UserID: "bob1", Reason: "hangup"})
	carol.ExpectEvent(engine.UserLeave{UserID: "bob1", Reason: "hangup"})
}
