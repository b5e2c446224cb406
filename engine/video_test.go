package engine

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"softphone/signaling"
)

// camPeer is a participant that sends video, as a browser in a video call
// would: a signaling client and a pion peer connection with a VP8 track,
// speaking the engine's relay messages.
type camPeer struct {
	t      *testing.T
	client *signaling.Client
	pc     *webrtc.PeerConnection
	video  *webrtc.TrackLocalStaticSample
	callID string
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newCamPeer(t *testing.T, s *testServer, user string) *camPeer {
	t.Helper()
	client, err := signaling.Dial(ctxT(t), signaling.ClientConfig{URL: s.url, UserID: user, UserSig: s.ticket(user, time.Hour)})
	must(t, "cam login", err)
	api, _, err := newAPI(mediaConfig{Logger: slog.New(slog.DiscardHandler)})
	must(t, "cam api", err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	must(t, "cam pc", err)
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cam")
	must(t, "cam track", err)
	if _, err := pc.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	c := &camPeer{t: t, client: client, pc: pc, video: video, stop: make(chan struct{})}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil || c.callID == "" {
			return
		}
		init := cand.ToJSON()
		c.relay("alice", signalMsg{Kind: "candidate", Candidate: &init})
	})
	return c
}

func (c *camPeer) relay(to string, m signalMsg) {
	b, _ := json.Marshal(m)
	if err := c.client.Relay(ctxT(c.t), c.callID, to, b); err != nil {
		c.t.Logf("cam relay: %v", err)
	}
}

// answerCalls accepts the first call and answers offers, then sends video
// frames until stopped.
func (c *camPeer) run() {
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		for ev := range c.client.Events() {
			switch v := ev.(type) {
			case signaling.IncomingCall:
				c.callID = v.CallID
				if _, err := c.client.Accept(ctxT(c.t), v.CallID); err != nil {
					c.t.Errorf("cam accept: %v", err)
				}
			case signaling.Relayed:
				var m signalMsg
				_ = json.Unmarshal(v.Payload, &m)
				switch m.Kind {
				case "offer":
					must(c.t, "cam remote", c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}))
					ans, err := c.pc.CreateAnswer(nil)
					must(c.t, "cam answer", err)
					c.relay(v.From, signalMsg{Kind: "answer", SDP: ans.SDP})
					must(c.t, "cam local", c.pc.SetLocalDescription(ans))
				case "candidate":
					if m.Candidate != nil {
						_ = c.pc.AddICECandidate(*m.Candidate)
					}
				}
			}
		}
	}()
	go func() {
		defer c.wg.Done()
		tk := time.NewTicker(33 * time.Millisecond)
		defer tk.Stop()
		frame := make([]byte, 1200)
		for {
			select {
			case <-tk.C:
				_ = c.video.WriteSample(media.Sample{Data: frame, Duration: 33 * time.Millisecond})
			case <-c.stop:
				return
			}
		}
	}()
}

func (c *camPeer) close() {
	close(c.stop)
	_ = c.pc.Close()
	_ = c.client.Close()
	c.wg.Wait()
}

func TestRemoteVideoAvailable(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice := s.engine("alice", nil)
	cam := newCamPeer(t, s, "cam")
	cam.run()
	must(t, "video call", alice.Call(ctxT(t), []string{"cam"}, CallParams{MediaType: MediaVideo}))
	expect(alice, func(CallBegin) bool { return true })
	alice.expectEvent(UserVideoAvailable{UserID: "cam", IsVideoAvailable: true})
	cam.close()
	alice.expectEvent(UserVideoAvailable{UserID: "cam", IsVideoAvailable: false})
	alice.waitHas("onUserLeave(cam)")
	alice.waitHas("onCallEnd(caller)")
}
