package tui

import (
	"fmt"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// This file routes the engine's events (the structs of package engine,
// received as messages) by call state.

func (m *Model) onEvent(ev engine.Event) tea.Cmd {
	switch ev := ev.(type) {
	case engine.UserVoiceVolumeChanged:
		m.onVolume(ev)
		return nil
	case engine.UserNetworkQualityChanged:
		m.onQuality(ev)
		return nil
	}
	m.logger.Info("engine event", "event", ev.EventName(), "state", m.state.String())
	switch ev := ev.(type) {
	case engine.ConnectionChanged:
		m.onConnection(ev.State)
		return nil
	case engine.AudioDeviceChanged:
		m.onAudioDevice(ev)
		return nil
	case engine.ErrorEvent:
		text := fmt.Sprintf("error %d: %s", ev.Code, clean(ev.Message))
		m.addLog(levelError, text)
		m.setStatus(levelError, text)
		return nil
	case engine.KickedOffline:
		m.onKicked()
		return nil
	case engine.UserSigExpired:
		m.onSigExpired()
		return nil
	}
	if m.state.terminal() {
		return nil // the session is over; late call events change nothing
	}
	switch ev := ev.(type) {
	case engine.CallReceived:
		return m.onCallReceived(ev)
	case engine.CallBegin:
		return m.onCallBegin(ev)
	case engine.CallEnd:
		m.onCallEnd(ev)
	case engine.CallCancelled:
		m.onCallCancelled(ev)
	case engine.UserReject:
		m.onPeerDone(clean(ev.UserID), peerRejected, "declined the call")
	case engine.UserNoResponse:
		if ev.Reason == "offline" {
			m.onPeerDone(clean(ev.UserID), peerOffline, "is offline or unknown: nobody with that id is logged in")
		} else {
			m.onPeerDone(clean(ev.UserID), peerNoAnswer, "did not answer")
		}
	case engine.UserLineBusy:
		m.onPeerDone(clean(ev.UserID), peerBusy, "is busy in another call")
	case engine.UserJoin:
		m.onJoin(clean(ev.UserID))
	case engine.UserLeave:
		m.onLeave(clean(ev.UserID), ev.Reason)
	case engine.CallMediaTypeChanged:
		if c := m.call; c != nil && c.media != ev.NewCallMediaType {
			c.media = ev.NewCallMediaType
			m.addLog(levelInfo, "call switched to "+ev.NewCallMediaType.String())
		}
	case engine.UserVideoAvailable:
		m.onVideo(clean(ev.UserID), ev.IsVideoAvailable)
	case engine.UserAudioAvailable:
		m.onAudio(clean(ev.UserID), ev.IsAudioAvailable)
	default:
		m.logger.Debug("engine event not shown", "event", ev.EventName())
	}
	return nil
}

func (m *Model) onConnection(s engine.ConnState) {
	if s == m.conn {
		return
	}
	prev := m.conn
	m.conn = s
	switch s {
	case engine.ConnConnected:
		m.addLog(levelInfo, "connected to "+m.server)
	case engine.ConnConnecting:
		m.addLog(levelInfo, "connecting to "+m.server+"…")
	case engine.ConnReconnecting:
		m.addLog(levelWarn, "lost the server connection: reconnecting…")
	default:
		// The engine reports offline first, before it logs in; that is
		// where every session starts, not a failure. Going offline from
		// a session that was up is.
		if prev == engine.ConnConnected || prev == engine.ConnReconnecting {
			m.addLog(levelError, "offline: cannot reach "+m.server)
		}
	}
}

func (m *Model) onAudioDevice(ev engine.AudioDeviceChanged) {
	m.devicesKnown = true
	m.mic, m.speaker, m.audioWarning = clean(ev.Mic), clean(ev.Speaker), clean(ev.Warning)
	m.voice = engine.VoiceProcessing{AEC: clean(ev.Voice.AEC), NS: clean(ev.Voice.NS), AGC: clean(ev.Voice.AGC)}
	if m.audioWarning != "" {
		m.addLog(levelWarn, "audio: "+m.audioWarning)
		m.setStatus(levelWarn, "Audio: "+m.audioWarning)
		return
	}
	m.addLog(levelInfo, "audio: mic "+m.mic+", speaker "+m.speaker)
}

func (m *Model) onVolume(ev engine.UserVoiceVolumeChanged) {
	c := m.call
	if c == nil {
		return
	}
	for id, v := range ev.VolumeMap {
		v = min(max(v, 0), 100)
		if id == m.user {
			c.myVolume = v
		} else if p := c.peer(id); p != nil {
			p.volume = v
		}
	}
}

func (m *Model) onQuality(ev engine.UserNetworkQualityChanged) {
	c := m.call
	if c == nil {
		return
	}
	for id, q := range ev.NetworkQuality {
		if id == m.user {
			c.myQuality = q
		} else if p := c.peer(id); p != nil {
			p.quality = q
		}
	}
	for id, path := range ev.Connection {
		if p := c.peer(id); p != nil {
			p.path = path
		}
	}
}

func (m *Model) onCallReceived(ev engine.CallReceived) tea.Cmd {
	caller := clean(ev.CallerID)
	if m.state != stateIdle {
		// The engine answers "busy" for us; say that someone tried.
		m.addLog(levelWarn, "missed a call from "+caller+" (you were in a call)")
		m.addRecent(recentCall{at: m.now(), dir: dirIncoming, peers: []string{caller},
			media: ev.CallMediaType, outcome: outcomeMissed})
		return nil
	}
	m.seq++
	c := &session{
		seq: m.seq, dir: dirIncoming, media: ev.CallMediaType, caller: caller,
		groupID: clean(ev.GroupID), userData: clean(ev.UserData), callID: clean(ev.CallID),
		role: engine.RoleCalled, started: m.now(),
	}
	for _, id := range ev.CalleeIDList {
		if id = clean(id); id != m.user && id != caller && !slices.Contains(c.invitees, id) {
			c.invitees = append(c.invitees, id)
		}
	}
	m.call = c
	m.status = statusLine{}
	if m.prompt != nil {
		m.enterGuard = m.now().Add(enterGuardTime)
	}
	m.setState(stateIncoming)
	m.addLog(levelInfo, fmt.Sprintf("incoming %s call from %s", c.media, caller))
	m.ringGen++
	return tea.Batch(bell, m.after(ringEvery, ringMsg{gen: m.ringGen}), m.ensureTicking())
}

// bell rings the terminal bell, which a user on SSH hears on their own
// machine (the ringtone plays on the engine's speaker, which may be remote).
func bell() tea.Msg { return tea.RawMsg{Msg: "\a"} }

func (m *Model) onRing(msg ringMsg) tea.Cmd {
	if msg.gen != m.ringGen || m.state != stateIncoming || m.call == nil || m.call.accepting || m.call.rejecting {
		return nil
	}
	return tea.Batch(bell, m.after(ringEvery, ringMsg{gen: m.ringGen}))
}

func (m *Model) onCallBegin(ev engine.CallBegin) tea.Cmd {
	c := m.call
	if c == nil {
		// A call this UI did not see start (it connected during a race):
		// show it anyway; participants arrive with onUserJoin.
		m.seq++
		dir := dirIncoming
		if ev.CallRole == engine.RoleCaller {
			dir = dirOutgoing
		}
		c = &session{seq: m.seq, dir: dir, started: m.now()}
		m.call = c
	}
	c.connected = m.now()
	c.media = ev.CallMediaType
	c.role = ev.CallRole
	if ev.CallID != "" {
		c.callID = clean(ev.CallID)
	}
	c.accepting = false
	if c.dir == dirIncoming {
		if c.caller != "" {
			c.addPeer(c.caller, peerJoined).status = peerJoined
		}
		for _, id := range c.invitees {
			c.addPeer(id, peerRinging)
		}
	} else {
		var pending []*peer
		for _, p := range slices.Clone(c.peers) {
			switch {
			case p.status.pending():
				pending = append(pending, p)
			case p.status != peerJoined:
				c.removePeer(p.id) // rejected, busy, offline: logged already
			}
		}
		// In a 1:1 call the one who rang is the one who answered.
		if len(c.peers) == 1 && len(pending) == 1 {
			pending[0].status = peerJoined
		}
	}
	m.ringGen++
	m.status = statusLine{}
	m.setState(stateInCall)
	m.addLog(levelInfo, fmt.Sprintf("call connected (%s)", c.media))
	return m.ensureTicking()
}

func (m *Model) onCallEnd(ev engine.CallEnd) {
	c := m.call
	if c == nil {
		return // already ended here (this user hung up)
	}
	d := time.Duration(ev.TotalTime * float64(time.Second))
	if d <= 0 && !c.connected.IsZero() {
		d = m.now().Sub(c.connected)
	}
	m.addLog(levelInfo, "call ended after "+clock(d))
	m.setStatus(levelInfo, "Call ended after "+clock(d)+".")
	m.endCall(outcomeCompleted, d)
}

func (m *Model) onCallCancelled(ev engine.CallCancelled) {
	c := m.call
	if c == nil {
		return
	}
	switch m.state {
	case stateOutgoing:
		o := c.unansweredOutcome()
		m.setStatus(outcomeLevel(o), m.unansweredText(c, o))
		m.addLog(outcomeLevel(o), "call not connected: "+o.String())
		m.endCall(o, 0)
	case stateIncoming:
		switch {
		case c.rejecting:
			m.addLog(levelInfo, "you rejected the call from "+c.caller)
			m.endCall(outcomeRejected, 0)
		case clean(ev.CallerID) == c.caller:
			m.addLog(levelWarn, c.caller+" hung up before you answered")
			m.setStatus(levelWarn, "Missed call from "+c.caller+" (they hung up).")
			m.endCall(outcomeMissed, 0)
		default:
			m.addLog(levelWarn, "missed call from "+c.caller)
			m.setStatus(levelWarn, "Missed call from "+c.caller+".")
			m.endCall(outcomeMissed, 0)
		}
	case stateInCall:
		d := m.now().Sub(c.connected)
		m.addLog(levelInfo, "call ended after "+clock(d))
		m.endCall(outcomeCompleted, d)
	}
}

func outcomeLevel(o outcome) logLevel {
	switch o {
	case outcomeCancelled, outcomeCompleted:
		return levelInfo
	case outcomeNoAnswer, outcomeBusy:
		return levelWarn
	}
	return levelError
}

// unansweredText is the status line after an outgoing call ended without an
// answer: who did what, in words.
func (m *Model) unansweredText(c *session, o outcome) string {
	if o == outcomeCancelled {
		return "Call cancelled."
	}
	var parts []string
	for _, p := range c.peers {
		switch p.status {
		case peerRejected:
			parts = append(parts, p.id+" declined")
		case peerBusy:
			parts = append(parts, p.id+" is busy")
		case peerNoAnswer:
			parts = append(parts, p.id+" did not answer")
		case peerOffline:
			parts = append(parts, p.id+" is offline or unknown (not logged in)")
		}
	}
	if len(parts) == 0 {
		return "The call was not answered."
	}
	s := parts[0]
	for _, p := range parts[1:] {
		s += "; " + p
	}
	return s + "."
}

// onPeerDone handles an invitee who will not join: rejected, no answer,
// offline, busy.
func (m *Model) onPeerDone(id string, st peerStatus, what string) {
	c := m.call
	if c == nil {
		return
	}
	p := c.peer(id)
	if p == nil {
		return
	}
	p.status = st
	level := levelWarn
	if st == peerOffline || st == peerRejected {
		level = levelError
	}
	m.addLog(level, id+" "+what)
	if m.state == stateInCall {
		c.removePeer(id) // the table shows who is in the call or ringing
	}
}

func (m *Model) onJoin(id string) {
	c := m.call
	if c == nil || id == m.user {
		return
	}
	c.addPeer(id, peerJoined).status = peerJoined
	m.addLog(levelInfo, id+" joined")
}

func (m *Model) onLeave(id, reason string) {
	c := m.call
	if c == nil || c.peer(id) == nil {
		return
	}
	c.peer(id).status = peerLeft
	if m.state == stateInCall {
		c.removePeer(id)
	}
	switch reason {
	case "disconnected":
		m.addLog(levelWarn, id+" dropped (connection lost)")
	case "kicked":
		m.addLog(levelWarn, id+" left (signed in elsewhere)")
	default:
		m.addLog(levelInfo, id+" left")
	}
}

func (m *Model) onVideo(id string, on bool) {
	c := m.call
	if c == nil {
		return
	}
	if id == m.user {
		c.myVideo = on
		return
	}
	if p := c.peer(id); p != nil && p.video != on {
		p.video = on
		if on {
			m.addLog(levelInfo, id+" turned video on")
		} else {
			m.addLog(levelInfo, id+" turned video off")
		}
	}
}

func (m *Model) onAudio(id string, on bool) {
	if id == m.user {
		// The engine's word on this user's microphone wins over what was
		// asked (a device may have failed).
		if !m.mutePending {
			m.muted = !on
		}
		return
	}
	c := m.call
	if c == nil {
		return
	}
	if p := c.peer(id); p != nil && p.audio != on {
		p.audio = on
		if on {
			m.addLog(levelInfo, id+" unmuted")
		} else {
			m.addLog(levelInfo, id+" muted")
		}
	}
}

func (m *Model) onKicked() {
	if m.call != nil {
		m.addRecentFor(m.call, outcomeLost, m.talkTime())
		m.call = nil
	}
	m.addLog(levelError, "signed in elsewhere: this session was logged out")
	m.exitErr = ErrKickedOffline
	m.setState(stateKicked)
}

func (m *Model) onSigExpired() {
	m.exitErr = ErrUserSigExpired
	m.addLog(levelError, "login ticket (userSig) expired")
	if m.state.active() {
		m.sigExpired = true
		m.setStatus(levelError, "Your login ticket expired: after this call, restart softphone with a new ticket.")
		return
	}
	m.setState(stateSigExpired)
}

func (m *Model) onEngineStopped() {
	m.logger.Warn("engine event stream closed")
	if m.state.terminal() {
		return // the kicked / expired screen already says what to do
	}
	if m.call != nil {
		m.addRecentFor(m.call, outcomeLost, m.talkTime())
		m.call = nil
	}
	m.addLog(levelError, "the phone engine stopped")
	m.exitErr = ErrEngineStopped
	m.setState(stateStopped)
}
