package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"softphone/audio"
	"softphone/signaling"
)

// This file is the client's call state machine: one switch over the pushes
// of the call server (onSignal), a handful of named states, and the one
// place calls end (endCall). Everything here runs with Engine.mu held.

// callState is where this user stands.
type callState int

const (
	// stateIdle: no call.
	stateIdle callState = iota
	// stateDialing: this user is in a call nobody else has joined yet (it
	// placed the call, or joined one where the others are still ringing).
	stateDialing
	// stateIncoming: an invitation is ringing here.
	stateIncoming
	// stateInCall: the call began (onCallBegin) and media flows.
	stateInCall
)

func (s callState) String() string {
	switch s {
	case stateIdle:
		return "idle"
	case stateDialing:
		return "dialing"
	case stateIncoming:
		return "incoming"
	case stateInCall:
		return "in call"
	}
	return fmt.Sprintf("callState(%d)", int(s))
}

// activeCall is this user's current call.
type activeCall struct {
	id       string
	room     RoomID
	media    MediaType
	role     CallRole
	callerID string
	invitees []string
	groupID  string
	userData string
	began    time.Time // when onCallBegin was raised; zero before
	remotes  map[string]*remoteUser
	// hangupWanted: hung up before the server told us the call's id.
	hangupWanted bool
	// selfQuality is this user's last published network quality.
	selfQuality NetworkQuality
	// epoch is the connection epoch the call started in (see Engine.epoch).
	epoch int
}

func newActiveCall(self string, role CallRole) *activeCall {
	c := &activeCall{role: role, remotes: map[string]*remoteUser{}}
	if role == RoleCaller {
		c.callerID = self
	}
	return c
}

func callFromInfo(self string, info *signaling.CallInfo) *activeCall {
	role := RoleCalled
	if info.CallerID == self {
		role = RoleCaller
	}
	c := newActiveCall(self, role)
	c.id, c.room, c.media = info.CallID, info.RoomID, info.MediaType
	c.callerID, c.invitees, c.groupID, c.userData = info.CallerID, info.CalleeIDs, info.GroupID, info.UserData
	return c
}

// remoteUser is another joined participant and the media link to them.
type remoteUser struct {
	id   string
	peer *peer
	// rx is the audio receiver, read by the peer's RTP loop without the
	// engine lock; SetAudio swaps it for one on the new devices.
	rx atomic.Pointer[audio.Remote]
	// away: the server says their connection dropped (grace period).
	away      bool
	awaySince time.Time
	// muted: they told us their mic is muted.
	muted bool
	// Last values raised, so events fire on changes only.
	audioAvail bool
	videoAvail bool
	quality    NetworkQuality
	ice        webrtc.ICEConnectionState
	// iceUp: the media path connected at least once. iceDownSince: when it
	// went down (ICE disconnected or failed: nothing at all has arrived
	// from them for ICEDisconnected), zero while it is up.
	iceUp        bool
	iceDownSince time.Time
}

// setCall makes c the current call, stamped with the connection epoch.
func (e *Engine) setCall(c *activeCall) {
	c.epoch = e.epoch
	e.call = c
}

// setState moves to st and sets the ringtone for it.
func (e *Engine) setState(st callState) {
	if e.st == st {
		return
	}
	e.log.Debug("call state", "from", e.st, "to", st)
	e.st = st
	e.ringFor(st)
	e.sendFor(st)
	e.runMeters(st == stateInCall)
}

// sendFor tells the audio pipeline what st needs (audioMode), and hands
// the encoded microphone to the peers only in a call.
func (e *Engine) sendFor(st callState) {
	if st == stateInCall {
		e.pipe.SetPacketHandler(e.sendAudio)
	} else {
		e.pipe.SetPacketHandler(nil)
	}
	e.pipe.SetMode(audioMode(st))
}

// audioMode is what the pipeline runs in st. Between calls nothing: no
// goroutine wakes, and the microphone and the sound card are released.
// While a call rings here, the speaker (the ring); the microphone waits for
// the user to accept. While this user calls out (or waits in a call for the
// others), the speaker and an open microphone whose audio is dropped, so it
// is running when the call connects. In a call, both.
func audioMode(st callState) audio.Mode {
	switch st {
	case stateIncoming:
		return audio.ModeRinging
	case stateDialing:
		return audio.ModeDialing
	case stateInCall:
		return audio.ModeCall
	}
	return audio.ModeIdle
}

// ringFor plays the ringtone that goes with st: ringback while this user
// calls out, the ring while a call comes in, nothing otherwise.
func (e *Engine) ringFor(st callState) {
	switch {
	case st == stateDialing && e.call != nil && e.call.role == RoleCaller:
		e.pipe.Ring(audio.RingOutgoing)
	case st == stateIncoming:
		e.pipe.Ring(audio.RingIncoming)
	default:
		e.pipe.Ring(audio.RingOff)
	}
}

// callFor returns the current call if id names it. A call placed a moment
// ago whose id the invite reply has not brought yet takes the id of the
// first push about it: this user can be in one call only, so it is ours.
func (e *Engine) callFor(id string) *activeCall {
	c := e.call
	switch {
	case c == nil || id == "" || e.finished.has(id):
		return nil
	case c.id == id:
		return c
	case c.id == "" && e.st == stateDialing:
		c.id = id
		return c
	}
	return nil
}

// endHow says who ended a call, which decides the event's callerId.
type endHow int

const (
	endLocal  endHow = iota // this user hung up, cancelled or rejected
	endServer               // the server said so (callCancelled/callEnded)
	endLost                 // the connection was lost, or kicked, expired
)

func (h endHow) String() string {
	switch h {
	case endLocal:
		return "local"
	case endServer:
		return "server"
	case endLost:
		return "lost"
	}
	return fmt.Sprintf("endHow(%d)", int(h))
}

// endCall is where every call ends: it raises exactly one onCallEnd (the
// call had begun for us) or onCallCancelled (it had not), tears down media
// and returns to idle. reason is the server's reason, used for the
// reference's callerId rule: the caller's id when we are a callee and the
// caller cancelled, our own id otherwise.
func (e *Engine) endCall(c *activeCall, how endHow, reason signaling.Reason) {
	if c == nil || e.call != c {
		return
	}
	if !c.began.IsZero() {
		e.events.publish(CallEnd{
			RoomID: c.room, CallMediaType: c.media, CallRole: c.role,
			TotalTime: roundSeconds(time.Since(c.began)), CallID: c.id,
		})
	} else {
		callerID := e.cfg.UserID
		if how == endServer && c.role == RoleCalled && reason == signaling.ReasonCanceled {
			callerID = c.callerID
		}
		e.events.publish(CallCancelled{CallerID: callerID})
	}
	for id := range c.remotes {
		e.dropRemote(c, id)
	}
	if c.id != "" {
		e.finished.add(c.id)
	}
	e.log.Info("call over", "call", c.id, "how", how, "reason", reason)
	e.call = nil
	e.setState(stateIdle)
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond).Milliseconds()) / 1000
}

// onSignal is the state machine: one push (or connection change) from the
// server, applied to where this user stands.
func (e *Engine) onSignal(ev signaling.Event) {
	switch v := ev.(type) {
	case signaling.ConnEvent:
		e.onConn(v)

	case signaling.IncomingCall:
		switch e.st {
		case stateIdle:
			c := callFromInfo(e.cfg.UserID, &v.CallInfo)
			e.setCall(c)
			e.setState(stateIncoming)
			e.events.publish(CallReceived{
				CallerID: c.callerID, CalleeIDList: nonNil(c.invitees), GroupID: c.groupID,
				CallMediaType: c.media, UserData: c.userData, CallID: c.id,
			})
			if e.cfg.AutoAnswer {
				e.autoAnswer()
			}
		default:
			// The server makes a user in a call busy; an invitation now is
			// from a call we already left locally. Say no.
			e.log.Info("declining an invitation while in a call", "call", v.CallID, "state", e.st)
			if e.client != nil {
				e.rejectAsync(e.client, v.CallID)
			}
		}

	case signaling.JoinAnswered:
		e.joinAnswered(v)

	case signaling.CallBegan:
		c := e.callFor(v.CallID)
		if c == nil && e.st == stateIdle && v.Call != nil && (e.joining[v.CallID] != nil || !e.finished.has(v.CallID)) {
			// Joined with join, and the call's node was quicker than the
			// reply (another node's call in a cluster).
			e.finished.remove(v.CallID)
			c = callFromInfo(e.cfg.UserID, v.Call)
			e.setCall(c)
		}
		if c == nil {
			return
		}
		c.room, c.media, c.role = v.RoomID, v.MediaType, v.Role
		if c.began.IsZero() {
			c.began = time.Now()
		}
		e.setState(stateInCall)
		e.events.publish(CallBegin{RoomID: c.room, CallMediaType: c.media, CallRole: c.role, CallID: c.id})
		if v.Call != nil {
			for _, id := range v.Call.Joined() {
				e.addRemote(c, id)
			}
		}
		for _, r := range c.remotes {
			e.startMedia(c, r)
		}
		if e.muted {
			e.relays.sendAll(c.id, mediaStateMsg(true))
		}

	case signaling.UserJoined:
		if c := e.callFor(v.CallID); c != nil {
			e.addRemote(c, v.UserID)
		}

	case signaling.UserLeft:
		if c := e.callFor(v.CallID); c != nil {
			if r := c.remotes[v.UserID]; r != nil {
				e.remoteLeft(c, v.UserID, leaveReason(v.Reason))
			}
		}

	case signaling.UserAway:
		if c := e.callFor(v.CallID); c != nil {
			if r := c.remotes[v.UserID]; r != nil && !r.away {
				r.away, r.awaySince = true, time.Now()
				e.checkVanished(c, r, time.Now())
			}
		}

	case signaling.UserBack:
		if c := e.callFor(v.CallID); c != nil {
			if r := c.remotes[v.UserID]; r != nil {
				r.away = false
			} else if e.st == stateInCall {
				// We had given them up; they are still in the call.
				e.addRemote(c, v.UserID)
			}
		}

	case signaling.UserRejected:
		if e.callFor(v.CallID) != nil {
			e.events.publish(UserReject{UserID: v.UserID})
		}

	case signaling.UserNoResponse:
		if e.callFor(v.CallID) != nil {
			reason := "timeout"
			if v.Reason == signaling.ReasonOffline {
				reason = "offline"
			}
			e.events.publish(UserNoResponse{UserID: v.UserID, Reason: reason})
		}

	case signaling.UserLineBusy:
		if e.callFor(v.CallID) != nil {
			e.events.publish(UserLineBusy{UserID: v.UserID})
		}

	case signaling.UserInvited:
		if c := e.callFor(v.CallID); c != nil {
			c.invitees = appendNew(c.invitees, v.UserID)
		}

	case signaling.CallCancelled:
		if c := e.callFor(v.CallID); c != nil {
			e.endCall(c, endServer, v.Reason)
		}

	case signaling.CallEnded:
		if c := e.callFor(v.CallID); c != nil {
			e.endCall(c, endServer, v.Reason)
		}

	case signaling.MediaChanged:
		if c := e.callFor(v.CallID); c != nil && v.New != c.media {
			old := c.media
			c.media = v.New
			e.events.publish(CallMediaTypeChanged{OldCallMediaType: old, NewCallMediaType: c.media})
			for _, r := range c.remotes {
				if r.peer != nil {
					r.peer.setVideo(c.media == MediaVideo)
				}
			}
		}

	case signaling.Relayed:
		e.onRelay(v)

	case signaling.Kicked:
		e.loggedIn = false
		e.endCall(e.call, endLost, signaling.ReasonKicked)
		e.events.publish(KickedOffline{})

	case signaling.TicketExpired:
		e.loggedIn = false
		e.endCall(e.call, endLost, signaling.ReasonTicketExpired)
		e.events.publish(UserSigExpired{})

	case signaling.ICEServersChanged:
		e.setServerICE(v.Servers)

	case signaling.ServerShutdown:
		e.log.Warn("the call server is shutting down", "message", v.Message)
		if e.st != stateInCall {
			e.events.publish(ErrorEvent{Code: int(signaling.CodeShuttingDown), Message: "the call server is shutting down; reconnecting"})
		}
		// In a call nothing is said: the call goes on peer to peer, and the
		// next server brings it back (its call token); the user sees only
		// the connection's "reconnecting".
	}
}

// onConn follows the connection: a reconnect must not drop the call, but
// pushes sent while we were away are lost, so the snapshot that comes with
// every connect is the truth about our call.
func (e *Engine) onConn(v signaling.ConnEvent) {
	st := v.State
	if st != e.conn {
		e.conn = st
		e.events.publish(ConnectionChanged{State: st})
	}
	switch st {
	case ConnReconnecting:
		e.epoch++
	case ConnConnected:
		e.setServerICE(v.ICEServers)
		// The snapshot is the truth only about a call from before the drop:
		// one placed since (or on the first connect) is newer than it.
		switch {
		case e.call != nil && e.call.epoch < e.epoch:
			e.reconcile(v.Call)
		case e.call == nil && v.Call != nil:
			e.strayCall(v.Call)
		}
	case ConnOffline:
		e.loggedIn = false
		e.endCall(e.call, endLost, signaling.ReasonConnectionLost)
	}
}

// reconcile brings our call in line with the server's snapshot after a
// (re)connect.
func (e *Engine) reconcile(snap *signaling.CallInfo) {
	c := e.call
	if c == nil {
		return
	}
	if c.id == "" {
		return // the invite reply will bring the id
	}
	if snap == nil || snap.CallID != c.id {
		e.endCall(c, endLost, signaling.ReasonConnectionLost)
		return
	}
	me, ok := snap.Participant(e.cfg.UserID)
	if !ok || !me.State.Active() {
		e.endCall(c, endLost, signaling.ReasonConnectionLost)
		return
	}
	if e.st != stateInCall {
		return
	}
	joined := map[string]bool{}
	for _, p := range snap.Participants {
		if p.State == signaling.StateJoined && p.UserID != e.cfg.UserID {
			joined[p.UserID] = true
			e.addRemote(c, p.UserID)
			if r := c.remotes[p.UserID]; r != nil {
				r.away = p.Away
			}
		}
	}
	for id := range c.remotes {
		if !joined[id] {
			reason := "hangup"
			if p, ok := snap.Participant(id); ok && p.Reason != signaling.ReasonNone {
				reason = leaveReason(p.Reason)
			}
			e.remoteLeft(c, id, reason)
		}
	}
}

// strayCall handles a call the server has us in that we are not in: an
// invitation whose push was lost while the connection was down rings now;
// a call we had left (the server missed it while it was away) is left
// again, so the server does not hold us busy in it.
func (e *Engine) strayCall(info *signaling.CallInfo) {
	me, ok := info.Participant(e.cfg.UserID)
	switch {
	case !ok || e.client == nil:
	case me.State == signaling.StateRinging && !e.finished.has(info.CallID):
		e.onSignal(signaling.IncomingCall{CallInfo: *info}) // rings, or is declined if busy
	case me.State == signaling.StateRinging:
		e.rejectAsync(e.client, info.CallID)
	case me.State == signaling.StateJoined:
		e.hangupAsync(e.client, info.CallID)
	}
}

// addRemote starts the media link to a joined participant and raises
// onUserJoin, once per participation.
func (e *Engine) addRemote(c *activeCall, id string) {
	if id == e.cfg.UserID || c.remotes[id] != nil {
		return
	}
	r := &remoteUser{id: id}
	c.remotes[id] = r
	e.events.publish(UserJoin{UserID: id})
	if e.st != stateInCall {
		// A caller hears of the first join just before callBegan; the
		// media link starts then.
		return
	}
	e.startMedia(c, r)
}

// startMedia creates the audio receiver and the peer connection for r.
func (e *Engine) startMedia(c *activeCall, r *remoteUser) {
	if r.peer != nil {
		return
	}
	rx, err := e.pipe.AddRemote(r.id)
	if err != nil {
		e.mediaError(r.id, err)
		return
	}
	r.rx.Store(rx)
	callID, id := c.id, r.id
	// The connection the callbacks below come from: when it is replaced
	// (a remote that joined back), the old one's late reports are not
	// about r's link any more. Set and read with e.mu held (the callbacks
	// take it, so none runs before self is set).
	var self *peer
	current := func() bool { return self != nil && r.peer == self }
	p, err := newPeer(e.cfg.UserID, id, e.media, e.track, c.media == MediaVideo, peerEvents{
		signal: func(m signalMsg) {
			b, err := json.Marshal(m)
			if err != nil {
				return
			}
			e.relays.send(callID, id, b)
		},
		audio: func(pkt *rtp.Packet) {
			if rx := r.rx.Load(); rx != nil {
				rx.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.SSRC, pkt.Payload)
			}
		},
		video: func(on bool) { e.onRemoteVideo(callID, id, current, on) },
		mediaStarted: func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if c := e.callFor(callID); c != nil && c.remotes[id] == r && current() {
				e.updateAudioAvailable(r, time.Now())
			}
		},
		state: func(s webrtc.ICEConnectionState) { e.onICE(callID, id, current, s) },
	})
	if err != nil {
		e.pipe.RemoveRemote(id)
		r.rx.Store(nil)
		e.mediaError(id, err)
		return
	}
	self = p
	r.peer = p
}

func (e *Engine) mediaError(id string, err error) {
	e.log.Error("media link", "peer", id, "err", err)
	e.events.publish(ErrorEvent{Code: CodeMedia, Message: fmt.Sprintf("media link to %s: %v", id, err)})
}

// remoteLeft raises onUserLeave for a participant who left a live call,
// after saying their audio and video are gone (if they were there), and
// ends the media link.
func (e *Engine) remoteLeft(c *activeCall, id, reason string) {
	r := c.remotes[id]
	if r == nil {
		return
	}
	if r.audioAvail {
		e.events.publish(UserAudioAvailable{UserID: id, IsAudioAvailable: false})
	}
	if r.videoAvail {
		e.events.publish(UserVideoAvailable{UserID: id, IsVideoAvailable: false})
	}
	e.dropRemote(c, id)
	e.events.publish(UserLeave{UserID: id, Reason: reason})
}

// dropRemote ends the media link to id. The peer connection closes in the
// background: closing waits for pion's goroutines, which may be calling
// back into the engine.
func (e *Engine) dropRemote(c *activeCall, id string) {
	r := c.remotes[id]
	if r == nil {
		return
	}
	delete(c.remotes, id)
	e.dropPeer(r)
}

// dropPeer ends r's media link (closing it in the background); r stays in
// the call.
func (e *Engine) dropPeer(r *remoteUser) {
	if r.rx.Swap(nil) != nil {
		e.pipe.RemoveRemote(r.id)
	}
	if p := r.peer; p != nil {
		r.peer = nil
		e.peerWG.Add(1)
		go func() {
			defer e.peerWG.Done()
			p.close()
		}()
	}
}

// onRelay takes a message another participant sent us through the server.
func (e *Engine) onRelay(v signaling.Relayed) {
	c := e.callFor(v.CallID)
	if c == nil {
		return
	}
	var m signalMsg
	if err := json.Unmarshal(v.Payload, &m); err != nil {
		e.log.Warn("bad relay payload", "from", v.From, "err", err)
		return
	}
	r := c.remotes[v.From]
	if r == nil {
		return // not (or no longer) joined: nothing to set up
	}
	if m.Kind == "media" {
		r.muted = m.Muted
		e.updateAudioAvailable(r, time.Now())
		return
	}
	if r.peer != nil {
		switch r.peer.admit(m) {
		case stale:
			e.log.Debug("dropping a message of an earlier connection", "from", v.From, "kind", m.Kind, "sid", m.Sid, "to", m.To)
			return
		case remoteAnew:
			// They left and joined back (or restarted) before we saw it:
			// their new connection's offer needs a new one here.
			e.log.Info("new connection from the remote; replacing ours", "peer", v.From)
			e.dropPeer(r)
		}
	}
	if r.peer == nil {
		if e.st != stateInCall {
			return
		}
		e.startMedia(c, r)
		if r.peer == nil {
			return
		}
		if r.peer.admit(m) != admitted {
			return
		}
	}
	r.peer.handle(m)
}

func (e *Engine) onRemoteVideo(callID, id string, current func() bool, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.callFor(callID)
	if c == nil {
		return
	}
	if r := c.remotes[id]; r != nil && current() && r.videoAvail != on {
		r.videoAvail = on
		e.events.publish(UserVideoAvailable{UserID: id, IsVideoAvailable: on})
	}
}

func (e *Engine) onICE(callID, id string, current func() bool, s webrtc.ICEConnectionState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.callFor(callID); c != nil {
		if r := c.remotes[id]; r != nil && current() {
			r.ice = s
			switch s {
			case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
				r.iceUp, r.iceDownSince = true, time.Time{}
			case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
				if r.iceUp && r.iceDownSince.IsZero() {
					r.iceDownSince = time.Now()
				}
			}
		}
	}
}

// rejectAsync declines an invitation in the background.
func (e *Engine) rejectAsync(client *signaling.Client, id string) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Reject(ctx, id)
	}()
}

// autoAnswer accepts the ringing call in the background.
func (e *Engine) autoAnswer() {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := e.Accept(ctx); err != nil {
			e.log.Warn("auto-answer", "err", err)
		}
	}()
}

func leaveReason(r signaling.Reason) string {
	switch r {
	case signaling.ReasonConnectionLost:
		return "disconnected"
	case signaling.ReasonKicked:
		return "kicked"
	case "":
		return "hangup"
	}
	return string(r)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func appendNew(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
