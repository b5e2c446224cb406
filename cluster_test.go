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
	argvs := serveClusterArgs(t, n, key, "127.0.0.1:0")
	banners := make([]func() *serveProc, n)
	for i, argv := range argvs {
		banners[i] = launchServe(t, argv)
	}
	procs := make([]*serveProc, n)
	for i, b := range banners {
		procs[i] = b()
	}
	return procs
}

// serveClusterArgs are the command lines of n nodes of one cluster. listen
// is their WebSocket address: 127.0.0.1:0 for any port, "" for a free port
// of each node's own that it keeps when it is started again.
func serveClusterArgs(t *testing.T, n int, key, listen string) [][]string {
	t.Helper()
	bin := softphoneBinary(t)
	var addrs, routes []string
	for range n {
		a := testenv.FreeAddr(t)
		addrs = append(addrs, a)
		routes = append(routes, "nats://"+a)
	}
	argvs := make([][]string, n)
	for i := range n {
		l := listen
		if l == "" {
			l = testenv.FreeAddr(t)
		}
		argvs[i] = []string{bin, "serve", "--listen", l, "--turn-listen", "127.0.0.1:0",
			"--secret-key-file", key, "--log-level", "info", "--cluster-name", "clustertest",
			"--cluster-listen", addrs[i], "--routes", strings.Join(routes, ",")}
	}
	return argvs
}

// rotated is urls starting at the i-th: a phone's own node first, then
// the others to move on to.
func rotated(urls []string, i int) []string {
	return append(slices.Clone(urls[i:]), urls[:i]...)
}

// joinSameCall: member invites newcomer into its call, which must still be
// the call id of the start; newcomer accepts and hears member and other.
func joinSameCall(t *testing.T, member, newcomer *calltest.Engine, id, other string) {
	t.Helper()
	calltest.Must(t, "invite "+newcomer.UserID(), member.Invite(calltest.Ctx(t), []string{newcomer.UserID()}))
	if rcv := calltest.Expect(newcomer, func(engine.CallReceived) bool { return true }); rcv.CallID != id {
		t.Fatalf("%s was invited to %q, want the call from before %q", newcomer.UserID(), rcv.CallID, id)
	}
	calltest.Must(t, newcomer.UserID()+" accepts", newcomer.Accept(calltest.Ctx(t)))
	newcomer.VolumeOf(member.UserID(), 5)
	newcomer.VolumeOf(other, 5)
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
	joinSameCall(t, alice, carol, began.CallID, "bob1")
	calltest.Must(t, "bob hangs up", bob.Hangup(calltest.Ctx(t)))
	alice.ExpectEvent(engine.UserLeave{UserID: "bob1", Reason: "hangup"})
	carol.ExpectEvent(engine.UserLeave{UserID: "bob1", Reason: "hangup"})
}

// TestClusterRollingRestart: a rolling restart (SIGTERM to one node at a
// time, started again before the next) loses no call. alice (node 0) and
// bob (node 1) talk; dave (node 0) rings erin (node 2). Each node in turn
// is stopped and started again, so that the calls move from node to node,
// some of them taken over a second and a third time: the phones of the
// stopped node reconnect elsewhere and see "reconnecting" and nothing
// else, the others see nothing, audio flows throughout, erin's invitation
// rings on across the first restart and is accepted, and at the end the
// calls are the calls of the start and a new call can be placed.
func TestClusterRollingRestart(t *testing.T) {
	key := calltestKey(t)
	argvs := serveClusterArgs(t, 3, key, "")
	procs := make([]*serveProc, 3)
	banners := make([]func() *serveProc, 3)
	for i, argv := range argvs {
		banners[i] = launchServe(t, argv)
	}
	for i, b := range banners {
		procs[i] = b()
	}
	var urls []string
	for _, p := range procs {
		urls = append(urls, p.url)
	}
	logs := make([]string, 3) // the logs of the nodes stopped so far
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range procs {
				t.Logf("node %d's log before its restart:\n%s", i, lastLines(logs[i], 40))
				t.Logf("node %d's log:\n%s", i, lastLines(p.stderr.String(), 40))
			}
		}
	})
	sv := calltest.External(t, urls[0])
	on := func(user string, node int) *calltest.Engine {
		return sv.Engine(user, func(c *engine.Config) { c.ServerURL, c.ServerURLs = "", rotated(urls, node) })
	}
	alice, bob, carol := on("alice", 0), on("bob", 1), on("carol", 2)
	dave, erin := on("dave", 0), on("erin", 2)
	phones := []*calltest.Engine{alice, bob, carol, dave, erin}
	for i, e := range phones {
		if want := urls[[]int{0, 1, 2, 0, 2}[i]]; e.ServerURL() != want {
			t.Fatalf("%s logged in to %s, want %s", e.UserID(), e.ServerURL(), want)
		}
	}
	calltest.Connect(t, alice, bob)
	began, _ := calltest.Last[engine.CallBegin](alice)
	calltest.Must(t, "dave calls erin", dave.Call(calltest.Ctx(t), []string{"erin"}, engine.CallParams{}))
	rcv := calltest.Expect(erin, func(engine.CallReceived) bool { return true })
	// Older than the 20 ms within which call snapshots are saved.
	time.Sleep(200 * time.Millisecond)

	for i := range procs {
		var moving []*calltest.Engine // the phones on node i
		seen := make([]int, len(phones))
		conns := make([]int, len(phones))
		for k, e := range phones {
			seen[k], conns[k] = len(e.CallEvents()), e.Count("onConnectionChanged(connected)")
			if e.ServerURL() == urls[i] {
				moving = append(moving, e)
			}
		}
		idle := func(e *calltest.Engine) bool { return e == carol } // in no call
		t.Logf("SIGTERM node %d (%d phones on it)", i, len(moving))
		stopped := time.Now()
		calltest.Must(t, "SIGTERM", procs[i].cmd.Process.Signal(syscall.SIGTERM))
		if err := <-procs[i].exited; err != nil {
			t.Fatalf("node %d exited with %v after SIGTERM", i, err)
		}
		procs[i].exited <- nil
		logs[i] += procs[i].stderr.String()
		for k, e := range phones {
			if !slices.Contains(moving, e) {
				continue
			}
			e.WaitCount("onConnectionChanged(connected)", conns[k]+1)
			if e.ServerURL() == urls[i] {
				t.Fatalf("%s is connected to the stopped node %d", e.UserID(), i)
			}
		}
		t.Logf("node %d's phones back on other nodes %v after its SIGTERM", i, time.Since(stopped).Round(time.Millisecond))
		if i == 0 { // the invitation rang on across the first restart
			// dave, ringing and not yet in a call, is told that the
			// server is going (engine.ServerShutdown).
			if got, want := dave.CallEvents()[seen[3]:], []string{"onError(5002)", "onConnectionChanged(reconnecting)"}; !slices.Equal(got, want) {
				t.Fatalf("dave saw %q across the SIGTERM, want %q\n%s", got, want, dave.Dump())
			}
			if got := erin.CallEvents()[seen[4]:]; len(got) != 0 {
				t.Fatalf("erin saw %q across the SIGTERM, want nothing\n%s", got, erin.Dump())
			}
			moving = slices.DeleteFunc(moving, func(e *calltest.Engine) bool { return e == dave })
			calltest.Must(t, "erin accepts", erin.Accept(calltest.Ctx(t)))
			calltest.Expect(dave, func(engine.CallBegin) bool { return true })
			if b := calltest.Expect(erin, func(engine.CallBegin) bool { return true }); b.CallID != rcv.CallID {
				t.Fatalf("erin's call began as %q, want the invitation from before the restart %q", b.CallID, rcv.CallID)
			}
			dave.WaitHas("onUserAudioAvailable(erin,true)")
			erin.WaitHas("onUserAudioAvailable(dave,true)")
			seen[3], seen[4] = len(dave.CallEvents()), len(erin.CallEvents())
		}
		alice.VolumeOf("bob", 5)
		bob.VolumeOf("alice", 5)
		dave.VolumeOf("erin", 5)
		erin.VolumeOf("dave", 5)

		restarted := time.Now()
		procs[i] = startServe(t, argvs[i]) // its banner: it heard from the others
		t.Logf("node %d back (its banner) %v after its start", i, time.Since(restarted).Round(time.Millisecond))
		if procs[i].url != urls[i] {
			t.Fatalf("node %d came back at %s, want %s", i, procs[i].url, urls[i])
		}
		alice.VolumeOf("bob", 5)
		bob.VolumeOf("alice", 5)
		for k, e := range phones {
			got, want := e.CallEvents()[seen[k]:], []string(nil)
			if slices.Contains(moving, e) {
				want = []string{"onConnectionChanged(reconnecting)"}
				if idle(e) { // told the server is going (engine.ServerShutdown)
					want = []string{"onError(5002)", "onConnectionChanged(reconnecting)"}
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s saw %q across node %d's restart, want %q\n%s", e.UserID(), got, i, want, e.Dump())
			}
		}
	}

	// The call is the same call: carol invited into it gets its callId.
	joinSameCall(t, alice, carol, began.CallID, "bob")
	// A new call, on the restarted service.
	calltest.Must(t, "dave hangs up", dave.Hangup(calltest.Ctx(t)))
	calltest.Expect(dave, func(engine.CallEnd) bool { return true })
	calltest.Expect(erin, func(engine.CallEnd) bool { return true })
	calltest.Connect(t, erin, dave)
	erin.VolumeOf("dave", 5)
	dave.VolumeOf("erin", 5)
}
