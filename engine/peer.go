package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// signalMsg is what two peers exchange through the server's relay to set up
// and repair their connection (trickle ICE, RFC 8838).
type signalMsg struct {
	// Kind is "offer", "answer", "candidate" or "renegotiate" (the peer
	// connection), or "media" (mute state, for onUserAudioAvailable).
	Kind      string                   `json:"kind"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	// ICERestart on "renegotiate" asks the offerer for new ICE credentials.
	ICERestart bool `json:"iceRestart,omitempty"`
	// Muted on "media" tells the others whether this user's mic is muted.
	Muted bool `json:"muted,omitempty"`
	// Seq numbers the offerer's offers; an answer carries the Seq of the
	// offer it answers, so an answer to an offer that was replaced (an ICE
	// restart while the answer was on its way) is ignored. An answer
	// without Seq (a simpler client) answers the latest offer.
	Seq int `json:"seq,omitempty"`
	// Sid names the sender's peer connection, and To the receiver's that
	// the sender knows (0 before it has heard from it). A participant who
	// leaves and joins back at once gets new connections on both sides
	// while messages of the old ones are still on their way: with these a
	// receiver drops them instead of mixing two connections' descriptions.
	// Ids grow with time (newPeerID). Clients without them are taken as
	// before.
	Sid int64 `json:"sid,omitempty"`
	To  int64 `json:"to,omitempty"`
}

// lastPeerID is the latest id newPeerID gave.
var lastPeerID atomic.Int64

// newPeerID returns an id for a new peer connection: the time in
// microseconds, made unique and growing in this process, so a connection
// made later, here or by a restarted process, has a larger id. It stays
// below 2^53, exact in a browser's numbers.
func newPeerID() int64 {
	for {
		last, now := lastPeerID.Load(), time.Now().UnixMicro()
		id := max(now, last+1)
		if lastPeerID.CompareAndSwap(last, id) {
			return id
		}
	}
}

// admission is what a peer makes of a message from its remote (admit).
type admission int

const (
	admitted   admission = iota
	stale                // for an earlier connection of ours, or from an earlier one of theirs
	remoteAnew           // from a new connection of theirs, which does not know ours yet
)

// admit checks a message's connection ids against this connection's. The
// caller replaces the connection on remoteAnew (the remote started over,
// its offer needs a fresh connection) and drops stale messages.
func (p *peer) admit(m signalMsg) admission {
	if m.To != 0 && m.To != p.id {
		return stale
	}
	if m.Sid == 0 {
		return admitted
	}
	cur := p.remoteID.Load()
	switch {
	case m.Sid == cur:
		return admitted
	case cur != 0 && m.Sid < cur:
		return stale
	case cur != 0 && m.To == 0:
		return remoteAnew
	case cur == 0 && m.To == 0 && p.offerer:
		// The answering side speaks first only to ask for an offer, before
		// ours reached it: that says nothing about which of its
		// connections will answer, so learn nothing from it.
		return admitted
	}
	p.remoteID.Store(m.Sid)
	return admitted
}

// send stamps m with the connection ids and sends it.
func (p *peer) send(m signalMsg) {
	m.Sid, m.To = p.id, p.remoteID.Load()
	p.ev.signal(m)
}

// isOfferer is the glare rule: of two peers, the one with the smaller user id
// makes every offer; the other asks for renegotiation with a "renegotiate"
// message. So two offers can never cross.
func isOfferer(self, remote string) bool { return self < remote }

// peerEvents are the peer's callbacks into the engine. They are called from
// pion's goroutines and must not block.
type peerEvents struct {
	// signal sends a message to the remote peer (ordered, non-blocking).
	signal func(signalMsg)
	// audio receives every remote audio RTP packet; pkt is reused after the
	// call returns.
	audio func(pkt *rtp.Packet)
	// video reports a remote video track starting or ending.
	video func(available bool)
	// state reports ICE connection state changes.
	state func(webrtc.ICEConnectionState)
	// mediaStarted reports the first audio packet, and the first after a
	// silence that read as Down, so availability is raised at once.
	mediaStarted func()
}

// peer is the media connection to one remote participant: one pion
// PeerConnection, with negotiation serialised through one unbounded queue
// (ops) so offers, answers, candidates and restarts never race, and queuing
// a step never blocks.
type peer struct {
	remote   string
	id       int64        // this connection's id (signalMsg.Sid)
	remoteID atomic.Int64 // the remote connection's, once heard from
	offerer  bool
	log      *slog.Logger
	pc       *webrtc.PeerConnection
	stats    *statsHolder
	sender   *webrtc.RTPSender
	ev       peerEvents
	hook     func() // mediaConfig.statsHook

	ops    operations
	closed chan struct{}
	once   sync.Once

	goMu    sync.Mutex
	closing bool
	wg      sync.WaitGroup

	// Owned by the steps run by ops.
	pending       []webrtc.ICECandidateInit // remote candidates before the remote description
	offering      bool                      // an offer is out, its answer not yet in
	offerSeq      int                       // Seq of the latest offer
	again         bool                      // renegotiate once the answer is in
	againRestart  bool
	wantVideo     bool
	videoReceiver *webrtc.RTPTransceiver

	rx rxCounters

	restartMu    sync.Mutex
	restartTimer *time.Timer
	credTimer    *time.Timer // renews the relay's TURN credentials (ice.go)

	// statsMu orders statistics (pion's GetStats and the interceptors'
	// getters) before the connection's close, and against
	// SetConfiguration, which pion does not.
	statsMu sync.Mutex

	// path is the media path ICE selected (ice.go).
	path atomic.Pointer[ConnectionPath]
	// When the TURN credentials expire: those configured now, and those
	// the current gathering used. Owned by the ops goroutine.
	cfgExpires, gatheredExpires time.Time
}

// rxCounters counts first-arrival losses on the remote audio stream, for
// network quality: a packet repaired by NACK still counts as lost here.
type rxCounters struct {
	mu          sync.Mutex
	started     bool
	highest     uint16
	expected    uint64 // sequence numbers passed since the last snapshot
	gaps        uint64 // of which missing when a newer one arrived
	lastArrival time.Time
	ssrc        uint32
	haveData    bool
}

// packet counts one arrival. It reports whether media (re)started: the
// first packet, or the first after a silence long enough to read as Down.
func (c *rxCounters) packet(seq uint16, ssrc uint32, now time.Time) (started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	started = !c.haveData || now.Sub(c.lastArrival) >= mediaTimeout
	c.lastArrival = now
	c.haveData = true
	if !c.started || ssrc != c.ssrc {
		c.started, c.highest, c.ssrc = true, seq, ssrc
		c.expected++
		return started
	}
	d := int16(seq - c.highest)
	if d <= 0 {
		return started // reordered, duplicate or a NACK retransmission
	}
	c.expected += uint64(d)
	c.gaps += uint64(d - 1)
	c.highest = seq
	return started
}

// snapshot returns the loss since the last snapshot and resets the window.
func (c *rxCounters) snapshot() (lossPct float64, last time.Time, ssrc uint32, have bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expected > 0 {
		lossPct = 100 * float64(c.gaps) / float64(c.expected)
	}
	c.expected, c.gaps = 0, 0
	return lossPct, c.lastArrival, c.ssrc, c.haveData
}

// statsHolder keeps the stats interceptor's getter of one peer connection.
type statsHolder struct {
	mu sync.Mutex
	g  stats.Getter
}

func (h *statsHolder) set(g stats.Getter) { h.mu.Lock(); h.g = g; h.mu.Unlock() }

func (h *statsHolder) get(ssrc uint32) *stats.Stats {
	h.mu.Lock()
	g := h.g
	h.mu.Unlock()
	if g == nil || ssrc == 0 {
		return nil
	}
	return g.Get(ssrc)
}

// newPeer creates the connection to remote and, if this side is the offerer,
// starts negotiating. track is the engine's one local audio track, shared by
// every peer, so each 20 ms frame is encoded once.
func newPeer(self, remote string, cfg mediaConfig, track *audioTrack, video bool, ev peerEvents) (*peer, error) {
	api, holder, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: cfg.ICEServers, ICETransportPolicy: cfg.ICETransportPolicy})
	if err != nil {
		return nil, fmt.Errorf("peer connection to %s: %w", remote, err)
	}
	p := &peer{
		remote:     remote,
		id:         newPeerID(),
		offerer:    isOfferer(self, remote),
		log:        cfg.Logger.With("peer", remote),
		pc:         pc,
		stats:      holder,
		ev:         ev,
		hook:       cfg.statsHook,
		closed:     make(chan struct{}),
		wantVideo:  video,
		cfgExpires: cfg.ICEExpires,
	}
	if p.sender, err = pc.AddTrack(track); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("add audio track for %s: %w", remote, err)
	}
	// RTCP must be read from every sender, or NACKs and receiver reports never
	// reach the interceptors.
	p.drainRTCP(p.sender.Read)

	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		// nil: gathering finished. The end of candidates goes out as an
		// empty candidate, as a browser's addIceCandidate takes it.
		init := webrtc.ICECandidateInit{}
		if c != nil {
			init = c.ToJSON()
		}
		p.send(signalMsg{Kind: "candidate", Candidate: &init})
	})
	pc.OnICEConnectionStateChange(p.onICEState)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.mediaReady(track)
		}
	})
	pc.OnTrack(p.onTrack)
	p.watchICE()

	if p.offerer {
		p.do(func() { p.negotiate(false, false) })
	}
	return p, nil
}

// mediaReady sends the peer our latest frame the moment its connection is
// up, rather than at the next frame: dial → audio both ways is that much
// shorter. pion reports the connection up while it still starts SRTP, under
// the DTLS transport's lock; the transport's State takes that lock, so it
// returns once SRTP is up. (Were that to change, ready finds the peer's
// SRTP not up, sends nothing, and the next frame starts the audio.)
func (p *peer) mediaReady(track *audioTrack) {
	_ = p.sender.Transport().State()
	ssrc, ok := p.senderSSRC()
	if !ok {
		return
	}
	if track.ready(ssrc) {
		p.log.Debug("first frame sent as the connection came up")
	}
}

// do queues a negotiation step; it never blocks. After close the step is
// dropped.
func (p *peer) do(f func()) { p.ops.enqueue(f) }

// handle takes a message from the remote peer.
func (p *peer) handle(m signalMsg) {
	p.do(func() {
		var err error
		switch m.Kind {
		case "offer":
			err = p.onOffer(m.SDP, m.Seq)
		case "answer":
			err = p.onAnswer(m.SDP, m.Seq)
		case "candidate":
			err = p.onCandidate(m.Candidate)
		case "renegotiate":
			if p.offerer {
				p.negotiate(m.ICERestart, false)
			}
		default:
			err = fmt.Errorf("unknown signal %q", m.Kind)
		}
		if err != nil {
			p.log.Warn("signal failed", "kind", m.Kind, "err", err)
		}
	})
}

// negotiate makes an offer (offerer only). If one is already out, it runs
// again when the answer arrives, unless replace is set: then the new offer
// replaces the outstanding one (JSEP allows a new local offer in
// have-local-offer), for an ICE restart whose answer may never come.
func (p *peer) negotiate(iceRestart, replace bool) {
	if !p.offerer || p.isClosed() {
		return
	}
	if !replace && (p.offering || p.pc.SignalingState() != webrtc.SignalingStateStable) {
		p.again = true
		p.againRestart = p.againRestart || iceRestart
		return
	}
	p.syncVideo()
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		p.log.Warn("create offer", "err", err)
		return
	}
	p.offerSeq++
	// Send before SetLocalDescription starts gathering, so the offer leaves
	// ahead of its candidates.
	p.send(signalMsg{Kind: "offer", SDP: offer.SDP, Seq: p.offerSeq})
	if err := p.pc.SetLocalDescription(offer); err != nil {
		p.log.Warn("set local offer", "err", err)
		return
	}
	p.offering = true
}

// syncVideo makes the offer carry a receive-only video section once the call
// is a video call, so a browser peer can send its camera. Switching back to
// voice leaves the section in place (pion cannot change a transceiver's
// direction); the remote simply stops sending.
func (p *peer) syncVideo() {
	if !p.wantVideo || p.videoReceiver != nil {
		return
	}
	t, err := p.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		p.log.Warn("add video transceiver", "err", err)
		return
	}
	p.videoReceiver = t
}

// setVideo switches the call between voice and video.
func (p *peer) setVideo(on bool) {
	p.do(func() {
		if p.wantVideo == on {
			return
		}
		p.wantVideo = on
		if p.offerer {
			p.negotiate(false, false)
		} else {
			p.send(signalMsg{Kind: "renegotiate"})
		}
	})
}

func (p *peer) onOffer(sdp string, seq int) error {
	if p.offerer {
		return errors.New("offer from the answering side (glare rule broken)")
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote offer: %w", err)
	}
	p.flushCandidates()
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	p.send(signalMsg{Kind: "answer", SDP: answer.SDP, Seq: seq})
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	return nil
}

func (p *peer) onAnswer(sdp string, seq int) error {
	if !p.offering {
		return errors.New("answer without an offer")
	}
	if seq != 0 && seq != p.offerSeq { // 0: a peer that does not number answers
		p.log.Debug("ignoring the answer to a replaced offer", "seq", seq, "latest", p.offerSeq)
		return nil
	}
	p.offering = false
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote answer: %w", err)
	}
	p.flushCandidates()
	if p.again {
		restart := p.againRestart
		p.again, p.againRestart = false, false
		p.negotiate(restart, false)
	}
	return nil
}

func (p *peer) onCandidate(c *webrtc.ICECandidateInit) error {
	if c == nil {
		return nil
	}
	if p.pc.RemoteDescription() == nil {
		p.pending = append(p.pending, *c)
		return nil
	}
	if err := p.pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

func (p *peer) flushCandidates() {
	for _, c := range p.pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("add buffered candidate", "err", err)
		}
	}
	p.pending = nil
}

// onICEState restarts ICE when the path breaks: a disconnect that does not
// heal within a second, or a failure. The offerer restarts; the answerer
// asks it to.
func (p *peer) onICEState(s webrtc.ICEConnectionState) {
	p.log.Debug("ice state", "state", s)
	if p.ev.state != nil {
		p.ev.state(s)
	}
	switch s {
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		p.scheduleRestart(time.Second)
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		p.cancelRestart()
	}
}

// restartRetry is how often a broken path is retried while it stays broken.
const restartRetry = 3 * time.Second

func (p *peer) scheduleRestart(after time.Duration) {
	p.restartMu.Lock()
	defer p.restartMu.Unlock()
	if p.restartTimer != nil || p.isClosed() {
		return
	}
	p.restartTimer = time.AfterFunc(after, func() {
		p.restartMu.Lock()
		p.restartTimer = nil
		p.restartMu.Unlock()
		st := p.pc.ICEConnectionState()
		if st != webrtc.ICEConnectionStateDisconnected && st != webrtc.ICEConnectionStateFailed {
			return
		}
		p.log.Info("ice restart", "state", st)
		p.do(func() {
			if p.offerer {
				// The answer to an offer in flight may be lost with the
				// path: replace it rather than wait.
				p.negotiate(true, true)
			} else {
				p.send(signalMsg{Kind: "renegotiate", ICERestart: true})
			}
		})
		p.scheduleRestart(restartRetry)
	})
}

func (p *peer) cancelRestart() {
	p.restartMu.Lock()
	defer p.restartMu.Unlock()
	if p.restartTimer != nil {
		p.restartTimer.Stop()
		p.restartTimer = nil
	}
}

func (p *peer) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	p.drainRTCP(r.Read)
	switch t.Kind() {
	case webrtc.RTPCodecTypeAudio:
		p.spawn(func() { p.readAudio(t) })
	case webrtc.RTPCodecTypeVideo:
		p.spawn(func() { p.readVideo(t) })
	}
}

func (p *peer) readAudio(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		started := p.rx.packet(pkt.SequenceNumber, pkt.SSRC, time.Now())
		if p.ev.audio != nil {
			p.ev.audio(&pkt)
		}
		if started && p.ev.mediaStarted != nil {
			p.ev.mediaStarted()
		}
	}
}

// readVideo keeps a remote video track flowing through the interceptors (the
// terminal does not render it) and reports when it starts and ends.
func (p *peer) readVideo(t *webrtc.TrackRemote) {
	if p.ev.video != nil {
		p.ev.video(true)
		defer p.ev.video(false)
	}
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// drainRTCP reads RTCP until the connection closes; reading is what drives
// the NACK and report interceptors.
func (p *peer) drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	p.spawn(func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := read(buf); err != nil {
				return
			}
		}
	})
}

// spawn runs f in a goroutine that close waits for; after close it does
// nothing (pion may still fire a callback while the connection closes).
func (p *peer) spawn(f func()) {
	p.goMu.Lock()
	defer p.goMu.Unlock()
	if p.closing {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

func (p *peer) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// close tears the connection down and waits for its goroutines.
func (p *peer) close() {
	p.once.Do(func() {
		p.goMu.Lock()
		p.closing = true
		p.goMu.Unlock()
		p.statsMu.Lock() // a measurement in progress finishes first
		close(p.closed)
		p.statsMu.Unlock()
		p.cancelRestart()
		p.stopCredTimer()
		p.ops.close() // drops queued steps, waits for one in progress
		if err := p.pc.Close(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
		p.wg.Wait()
	})
}

// linkStats measures the path from the remote user to us (their row's
// network quality).
func (p *peer) linkStats(now time.Time) linkStats {
	if p.hook != nil {
		p.hook()
	}
	loss, last, ssrc, have := p.rx.snapshot()
	ls := linkStats{HaveData: have, LossPct: loss}
	if have {
		ls.SinceMedia = now.Sub(last)
	}
	switch p.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateFailed, webrtc.ICEConnectionStateClosed:
		ls.Failed = true
	}
	if s := p.stats.get(ssrc); s != nil {
		ls.Jitter = time.Duration(s.InboundRTPStreamStats.Jitter * float64(time.Second))
	}
	ls.RTT = p.rtt()
	return ls
}

// liveness reads whether media is arriving, without starting a new loss
// window: for the quick Down checks between full reports.
func (p *peer) liveness(now time.Time) linkStats {
	p.rx.mu.Lock()
	ls := linkStats{HaveData: p.rx.haveData}
	if p.rx.haveData {
		ls.SinceMedia = now.Sub(p.rx.lastArrival)
	}
	p.rx.mu.Unlock()
	switch p.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateFailed, webrtc.ICEConnectionStateClosed:
		ls.Failed = true
	}
	return ls
}

// measure takes the full measurement of the link both ways, unless the
// connection is closing.
func (p *peer) measure(now time.Time) (linkReport, bool) {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if p.isClosed() {
		return linkReport{}, false
	}
	return linkReport{down: p.linkStats(now), up: p.uplinkStats()}, true
}

// lastArrival is when the last media packet arrived, if one did.
func (p *peer) lastArrival() (time.Time, bool) {
	p.rx.mu.Lock()
	defer p.rx.mu.Unlock()
	return p.rx.lastArrival, p.rx.haveData
}

// uplinkStats is how the remote user hears us, from their receiver reports:
// our own row's network quality is the worst of these over all peers.
func (p *peer) uplinkStats() linkStats {
	ls := linkStats{RTT: p.rtt()}
	ssrc, ok := p.senderSSRC()
	if !ok {
		return ls
	}
	s := p.stats.get(uint32(ssrc))
	if s == nil || s.RemoteInboundRTPStreamStats.PacketsReceived == 0 {
		return ls
	}
	ls.HaveData = true
	ls.LossPct = 100 * s.RemoteInboundRTPStreamStats.FractionLost
	ls.Jitter = time.Duration(s.RemoteInboundRTPStreamStats.Jitter * float64(time.Second))
	switch p.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateFailed, webrtc.ICEConnectionStateClosed:
		ls.Failed = true
	}
	return ls
}

// senderSSRC is the SSRC our audio goes to this peer with.
func (p *peer) senderSSRC() (webrtc.SSRC, bool) {
	params := p.sender.GetParameters()
	if len(params.Encodings) == 0 {
		return 0, false
	}
	return params.Encodings[0].SSRC, true
}

// rtt is the round trip from RTCP reports, else from ICE's STUN checks.
func (p *peer) rtt() time.Duration {
	if ssrc, ok := p.senderSSRC(); ok {
		if s := p.stats.get(uint32(ssrc)); s != nil && s.RemoteInboundRTPStreamStats.RoundTripTimeMeasurements > 0 {
			return s.RemoteInboundRTPStreamStats.RoundTripTime
		}
	}
	for _, st := range p.pc.GetStats() {
		if cp, ok := st.(webrtc.ICECandidatePairStats); ok && cp.Nominated && cp.CurrentRoundTripTime > 0 {
			return time.Duration(cp.CurrentRoundTripTime * float64(time.Second))
		}
	}
	return 0
}
