package engine

import (
	"encoding/json"
	"testing"

	"github.com/pion/webrtc/v4"
)

// FuzzPeerSignal feeds a peer connection what a hostile or broken remote
// could relay: any kind, any SDP, any candidate. Nothing may panic, and the
// peer must still close cleanly.
func FuzzPeerSignal(f *testing.F) {
	// A real offer as a seed, so the fuzzer starts from valid SDP.
	api, _, err := newAPI(testMediaConfig())
	if err != nil {
		f.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.Fatal(err)
	}
	tr := newTestTrack(f, "seed")
	if _, err := pc.AddTrack(tr); err != nil {
		f.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		f.Fatal(err)
	}
	_ = pc.Close()
	for _, seed := range []signalMsg{
		{Kind: "offer", SDP: offer.SDP},
		{Kind: "offer", SDP: offer.SDP[:len(offer.SDP)/2]},
		{Kind: "answer", SDP: offer.SDP},
		{Kind: "candidate", Candidate: &webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}},
		{Kind: "candidate", Candidate: &webrtc.ICECandidateInit{Candidate: "garbage"}},
		{Kind: "renegotiate", ICERestart: true},
		{Kind: "media", Muted: true},
		{Kind: "nonsense"},
	} {
		b, _ := json.Marshal(seed)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var m signalMsg
		if json.Unmarshal(payload, &m) != nil {
			return
		}
		// bob answers alice's offers; it is the side a remote offerer drives.
		p, err := newPeer("bob", "alice", testMediaConfig(), newTestTrack(t, "bob"), false, peerEvents{signal: func(signalMsg) {}})
		if err != nil {
			t.Fatal(err)
		}
		p.handle(m)
		done := make(chan struct{})
		p.do(func() { close(done) }) // the handled message went through
		<-done
		p.close()
	})
}
