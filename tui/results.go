package tui

import (
	tea "charm.land/bubbletea/v2"
)

// This file applies what the engine answered to the actions the keys
// started.

func (m *Model) onResult(r actionResultMsg) tea.Cmd {
	if r.err != nil {
		m.logger.Warn("engine action failed", "action", r.act.String(), "err", r.err)
	}
	m.applyResult(r)
	if r.quit {
		// Leave even if the hang-up failed; Run tries once more on the
		// way out for a call that is still up.
		return tea.Quit
	}
	return nil
}

// applyResult updates the model with what the engine answered.
func (m *Model) applyResult(r actionResultMsg) {
	c := m.call
	same := c != nil && c.seq == r.seq
	switch r.act {
	case actCall:
		if r.err != nil {
			m.addLog(levelError, "call failed: "+clean(r.err.Error()))
			if same && m.state == stateOutgoing {
				m.endCall(outcomeFailed, 0)
				m.setStatus(levelError, "Call failed: "+clean(r.err.Error()))
			}
			return
		}
		if same {
			for _, p := range c.peers {
				if p.status == peerCalling {
					p.status = peerRinging
				}
			}
		}
	case actInvite:
		if r.err != nil {
			m.addLog(levelError, "invite failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not invite "+joinIDs(r.ids)+": "+clean(r.err.Error()))
		}
		if !same {
			return
		}
		for _, id := range r.ids {
			p := c.peer(id)
			switch {
			case p == nil || p.status != peerCalling:
			case r.err != nil:
				c.removePeer(id)
			default:
				p.status = peerRinging
			}
		}
	case actAccept:
		if r.err != nil {
			if same {
				c.accepting = false
			}
			m.addLog(levelError, "accept failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not accept: "+clean(r.err.Error()))
		}
	case actReject:
		if r.err != nil {
			if same {
				c.rejecting = false
			}
			m.addLog(levelError, "reject failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not reject: "+clean(r.err.Error()))
			return
		}
		// The engine's onCallCancelled may come later or not at all; the
		// call is over for this user now.
		if same && m.state == stateIncoming {
			m.addLog(levelInfo, "you rejected the call from "+c.caller)
			m.endCall(outcomeRejected, 0)
		}
	case actHangup:
		if r.err != nil {
			if same {
				c.hangingUp = false
			}
			m.addLog(levelError, "hang up failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not hang up: "+clean(r.err.Error()))
			return
		}
		if same && (m.state == stateOutgoing || m.state == stateInCall) {
			if c.connected.IsZero() {
				m.addLog(levelInfo, "you cancelled the call")
				m.endCall(outcomeCancelled, 0)
			} else {
				d := m.now().Sub(c.connected)
				m.addLog(levelInfo, "you hung up after "+clock(d))
				m.endCall(outcomeCompleted, d)
			}
		}
	case actSwitchMedia:
		if r.err != nil {
			m.addLog(levelError, "switch to "+r.media.String()+" failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not switch to "+r.media.String()+": "+clean(r.err.Error()))
			return
		}
		m.status = statusLine{}
		if same && c.media != r.media {
			c.media = r.media
			m.addLog(levelInfo, "call switched to "+r.media.String())
		}
	case actMute:
		if r.muteSeq != m.muteSeq {
			return // a later press is on its way; its answer decides
		}
		m.mutePending = false
		if r.err != nil {
			m.addLog(levelError, "mute failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not change the microphone: "+clean(r.err.Error()))
			return
		}
		m.muted = r.muted
		if m.muted {
			m.addLog(levelInfo, "you muted your microphone")
		} else {
			m.addLog(levelInfo, "you unmuted your microphone")
		}
	}
}
