package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// This file is the keyboard: keys routed by mode and call state, and the
// actions they start.

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	keys := m.activeKeys()
	switch m.mode() {
	case modeConfirm:
		switch {
		case key.Matches(k, keys.Yes):
			m.confirm = false
			return m.leave()
		case key.Matches(k, keys.No):
			m.confirm = false
		}
		return nil
	case modePrompt:
		switch {
		case key.Matches(k, keys.ForceQuit):
			return m.requestQuit()
		case key.Matches(k, keys.Cancel):
			m.prompt = nil
			m.stash = ""
		case key.Matches(k, keys.ToggleMedia):
			m.prompt.toggleMedia()
		case key.Matches(k, keys.Submit):
			return m.submitPrompt()
		default:
			return m.prompt.update(k)
		}
		return nil
	}
	switch {
	case key.Matches(k, keys.Cancel): // only enabled on the help screen
		m.showHelp = false
	case key.Matches(k, keys.Help):
		m.showHelp = !m.showHelp
	case key.Matches(k, keys.Quit):
		return m.requestQuit()
	case key.Matches(k, keys.Call):
		m.openPrompt(promptDial)
	case key.Matches(k, keys.Accept):
		if k.String() == "enter" && m.now().Before(m.enterGuard) {
			return nil
		}
		return m.accept()
	case key.Matches(k, keys.Reject):
		return m.reject()
	case key.Matches(k, keys.Hangup):
		if m.state == stateIncoming {
			return m.reject()
		}
		return m.hangup()
	case key.Matches(k, keys.Mute):
		return m.toggleMute()
	case key.Matches(k, keys.Invite):
		m.openPrompt(promptInvite)
	case key.Matches(k, keys.Media):
		return m.switchMedia()
	}
	return nil
}

func (m *Model) openPrompt(kind promptKind) {
	m.showHelp = false
	if kind == promptDial {
		m.prompt = newPrompt(kind, m.stash, engine.MediaVoice)
		return
	}
	m.prompt = newPrompt(kind, "", engine.MediaVoice)
}

// submitPrompt places the call or sends the invitations typed into the
// prompt. Mistakes keep the prompt open with the text and say what to fix.
func (m *Model) submitPrompt() tea.Cmd {
	p := m.prompt
	req, err := parseDial(p.input.Value(), m.user, m.maxCallSize)
	if err != nil {
		p.err = err.Error()
		return nil
	}
	if p.kind == promptInvite {
		return m.submitInvite(req)
	}
	media := p.media
	if req.MediaSet {
		media = req.Media
	}
	m.prompt, m.stash = nil, ""
	m.seq++
	c := &session{seq: m.seq, dir: dirOutgoing, media: media, role: engine.RoleCaller, started: m.now()}
	for _, id := range req.Users {
		c.addPeer(id, peerCalling)
	}
	m.call = c
	m.status = statusLine{}
	m.setState(stateOutgoing)
	m.addLog(levelInfo, fmt.Sprintf("calling %s (%s)", joinIDs(req.Users), media))
	return tea.Batch(m.callAction(c.seq, req.Users, media), m.ensureTicking())
}

func (m *Model) submitInvite(req engine.Dial) tea.Cmd {
	p, c := m.prompt, m.call
	if c == nil || m.state != stateInCall {
		m.prompt = nil
		return nil
	}
	if req.MediaSet {
		p.err = "the media type belongs to the whole call: press v in the call to switch"
		return nil
	}
	for _, id := range req.Users {
		if q := c.peer(id); q != nil && (q.status == peerJoined || q.status.pending()) {
			p.err = id + " is already in this call"
			return nil
		}
	}
	if room := m.maxCallSize - 1 - c.countActive(); len(req.Users) > room {
		p.err = fmt.Sprintf("a call holds at most %d people: room for %d more", m.maxCallSize, max(room, 0))
		return nil
	}
	m.prompt = nil
	for _, id := range req.Users {
		q := c.addPeer(id, peerCalling)
		q.status = peerCalling
	}
	m.addLog(levelInfo, "inviting "+joinIDs(req.Users))
	return m.inviteAction(c.seq, req.Users)
}

func (m *Model) accept() tea.Cmd {
	c := m.call
	if m.state != stateIncoming || c == nil || c.accepting || c.rejecting {
		return nil
	}
	c.accepting = true
	m.ringGen++ // stop ringing: the answer is on its way
	return m.acceptAction(c.seq)
}

func (m *Model) reject() tea.Cmd {
	c := m.call
	if m.state != stateIncoming || c == nil || c.rejecting {
		return nil
	}
	c.rejecting = true
	m.ringGen++
	return m.rejectAction(c.seq, false)
}

func (m *Model) hangup() tea.Cmd {
	c := m.call
	if (m.state != stateOutgoing && m.state != stateInCall) || c == nil || c.hangingUp {
		return nil
	}
	c.hangingUp = true
	return m.hangupAction(c.seq, false)
}

func (m *Model) toggleMute() tea.Cmd {
	want := !m.muted
	if m.mutePending {
		want = !m.muteRequested
	}
	m.muteSeq++
	m.mutePending, m.muteRequested = true, want
	return m.muteAction(want, m.muteSeq)
}

func (m *Model) switchMedia() tea.Cmd {
	c := m.call
	if m.state != stateInCall || c == nil {
		return nil
	}
	to := engine.MediaVideo
	if c.media == engine.MediaVideo {
		to = engine.MediaVoice
	}
	m.setStatus(levelInfo, "switching to "+to.String()+"…")
	return m.switchMediaAction(c.seq, to)
}

// requestQuit is q or ctrl+c: leave at once when no call is up, ask first
// when one is. Pressed again while already leaving, it leaves now.
func (m *Model) requestQuit() tea.Cmd {
	if m.quitting {
		return tea.Quit
	}
	m.prompt = nil
	if m.state.active() {
		m.confirm = true
		return nil
	}
	m.quitting = true
	return tea.Quit
}

// leave ends the program cleanly: a ringing call is rejected, an outgoing or
// connected call hung up, and the program quits once the engine has answered
// (or the action's deadline passed).
func (m *Model) leave() tea.Cmd {
	if m.quitting {
		return tea.Quit
	}
	m.quitting = true
	m.prompt, m.confirm, m.showHelp = nil, false, false
	c := m.call
	switch {
	case c != nil && m.state == stateIncoming:
		c.rejecting = true
		m.setStatus(levelInfo, "rejecting the call, then quitting…")
		return m.rejectAction(c.seq, true)
	case c != nil && (m.state == stateOutgoing || m.state == stateInCall):
		c.hangingUp = true
		m.setStatus(levelInfo, "hanging up, then quitting…")
		return m.hangupAction(c.seq, true)
	}
	return tea.Quit
}
