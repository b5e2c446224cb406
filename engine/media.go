package engine

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"softphone/signaling"
)

// mediaStateMsg is the relay payload that tells the others our mic state.
func mediaStateMsg(muted bool) json.RawMessage {
	b, _ := json.Marshal(signalMsg{Kind: "media", Muted: muted})
	return b
}

// vanishAfter is how long a participant whose signaling connection dropped
// (userAway) may also send no media before we call them gone: a killed
// process drops both at once, a network blip on one path does not.
const vanishAfter = 2 * time.Second

// linkCheckEvery is how often the meters look for links that went Down and
// participants who vanished, between the full quality reports.
const linkCheckEvery = 250 * time.Millisecond

// peerTimeout is how long a participant whose media path was up may send
// nothing at all (no RTP, no RTCP, no ICE consent check or answer) before
// it is taken as gone: onUserLeave (reason disconnected), whether the
// server is up or not. ICE reads disconnected after iceDisconnected of
// silence; the rest of the window lets an ICE restart heal a moved
// network. A process that was stopped, killed or lost its network is
// found within peerTimeout + linkCheckEvery; one that comes back within
// the window is kept.
const (
	peerTimeout     = 6 * time.Second
	iceDisconnected = 2 * time.Second
)

// runMeters starts the meters with a call and stops them after it, so an
// idle engine has no timer waking it up. e.mu held.
func (e *Engine) runMeters(on bool) {
	switch {
	case on && e.metersStop == nil:
		e.metersStop = make(chan struct{})
		e.wg.Add(1)
		go e.meters(e.metersStop)
	case !on && e.metersStop != nil:
		close(e.metersStop)
		e.metersStop = nil
	}
}

// meters publishes volume every VolumeInterval and network quality every
// QualityInterval while in a call, and checks four times a second for
// links that went down (Down is raised at once, not at the next period) and
// for participants who vanished.
func (e *Engine) meters(stop chan struct{}) {
	defer e.wg.Done()
	vol := time.NewTicker(e.cfg.VolumeInterval)
	defer vol.Stop()
	check := time.NewTicker(linkCheckEvery)
	defer check.Stop()
	lastFull := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case <-stop:
			return
		case <-vol.C:
			e.mu.Lock()
			e.publishVolume()
			e.mu.Unlock()
		case now := <-check.C:
			full := now.Sub(lastFull) >= e.cfg.QualityInterval
			var reps map[*peer]linkReport
			if full {
				lastFull = now
				// Statistics (pion's GetStats, the interceptors'
				// getters) are gathered outside the engine's lock:
				// the call state machine never waits for them.
				reps = e.measureLinks(now)
			}
			e.mu.Lock()
			e.checkLinks(now, full, reps)
			e.mu.Unlock()
		}
	}
}

// publishVolume raises onUserVoiceVolumeChanged: this user and every
// remote, 0–100. e.mu held.
func (e *Engine) publishVolume() {
	c := e.call
	if c == nil || e.st != stateInCall {
		return
	}
	m := make(map[string]int, len(c.remotes)+1)
	m[e.cfg.UserID] = e.pipe.LocalLevel()
	for id, r := range c.remotes {
		m[id] = 0
		if rx := r.rx.Load(); rx != nil {
			m[id] = rx.Level()
		}
	}
	e.events.publish(UserVoiceVolumeChanged{VolumeMap: m})
}

// linkReport is one peer's full measurement: how we hear the remote user
// (down) and how they hear us (up).
type linkReport struct{ down, up linkStats }

// measureLinks measures every peer of the current call, holding the
// engine's lock only to list them.
func (e *Engine) measureLinks(now time.Time) map[*peer]linkReport {
	e.mu.Lock()
	var peers []*peer
	if c := e.call; c != nil && e.st == stateInCall {
		for _, r := range c.remotes {
			if r.peer != nil {
				peers = append(peers, r.peer)
			}
		}
	}
	e.mu.Unlock()
	reps := make(map[*peer]linkReport, len(peers))
	for _, p := range peers {
		if rep, ok := p.measure(now); ok {
			reps[p] = rep
		}
	}
	return reps
}

// checkLinks updates network quality, audio availability and vanished
// participants. full starts a new measurement window (reps, measured by
// measureLinks) and publishes the quality map; otherwise it is published
// only if a link went Down or came back. e.mu held.
func (e *Engine) checkLinks(now time.Time, full bool, reps map[*peer]linkReport) {
	c := e.call
	if c == nil || e.st != stateInCall {
		return
	}
	changed := false
	var uplink []linkStats
	allDown := len(c.remotes) > 0
	maxLoss := 0.0
	for _, r := range c.remotes {
		if e.checkVanished(c, r, now) || e.checkSilent(c, r, now) {
			continue
		}
		e.updateAudioAvailable(r, now)
		var q NetworkQuality
		rep, measured := reps[r.peer]
		if r.peer == nil {
			q = QualityUnknown
		} else if full && measured {
			q = qualityOf(rep.down)
			uplink = append(uplink, rep.up)
			maxLoss = max(maxLoss, rep.up.LossPct)
		} else if full {
			q = QualityUnknown // joined since the measurement: graded next time
		} else {
			q = r.quality
			if qualityOf(r.peer.liveness(now)) == QualityDown {
				q = QualityDown
			} else if r.quality == QualityDown {
				q = QualityUnknown // back: graded at the next full check
			}
		}
		if q != QualityDown {
			allDown = false
		}
		if (q == QualityDown) != (r.quality == QualityDown) {
			changed = true
		}
		r.quality = q
	}
	if c != e.call {
		return // a vanished participant ended the call
	}
	if full {
		// Opus FEC is sized for the loss the others report hearing.
		e.pipe.SetExpectedLoss(int(maxLoss + 0.5))
	}
	if !full && !changed {
		return
	}
	self := QualityUnknown
	switch {
	case allDown:
		self = QualityDown
	default:
		for _, up := range uplink {
			if q := qualityOf(up); q > self && q != QualityDown {
				self = q
			}
		}
		if !full {
			self = c.selfQuality
		}
	}
	c.selfQuality = self
	m := make(map[string]NetworkQuality, len(c.remotes)+1)
	m[e.cfg.UserID] = self
	paths := map[string]ConnectionPath{}
	for id, r := range c.remotes {
		m[id] = r.quality
		if r.peer != nil {
			if p, ok := r.peer.connectionPath(); ok {
				paths[id] = p
			}
		}
	}
	e.events.publish(UserNetworkQualityChanged{NetworkQuality: m, Connection: paths})
}

// updateAudioAvailable raises onUserAudioAvailable when a remote's audio
// starts, stops (no media for the Down timeout) or is muted. e.mu held.
func (e *Engine) updateAudioAvailable(r *remoteUser, now time.Time) {
	receiving := false
	if r.peer != nil {
		ls := r.peer.liveness(now)
		receiving = ls.HaveData && ls.SinceMedia < mediaTimeout
	}
	avail := receiving && !r.muted
	if avail != r.audioAvail {
		r.audioAvail = avail
		e.events.publish(UserAudioAvailable{UserID: r.id, IsAudioAvailable: avail})
	}
}

// checkVanished treats an away participant whose media also stopped as
// gone: onUserLeave now, not after the server's grace period; a 1:1 call
// then ends. It reports whether r was removed. e.mu held.
func (e *Engine) checkVanished(c *activeCall, r *remoteUser, now time.Time) bool {
	if !r.away || now.Sub(r.awaySince) < 0 {
		return false
	}
	silent := now.Sub(r.awaySince)
	if r.peer != nil {
		if ls := r.peer.liveness(now); ls.HaveData {
			silent = min(silent, ls.SinceMedia)
		}
	}
	if silent < vanishAfter {
		return false
	}
	e.log.Info("participant vanished: connection and media gone", "peer", r.id)
	e.peerGone(c, r)
	return true
}

// checkSilent treats a participant from whom nothing at all has arrived
// for peerTimeout (the ICE path went down and did not come back) as gone,
// without waiting for the server, which may not know (a stopped process
// keeps its TCP connection) or may be down itself. It reports whether r
// was removed. e.mu held.
func (e *Engine) checkSilent(c *activeCall, r *remoteUser, now time.Time) bool {
	if r.iceDownSince.IsZero() || now.Sub(r.iceDownSince) < peerTimeout-iceDisconnected {
		return false
	}
	e.log.Info("participant silent: nothing from them on the media path", "peer", r.id, "for", now.Sub(r.iceDownSince)+iceDisconnected)
	e.peerGone(c, r)
	return true
}

// peerGone raises onUserLeave (disconnected) for r; alone then, this user
// leaves the call rather than wait for the server (a 1:1 call ends).
// e.mu held.
func (e *Engine) peerGone(c *activeCall, r *remoteUser) {
	e.remoteLeft(c, r.id, "disconnected")
	if len(c.remotes) == 0 {
		id := c.id
		e.endCall(c, endLocal, signaling.ReasonHangup)
		if e.client != nil {
			e.hangupAsync(e.client, id)
		}
	}
}

// relayQueue sends relay messages to the server in order, without making
// pion's callbacks or the state machine wait for the network.
type relayQueue struct {
	log    *slog.Logger
	mu     sync.Mutex
	client *signaling.Client
	items  []relayItem
	wake   chan struct{}
	done   chan struct{}
	closed bool
	wg     sync.WaitGroup
}

type relayItem struct {
	callID, to string // to "" means every other joined participant
	payload    json.RawMessage
}

func newRelayQueue(log *slog.Logger) *relayQueue {
	q := &relayQueue{log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	q.wg.Add(1)
	go q.run()
	return q
}

func (q *relayQueue) setClient(c *signaling.Client) {
	q.mu.Lock()
	q.client = c
	q.mu.Unlock()
}

func (q *relayQueue) send(callID, to string, payload json.RawMessage) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, relayItem{callID, to, payload})
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *relayQueue) sendAll(callID string, payload json.RawMessage) { q.send(callID, "", payload) }

func (q *relayQueue) run() {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		it := q.items[0]
		q.items = q.items[1:]
		client := q.client
		q.mu.Unlock()
		if client == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		if it.to == "" {
			err = client.RelayAll(ctx, it.callID, it.payload)
		} else {
			err = client.Relay(ctx, it.callID, it.to, it.payload)
		}
		cancel()
		if err != nil && !errors.Is(err, signaling.ErrClosed) {
			// The target left or is away: the ICE restart logic retries
			// once the path is back.
			q.log.Debug("relay", "to", it.to, "err", err)
		}
	}
}

func (q *relayQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	close(q.done)
	q.wg.Wait()
}

// recentSet remembers the last n strings added.
type recentSet struct {
	order []string
	set   map[string]bool
	n     int
}

func newRecentSet(n int) recentSet { return recentSet{set: map[string]bool{}, n: n} }

func (s *recentSet) has(v string) bool { return s.set[v] }

func (s *recentSet) remove(v string) {
	if !s.set[v] {
		return
	}
	delete(s.set, v)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == v })
}

func (s *recentSet) add(v string) {
	if s.set[v] {
		return
	}
	s.set[v] = true
	s.order = append(s.order, v)
	if len(s.order) > s.n {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}
