package engine_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
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

func newCamPeer(t *testing.T, s *calltest.Server, user string) *camPeer {
	t.Helper()
	client, err := signaling.Dial(calltest.Ctx(t), signaling.ClientConfig{URL: s.URL, UserID: user, UserSig: s.Ticket(user, time.Hour)})
	calltest.Must(t, "cam login", err)
	api, err := NewTestAPI()
	calltest.Must(t, "cam api", err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	calltest.Must(t, "cam pc", err)
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cam")
	calltest.Must(t, "cam track", err)
	if _, err := pc.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	c := &camPeer{t: t, client: client, pc: pc, video: video, stop: make(chan struct{})}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil || c.callID == "" {
			return
		}
		init := cand.ToJSON()
		c.relay("alice", SignalMsg{Kind: "candidate", Candidate: &init})
	})
	return c
}

func (c *camPeer) relay(to string, m SignalMsg) {
	b, _ := json.Marshal(m)
	if err := c.client.Relay(calltest.Ctx(c.t), c.callID, to, b); err != nil {
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
				if _, err := c.client.Accept(calltest.Ctx(c.t), v.CallID); err != nil {
					c.t.Errorf("cam accept: %v", err)
				}
			case signaling.Relayed:
				var m SignalMsg
				_ = json.Unmarshal(v.Payload, &m)
				switch m.Kind {
				case "offer":
					calltest.Must(c.t, "cam remote", c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}))
					ans, err := c.pc.CreateAnswer(nil)
					calltest.Must(c.t, "cam answer", err)
					c.relay(v.From, SignalMsg{Kind: "answer", SDP: ans.SDP})
					calltest.Must(c.t, "cam local", c.pc.SetLocalDescription(ans))
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
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice := s.Engine("alice", nil)
	cam := newCamPeer(t, s, "cam")
	cam.run()
	calltest.Must(t, "video call", alice.Call(calltest.Ctx(t), []string{"cam"}, CallParams{MediaType: MediaVideo}))
	calltest.Expect(alice, func(CallBegin) bool { return true })
	alice.ExpectEvent(UserVideoAvailable{UserID: "cam", IsVideoAvailable: true})
	cam.close()
	alice.ExpectEvent(UserVideoAvailable{UserID: "cam", IsVideoAvailable: false})
	alice.WaitHas("onUserLeave(cam)")
	alice.WaitHas("onCallEnd(caller)")
}
