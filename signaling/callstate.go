package signaling

import (
	"fmt"
	"slices"
	"time"
)

// This file is the server's authoritative call state machine. Two switches
// hold all of it:
//
//   - transition: a participant's state × event → next state, or the error
//     reply for an event that is not allowed in that state. It is pure, so a
//     request is checked before anything changes.
//   - settle: the call's state after each participant change: becoming
//     active (callBegan), staying up, or ending (callCancelled/callEnded for
//     whoever is still in it).
//
// apply runs a transition and emits exactly the pushes PROTOCOL.md lists for
// it. Everything here runs with Server.mu held.

// callState is a call's lifecycle state.
type callState uint8

const (
	callNone    callState = iota
	callRinging           // only one participant joined so far
	callActive            // two participants were joined at once at some point
	callEnded             // over; the call is gone from the server's tables
)

func (s callState) String() string {
	switch s {
	case callNone:
		return "none"
	case callRinging:
		return "ringing"
	case callActive:
		return "active"
	case callEnded:
		return "ended"
	}
	return fmt.Sprintf("callState(%d)", int(s))
}

// callEvent is something that happens to one participant of a call.
type callEvent uint8

const (
	evNone    callEvent = iota
	evInvite            // invited (or invited again) while logged in and free
	evBusy              // invited while ringing or joined in another call
	evOffline           // invited while not logged in
	evAccept            // accepted the invitation
	evJoin              // joined: accept while ringing, or come back later
	evReject            // declined the invitation
	evHangup            // hung up: leave when joined, decline when ringing
	evTimeout           // the invitation timed out
	evGone              // lost: grace period over, kicked, ticket expired, logged out
)

func (e callEvent) String() string {
	switch e {
	case evNone:
		return "none"
	case evInvite:
		return "invite"
	case evBusy:
		return "busy"
	case evOffline:
		return "offline"
	case evAccept:
		return "accept"
	case evJoin:
		return "join"
	case evReject:
		return "reject"
	case evHangup:
		return "hangup"
	case evTimeout:
		return "timeout"
	case evGone:
		return "gone"
	}
	return fmt.Sprintf("callEvent(%d)", int(e))
}

// stateNew is the state of a user who is not (yet) a participant.
const stateNew ParticipantState = ""

// transition is the participant state machine: the next state for event ev
// in state st, or the error reply when ev is not allowed there.
func transition(st ParticipantState, ev callEvent) (ParticipantState, *Error) {
	switch st {
	case stateNew, StateLeft, StateRejected, StateNoResponse, StateLineBusy:
		switch ev {
		case evInvite:
			return StateRinging, nil
		case evBusy:
			return StateLineBusy, nil
		case evOffline:
			return StateNoResponse, nil
		case evJoin:
			if st == stateNew {
				return st, &Error{CodeNotInvited, "you were not invited to this call"}
			}
			return StateJoined, nil
		case evAccept, evReject:
			if st == stateNew {
				return st, &Error{CodeNotInvited, "you were not invited to this call"}
			}
			return st, &Error{CodeWrongState, fmt.Sprintf("you are not ringing in this call (you %s); use join to come back", describeState(st))}
		case evHangup:
			if st == stateNew {
				return st, &Error{CodeNotInvited, "you are not in this call"}
			}
			return st, &Error{CodeWrongState, fmt.Sprintf("you are not in this call any more (you %s)", describeState(st))}
		}
	case StateRinging:
		switch ev {
		case evAccept, evJoin:
			return StateJoined, nil
		case evReject, evHangup:
			return StateRejected, nil
		case evTimeout, evGone:
			return StateNoResponse, nil
		case evInvite, evBusy, evOffline:
			return st, &Error{CodeAlreadyInCall, "already ringing in this call"}
		}
	case StateJoined:
		switch ev {
		case evHangup, evGone:
			return StateLeft, nil
		case evAccept, evJoin:
			return st, &Error{CodeWrongState, "you have already joined this call"}
		case evReject:
			return st, &Error{CodeWrongState, "you have already joined this call; hang up to leave"}
		case evInvite, evBusy, evOffline:
			return st, &Error{CodeAlreadyInCall, "already joined in this call"}
		}
	}
	return st, &Error{CodeInternal, fmt.Sprintf("event %s is not defined in state %q", ev, st)}
}

func describeState(st ParticipantState) string {
	switch st {
	case StateLeft:
		return "left it"
	case StateRejected:
		return "rejected it"
	case StateNoResponse:
		return "did not answer in time"
	case StateLineBusy:
		return "were busy"
	}
	return string(st)
}

// member is one participant of a call.
type member struct {
	userID string
	state  ParticipantState
	reason Reason
	// begun is true once this participation got callBegan; it decides
	// between callEnded and callCancelled when it ends.
	begun     bool
	ringTimer Timer
	ringFor   time.Duration // how long the current invitation rings
	// invitedBy rang this member the last time (the invite limits'
	// caller); relays and relayBytes count the relays to or from it while
	// that invitation rings.
	invitedBy  string
	relays     int
	relayBytes int
	// lostRing: rebuilt from a call token in which it was ringing; the
	// invitation ended with the old server (restore announces it).
	lostRing bool
	// In a cluster: home is the node the member is logged in to when that
	// is not this one (its pushes and changes go there; "" here), away
	// that its connection there is down; ringAt is when the invitation
	// times out, inviterHome the node of invitedBy when it rang.
	home        string
	away        bool
	ringAt      time.Time
	inviterHome string
}

// call is one call on the server.
type call struct {
	id       string
	room     RoomID
	named    bool // the caller asked for the room (pickRoom)
	callerID string
	groupID  string
	media    MediaType
	userData string
	timeout  time.Duration
	state    callState
	members  []*member // the caller first, then invitees in order
	// lastOutcome is why the latest invitee stopped ringing without joining;
	// it is the reason the caller hears when the call is cancelled.
	lastOutcome Reason
	// ver counts the changes of the members' states, for call tokens
	// (token is the one signed for tokenVer).
	ver      uint64
	token    string
	tokenVer uint64
	// restored: rebuilt from a call token (restore.go).
	restored bool
	// In a cluster: remote marks a stand-in at a member's node for a call
	// that another node runs (remote is that node; only id is set);
	// savedAs is the owner under which the shared state lists the call
	// ("" when never saved), tombstone that its end must be recorded
	// there (tokens of it are about).
	remote    string
	savedAs   string
	tombstone bool
}

func (c *call) member(userID string) *member {
	for _, m := range c.members {
		if m.userID == userID {
			return m
		}
	}
	return nil
}

func (c *call) counts() (joined, ringing int) {
	for _, m := range c.members {
		switch m.state {
		case StateJoined:
			joined++
		case StateRinging:
			ringing++
		}
	}
	return
}

func (c *call) role(userID string) CallRole {
	if userID == c.callerID {
		return RoleCaller
	}
	return RoleCalled
}

// apply moves m through ev (the caller has checked it with transition) and
// emits the pushes for it, then settles the call. by is the inviter for
// evInvite; reason qualifies evGone.
func (s *Server) apply(c *call, m *member, ev callEvent, reason Reason, by string) {
	next, err := transition(m.state, ev)
	if err != nil {
		// Callers check first; reaching here is a bug, and the safest thing
		// is to change nothing.
		s.log.Error("call state machine: refused transition", "call", c.id, "user", m.userID, "state", m.state, "event", ev, "err", err)
		return
	}
	prev := m.state
	m.state = next
	c.ver++
	s.changed(c)
	if m.ringTimer != nil && next != StateRinging {
		m.ringTimer.Stop()
		m.ringTimer = nil
	}
	// The pushes to the others carry the call's new token (callToken).
	switch ev {
	case evInvite:
		m.reason, m.begun = ReasonNone, false
		m.relays, m.relayBytes = 0, 0
		s.setCall(c, m)
		s.startRing(c, m)
		s.tell(c, m, &Frame{Type: TypeIncoming, Call: s.callInfo(c)})
		if by != "" {
			// A later invitation (inviteMore or a re-invite): tell the
			// others. The first invitees need no such push: the caller has
			// the invite reply and each invitee the full calleeIdList.
			s.pushOthers(c, m.userID, by, false, &Frame{Type: TypeUserInvited, CallID: c.id, UserID: m.userID, By: by, CallToken: s.callToken(c)})
		}
	case evBusy:
		m.reason, c.lastOutcome = ReasonLineBusy, ReasonLineBusy
		s.pushOthers(c, m.userID, "", false, &Frame{Type: TypeUserLineBusy, CallID: c.id, UserID: m.userID, CallToken: s.callToken(c)})
	case evOffline:
		m.reason, c.lastOutcome = ReasonOffline, ReasonOffline
		s.pushOthers(c, m.userID, "", false, &Frame{Type: TypeUserNoResponse, CallID: c.id, UserID: m.userID, Reason: ReasonOffline, CallToken: s.callToken(c)})
	case evAccept, evJoin:
		if prev == StateRinging {
			s.inviteAnswered(c, m)
		}
		m.reason, m.begun = ReasonNone, false
		s.setCall(c, m)
		s.pushOthers(c, m.userID, "", true, &Frame{Type: TypeUserJoined, CallID: c.id, UserID: m.userID, CallToken: s.callToken(c)})
	case evReject, evHangup, evTimeout, evGone:
		s.clearCall(c, m)
		switch {
		case prev == StateRinging && (ev == evReject || ev == evHangup):
			m.reason, c.lastOutcome = ReasonRejected, ReasonRejected
			s.inviteRejected(c, m)
			s.pushOthers(c, m.userID, "", false, &Frame{Type: TypeUserRejected, CallID: c.id, UserID: m.userID, CallToken: s.callToken(c)})
			s.tell(c, m, &Frame{Type: TypeCallCancelled, CallID: c.id, CallerID: c.callerID, Reason: ReasonRejected})
		case prev == StateRinging:
			r := ReasonNoResponse
			if ev == evGone {
				r = reason
			}
			m.reason, c.lastOutcome = r, ReasonNoResponse
			s.pushOthers(c, m.userID, "", false, &Frame{Type: TypeUserNoResponse, CallID: c.id, UserID: m.userID, Reason: r, CallToken: s.callToken(c)})
			s.tell(c, m, &Frame{Type: TypeCallCancelled, CallID: c.id, CallerID: c.callerID, Reason: r})
		default: // joined → left
			r := ReasonHangup
			if ev == evGone {
				r = reason
			}
			m.reason = r
			s.pushOthers(c, m.userID, "", true, &Frame{Type: TypeUserLeft, CallID: c.id, UserID: m.userID, Reason: r, CallToken: s.callToken(c)})
			if m.begun {
				s.tell(c, m, &Frame{Type: TypeCallEnded, CallID: c.id, Reason: r})
			} else {
				if r == ReasonHangup {
					r = ReasonCanceled
				}
				s.tell(c, m, &Frame{Type: TypeCallCancelled, CallID: c.id, CallerID: c.callerID, Reason: r})
			}
			m.begun = false
		}
	}
	s.settle(c)
}

// settle decides the call's state after a participant change.
func (s *Server) settle(c *call) {
	switch c.state {
	case callRinging, callActive:
		joined, ringing := c.counts()
		switch {
		case joined >= 2:
			if c.state != callActive {
				c.state = callActive
				s.totals.callsConnected++
			}
			for _, m := range c.members {
				if m.state == StateJoined && !m.begun {
					m.begun = true
					s.tell(c, m, &Frame{Type: TypeCallBegan, CallID: c.id, RoomID: &c.room, MediaType: c.media,
						CallRole: c.role(m.userID), Call: s.callInfo(c), CallToken: s.callToken(c)})
				}
			}
		case joined == 1 && ringing > 0:
			// Someone is waiting for an answer: the call stays up.
		default:
			s.endCall(c, ReasonNone)
		}
	case callNone, callEnded:
		// Nothing to settle: not started, or already over.
	}
}

// endCall ends c for everyone still in it. With ReasonNone the reasons follow
// from the call (cancelled: the last invitee's outcome; ended: allLeft);
// otherwise every participant is told reason (server shutdown).
func (s *Server) endCall(c *call, reason Reason) {
	if c.state != callEnded {
		s.totals.callsEnded++
	}
	if s.multi && c.state == callActive {
		// A participant who was away keeps the call's token and may
		// present it to another node: the end must be on record.
		for _, m := range c.members {
			if m.state == StateJoined && s.isAway(m) {
				c.tombstone = true
			}
		}
	}
	c.state = callEnded
	s.changed(c)
	for _, m := range c.members {
		if m.ringTimer != nil {
			m.ringTimer.Stop()
			m.ringTimer = nil
		}
		switch m.state {
		case StateJoined:
			s.clearCall(c, m)
			m.state = StateLeft
			switch {
			case reason != ReasonNone:
				m.reason = reason
			case m.begun:
				m.reason = ReasonAllLeft
			case c.lastOutcome != ReasonNone:
				m.reason = c.lastOutcome
			default:
				m.reason = ReasonCanceled
			}
			if m.begun {
				s.tell(c, m, &Frame{Type: TypeCallEnded, CallID: c.id, Reason: m.reason})
			} else {
				s.tell(c, m, &Frame{Type: TypeCallCancelled, CallID: c.id, CallerID: c.callerID, Reason: m.reason})
			}
			m.begun = false
		case StateRinging:
			s.clearCall(c, m)
			m.state = StateNoResponse
			m.reason = ReasonCanceled
			if reason != ReasonNone {
				m.reason = reason
			}
			s.tell(c, m, &Frame{Type: TypeCallCancelled, CallID: c.id, CallerID: c.callerID, Reason: m.reason})
		}
	}
	delete(s.calls, c.id)
	s.releaseRoom(c)
	if c.restored {
		s.cl.endedRestored(c.id) // its old tokens must not bring it back again
		c.tombstone = true
	}
	s.log.Debug("call ended", "call", c.id)
}

// forgetOldest makes room in c's member list for one more invitee: past
// MaxCallSize + MemberHistory members, the invitee who stopped ringing or
// left longest ago, other than those in keep, is forgotten (it can no
// longer join; inviting it again brings it back). So no stream of
// invitations, of offline users or anyone, grows a call or its messages.
func (s *Server) forgetOldest(c *call, keep []string) {
	if len(c.members) < s.cfg.MaxCallSize+s.cfg.MemberHistory {
		return
	}
	for i, m := range c.members {
		if i == 0 || m.state.Active() || slices.Contains(keep, m.userID) {
			continue
		}
		c.members = slices.Delete(c.members, i, i+1)
		c.ver++
		s.changed(c)
		return
	}
}

// startRing arms the invitation timeout for m.
func (s *Server) startRing(c *call, m *member) {
	d := c.timeout
	if m.ringFor > 0 {
		d = m.ringFor
	}
	m.ringAt = s.clock.Now().Add(d)
	s.armRing(c, m, d)
}

// armRing runs m's invitation timeout in d.
func (s *Server) armRing(c *call, m *member, d time.Duration) {
	var t Timer
	t = s.afterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		// A timer that was stopped or replaced after it fired must not act.
		if m.ringTimer != t || m.state != StateRinging || c.state == callEnded {
			return
		}
		m.ringTimer = nil
		s.apply(c, m, evTimeout, ReasonNone, "")
		s.flush(nil, nil)
	})
	m.ringTimer = t
}

// callInfo snapshots c for the wire.
func (s *Server) callInfo(c *call) *CallInfo {
	info := &CallInfo{
		CallID:       c.id,
		RoomID:       c.room,
		CallerID:     c.callerID,
		CalleeIDs:    make([]string, 0, len(c.members)-1),
		GroupID:      c.groupID,
		MediaType:    c.media,
		UserData:     c.userData,
		Timeout:      int(c.timeout / time.Second),
		Active:       c.state == callActive,
		Participants: make([]Participant, 0, len(c.members)),
	}
	for _, m := range c.members {
		if m.userID != c.callerID {
			info.CalleeIDs = append(info.CalleeIDs, m.userID)
		}
		p := Participant{UserID: m.userID, State: m.state, Reason: m.reason}
		if m.state == StateJoined {
			if m.home != "" {
				p.Away = m.away
			} else if sess := s.sessions[m.userID]; sess != nil && sess.conn == nil {
				p.Away = true
			}
		}
		info.Participants = append(info.Participants, p)
	}
	return info
}

// setCall records c as member m's current call (what makes them busy):
// here, or on the member's node.
func (s *Server) setCall(c *call, m *member) {
	if m.home != "" {
		s.visitors[m.userID] = c
		s.queueOp(m.home, peerItem{User: m.userID, Op: opCall, Call: c.id, Owner: s.node})
		return
	}
	if sess := s.sessions[m.userID]; sess != nil {
		sess.call = c
		sess.reserved = nil
	}
}

// clearCall forgets c as member m's current call.
func (s *Server) clearCall(c *call, m *member) {
	if m.home != "" {
		if s.visitors[m.userID] == c {
			delete(s.visitors, m.userID)
		}
		s.queueOp(m.home, peerItem{User: m.userID, Op: opClear, Call: c.id})
		return
	}
	if sess := s.sessions[m.userID]; sess != nil && sess.call == c {
		sess.call = nil
		if sess.conn == nil && sess.graceTimer != nil {
			// Away and no call to come back to: nothing left to hold.
			s.dropSession(sess)
		}
	}
}
