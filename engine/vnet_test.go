package engine

import (
	"softphone/internal/testenv"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
)

// LossyLAN is a virtual network (pion vnet) with two hosts; every packet a
// host receives passes its loss filter, so tests can set loss or cut the
// link without touching the machine's network.
type LossyLAN struct {
	router       *vnet.Router
	NetA, NetB   *vnet.Net
	lossA, lossB *vnet.LossFilter
}

func NewLossyLAN(t *testing.T) *LossyLAN {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	l := &LossyLAN{router: r}
	for _, h := range []struct {
		ip   string
		net  **vnet.Net
		loss **vnet.LossFilter
	}{{"10.0.0.1", &l.NetA, &l.lossA}, {"10.0.0.2", &l.NetB, &l.lossB}} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{h.ip}})
		if err != nil {
			t.Fatal(err)
		}
		// Shuffled blocks drop exactly pct of every 20 packets: a random
		// filter at 10 % leaves fewer than 3 % of a 2 s window's 100
		// packets lost about once in 500 runs, which failed CI.
		f, err := vnet.NewLossFilter(n, 0, vnet.WithShuffleLossHandler(20))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(f); err != nil {
			t.Fatal(err)
		}
		*h.net, *h.loss = n, f
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return l
}

// SetLoss sets the loss percentage in both directions.
func (l *LossyLAN) SetLoss(t *testing.T, pct int) {
	t.Helper()
	if err := l.lossA.SetLossRate(pct, true); err != nil {
		t.Fatal(err)
	}
	if err := l.lossB.SetLossRate(pct, true); err != nil {
		t.Fatal(err)
	}
}

// TestPeerQualityFollowsTheNetwork: 0 % loss reads Excellent or Good, 10 %
// reads Poor or worse, a cut link reads Down once its media has been silent
// for mediaTimeout (judged on the last packet's clock, not against the
// scheduler's), and the link coming back brings the quality back.
func TestPeerQualityFollowsTheNetwork(t *testing.T) {
	lan := NewLossyLAN(t)
	cfgA, cfgB := testMediaConfig(), testMediaConfig()
	cfgA.Net, cfgB.Net = lan.NetA, lan.NetB
	// Different nets per side: build the pair by hand.
	pp := newPeerPairNets(t, cfgA, cfgB)
	defer pp.close()
	testenv.WaitFor(t, "audio", 20*time.Second, func() bool { return pp.gotB.Load() > 25 })

	// Quality is judged over a 2 s window, as the engine reports it.
	window := func() NetworkQuality {
		pp.b.linkStats(time.Now()) // start a fresh window
		time.Sleep(2 * time.Second)
		return qualityOf(pp.b.linkStats(time.Now()))
	}
	if q := window(); q != QualityExcellent && q != QualityGood {
		t.Fatalf("0%% loss: %v, want Excellent or Good", q)
	}
	lan.SetLoss(t, 10)
	if q := window(); q < QualityPoor {
		t.Fatalf("10%% loss: %v, want Poor or worse", q)
	}
	lan.SetLoss(t, 100)
	testenv.WaitFor(t, "Down after the cut", 20*time.Second, func() bool {
		return qualityOf(pp.b.liveness(time.Now())) == QualityDown
	})
	// The rule, on the clock of the last packet rather than the
	// scheduler's: not Down just before mediaTimeout of silence, Down at it
	// (ICE failing later is a separate reason for Down, left out here).
	last, _ := pp.b.lastArrival()
	silentFor := func(d time.Duration) NetworkQuality {
		ls := pp.b.liveness(last.Add(d))
		ls.Failed = false
		return qualityOf(ls)
	}
	if q := silentFor(mediaTimeout - time.Millisecond); q == QualityDown {
		t.Fatalf("Down %v after the last packet, before mediaTimeout", mediaTimeout-time.Millisecond)
	}
	if q := silentFor(mediaTimeout); q != QualityDown {
		t.Fatalf("%v after the last packet: %v, want Down", mediaTimeout, q)
	}
	lan.SetLoss(t, 0)
	testenv.WaitFor(t, "recovery", 30*time.Second, func() bool {
		q := window()
		return q == QualityExcellent || q == QualityGood
	})
}

// TestPeerRestartsICEAfterACut: a link cut long enough to disconnect ICE
// makes the offerer send an ICE-restart offer, and audio flows again once
// the link is back.
func TestPeerRestartsICEAfterACut(t *testing.T) {
	lan := NewLossyLAN(t)
	cfgA, cfgB := testMediaConfig(), testMediaConfig()
	cfgA.Net, cfgB.Net = lan.NetA, lan.NetB
	pp := newPeerPairNets(t, cfgA, cfgB)
	defer pp.close()
	testenv.WaitFor(t, "audio", 20*time.Second, func() bool { return pp.gotB.Load() > 25 })
	offers := pp.offersFromA.Load()

	lan.SetLoss(t, 100)
	testenv.WaitFor(t, "ICE disconnected", 20*time.Second, func() bool {
		return pp.a.pc.ICEConnectionState() == webrtc.ICEConnectionStateDisconnected
	})
	testenv.WaitFor(t, "an ICE restart offer", 20*time.Second, func() bool { return pp.offersFromA.Load() > offers })
	lan.SetLoss(t, 0)
	n := pp.gotB.Load()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a: ice %v signaling %v offers %d; b: ice %v signaling %v", pp.a.pc.ICEConnectionState(), pp.a.pc.SignalingState(),
				pp.offersFromA.Load(), pp.b.pc.ICEConnectionState(), pp.b.pc.SignalingState())
		}
	})
	testenv.WaitFor(t, "audio after the cut", 30*time.Second, func() bool { return pp.gotB.Load() > n+50 })
	testenv.WaitFor(t, "ICE connected", 30*time.Second, func() bool {
		st := pp.a.pc.ICEConnectionState()
		return st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
	})
}

// TestDownWithinThreeSeconds: the reference's promise, from the constants
// rather than a stopwatch: a link is Down after mediaTimeout without media,
// the engine looks every linkCheckEvery, and packets come every 20 ms, so a
// cut reads Down within 3 s of the cut.
func TestDownWithinThreeSeconds(t *testing.T) {
	if worst := 20*time.Millisecond + mediaTimeout + linkCheckEvery; worst > 3*time.Second {
		t.Fatalf("a cut reads Down up to %v after it, want within 3 s", worst)
	}
}
