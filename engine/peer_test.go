package engine

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"softphone/internal/testenv"
)

// peerPair connects two peers through in-process signal queues (the server's
// relay is tested elsewhere; here only the pion side is under test).
type peerPair struct {
	a, b           *peer
	trackA, trackB *audioTrack
	gotA, gotB     atomic.Int64                      // audio packets received by a and by b
	pumpA          atomic.Bool                       // the 20 ms pump writes a's track (on at the start)
	tapB           atomic.Pointer[func(*rtp.Packet)] // sees each packet b receives
	offersFromA    atomic.Int64
	toA            func(signalMsg)                 // relays to a
	signalB        atomic.Pointer[func(signalMsg)] // b's signal function (toA unless a test swaps it)
	stop           chan struct{}
}

func newTestTrack(t testing.TB, id string) *audioTrack {
	t.Helper()
	return newAudioTrack(id)
}

func testMediaConfig() mediaConfig {
	return mediaConfig{
		ICEDisconnected: 2 * time.Second, ICEFailed: 6 * time.Second, ICEKeepalive: 500 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	}
}

func newPeerPair(t testing.TB, cfg mediaConfig) *peerPair {
	t.Helper()
	return newPeerPairNets(t, cfg, cfg)
}

func newPeerPairNets(t testing.TB, cfgA, cfgB mediaConfig) *peerPair {
	t.Helper()
	return newPeerPairTracks(t, cfgA, cfgB, newTestTrack(t, "alice"), true, nil)
}

// newPeerPairTracks connects a peer pair with trackA as a's track, pumped
// from the start if pumpA, and tapB (if not nil) seeing b's packets from the
// first.
func newPeerPairTracks(t testing.TB, cfgA, cfgB mediaConfig, trackA *audioTrack, pumpA bool, tapB func(*rtp.Packet)) *peerPair {
	t.Helper()
	pp := &peerPair{trackA: trackA, trackB: newTestTrack(t, "bob"), stop: make(chan struct{})}
	pp.pumpA.Store(pumpA)
	if tapB != nil {
		pp.tapB.Store(&tapB)
	}
	toA, toB := make(chan signalMsg, 1024), make(chan signalMsg, 1024)
	var err error
	pp.a, err = newPeer("alice", "bob", cfgA, pp.trackA, false, peerEvents{
		signal: func(m signalMsg) {
			if m.Kind == "offer" {
				pp.offersFromA.Add(1)
			}
			toB <- m
		},
		audio: func(*rtp.Packet) { pp.gotA.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	pp.toA = func(m signalMsg) { toA <- m }
	pp.signalB.Store(&pp.toA)
	pp.b, err = newPeer("bob", "alice", cfgB, pp.trackB, false, peerEvents{
		signal: func(m signalMsg) { (*pp.signalB.Load())(m) },
		audio: func(p *rtp.Packet) {
			pp.gotB.Add(1)
			if f := pp.tapB.Load(); f != nil {
				(*f)(p)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	relay := func(ch chan signalMsg, p *peer) {
		for {
			select {
			case m := <-ch:
				p.handle(m)
			case <-pp.stop:
				return
			}
		}
	}
	go relay(toA, pp.a)
	go relay(toB, pp.b)
	// 20 ms frames from both sides, as the audio pipeline would send them.
	go func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		frame := make([]byte, 80)
		for {
			select {
			case <-tk.C:
				if pp.pumpA.Load() {
					pp.trackA.write(frame, 0)
				}
				pp.trackB.write(frame, 0)
			case <-pp.stop:
				return
			}
		}
	}()
	return pp
}

func (pp *peerPair) close() {
	close(pp.stop)
	pp.a.close()
	pp.b.close()
}

func TestPeersConnectAndCarryAudioBothWays(t *testing.T) {
	testenv.NoLeaks(t)
	pp := newPeerPair(t, testMediaConfig())
	testenv.WaitFor(t, "audio both ways", 20*time.Second, func() bool { return pp.gotA.Load() > 25 && pp.gotB.Load() > 25 })
	if !pp.a.offerer || pp.b.offerer {
		t.Fatal("glare rule: alice < bob must offer")
	}
	testenv.WaitFor(t, "link stats", 10*time.Second, func() bool {
		ls := pp.b.linkStats(time.Now())
		return ls.HaveData && !ls.Failed
	})
	q := qualityOf(pp.b.linkStats(time.Now()))
	if q != QualityExcellent && q != QualityGood {
		t.Errorf("loopback quality %v", q)
	}
	pp.close()
}

func TestPeerICERestartKeepsAudioFlowing(t *testing.T) {
	pp := newPeerPair(t, testMediaConfig())
	defer pp.close()
	testenv.WaitFor(t, "audio", 20*time.Second, func() bool { return pp.gotB.Load() > 10 })
	// The answering side asks for a restart; the offerer must renegotiate
	// with new ICE credentials and media must keep arriving.
	pp.b.handle(signalMsg{Kind: "renegotiate"}) // ignored: b is not the offerer
	pp.b.ev.signal(signalMsg{Kind: "renegotiate", ICERestart: true})
	n := pp.gotB.Load()
	testenv.WaitFor(t, "audio after restart", 20*time.Second, func() bool { return pp.gotB.Load() > n+50 })
	if st := pp.a.pc.SignalingState(); st != webrtc.SignalingStateStable {
		t.Fatalf("signaling state after restart: %v", st)
	}
}

// An ICE restart while an offer's answer is lost (the signaling path broke
// with the media path) replaces that offer; a late answer to the replaced
// offer is ignored, and the pair reconnects.
func TestPeerRestartReplacesAnUnansweredOffer(t *testing.T) {
	pp := newPeerPair(t, testMediaConfig())
	defer pp.close()
	testenv.WaitFor(t, "audio", 20*time.Second, func() bool { return pp.gotB.Load() > 10 })
	// An offer whose answer will never be applied: b's answer goes nowhere.
	var lost signalMsg
	answered := make(chan struct{})
	swallow := func(m signalMsg) {
		if m.Kind == "answer" && lost.Kind == "" {
			lost = m
			close(answered)
		}
	}
	pp.signalB.Store(&swallow)
	pp.a.do(func() { pp.a.negotiate(false, false) })
	<-answered
	// a sends its offer before applying it; wait for the apply.
	testenv.WaitFor(t, "a to hold its unanswered offer", 10*time.Second, func() bool {
		return pp.a.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer
	})
	pp.signalB.Store(&pp.toA)
	pp.a.do(func() { pp.a.negotiate(true, true) }) // the restart path
	testenv.WaitFor(t, "stable after the replacing offer", 20*time.Second, func() bool {
		return pp.a.pc.SignalingState() == webrtc.SignalingStateStable
	})
	pp.a.handle(lost) // the late answer to the replaced offer
	n := pp.gotB.Load()
	testenv.WaitFor(t, "audio after the restart", 20*time.Second, func() bool { return pp.gotB.Load() > n+50 })
	if st := pp.a.pc.SignalingState(); st != webrtc.SignalingStateStable {
		t.Fatalf("a is %v after the late answer", st)
	}
}

// admit: a message names the connections it is from and for; messages of
// earlier connections, on either side, are dropped, and a new connection
// of the remote's, which cannot know ours yet, replaces ours.
func TestPeerAdmit(t *testing.T) {
	p := &peer{id: newPeerID()}
	old, cur := newPeerID(), newPeerID()
	newer := newPeerID()
	if !(p.id < old && old < cur && cur < newer) {
		t.Fatalf("ids do not grow: %d %d %d %d", p.id, old, cur, newer)
	}
	steps := []struct {
		m    signalMsg
		want admission
	}{
		{signalMsg{Kind: "candidate"}, admitted},                     // a client without ids
		{signalMsg{Kind: "offer", Sid: cur}, admitted},               // their first message: we learn their id
		{signalMsg{Kind: "candidate", Sid: cur, To: p.id}, admitted}, // for us, from them
		{signalMsg{Kind: "candidate", Sid: cur, To: p.id - 1}, stale},
		{signalMsg{Kind: "offer", Sid: old}, stale}, // their earlier connection's, late
		{signalMsg{Kind: "candidate", Sid: old, To: p.id}, stale},
		{signalMsg{Kind: "offer", Sid: newer}, remoteAnew},
		{signalMsg{Kind: "answer", Sid: newer, To: p.id}, admitted}, // knows us: theirs now
		{signalMsg{Kind: "candidate", Sid: cur, To: p.id}, stale},
	}
	for i, s := range steps {
		if got := p.admit(s.m); got != s.want {
			t.Fatalf("step %d %+v: got %d, want %d", i, s.m, got, s.want)
		}
	}
	if p.remoteID.Load() != newer {
		t.Fatalf("remote id %d, want %d", p.remoteID.Load(), newer)
	}

	// The offering side learns the answerer's id from its answer, not from
	// a renegotiate sent before our offer arrived (a late one of an
	// earlier connection would make us address our offer to it).
	o := &peer{id: newPeerID(), offerer: true}
	if got := o.admit(signalMsg{Kind: "renegotiate", Sid: old}); got != admitted || o.remoteID.Load() != 0 {
		t.Fatalf("offerer, renegotiate before the offer: %d, remote id %d", got, o.remoteID.Load())
	}
	if got := o.admit(signalMsg{Kind: "answer", Sid: cur, To: o.id}); got != admitted || o.remoteID.Load() != cur {
		t.Fatalf("offerer, answer: %d, remote id %d", got, o.remoteID.Load())
	}
}
