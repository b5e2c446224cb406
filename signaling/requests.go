package signaling

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// This file answers client requests. Each handler checks everything first
// and changes state only when the request will succeed, so an error reply
// never comes with half a change.

// handle processes one message from the client.
func (c *conn) handle(b []byte) {
	if !c.allow() {
		// Over the rate: refused without decoding, so a flood costs the
		// server little more than reading it.
		c.replyError(scanID(b), &Error{CodeRateLimited, "too many messages: slow down"})
		return
	}
	if !utf8.Valid(b) {
		c.replyError(scanID(b), &Error{CodeMalformed, "the message is not valid UTF-8 (every message is UTF-8 JSON; a browser closes its connection on anything else)"})
		return
	}
	f, err := DecodeFrame(b)
	if err != nil {
		c.replyError(f.ID, &Error{CodeMalformed, err.Error()})
		return
	}
	s := c.s
	if f.Type == TypeLogin {
		s.login(c, &f)
		return
	}

	// A relay's payload is checked before taking the lock (it may be
	// tens of KiB); the verdict counts only after the membership checks.
	var payloadErr *Error
	if f.Type == TypeRelay {
		payloadErr = checkRelayPayload(f.Payload)
	}

	s.mu.Lock()
	sess := c.sess
	if sess == nil {
		// Nothing but login before login, not even ping: a connection
		// that does not log in is closed at the login deadline.
		s.mu.Unlock()
		c.replyError(f.ID, &Error{CodeNotLoggedIn, "log in first: only login is allowed before it"})
		return
	}
	if f.Type == TypePing {
		b, _ := EncodeFrame(&Frame{Type: TypeOK, ID: f.ID, ServerTime: s.clock.Now().UnixMilli()})
		c.enqueue(b)
		s.mu.Unlock()
		return
	}
	if s.multi {
		// About a call another node runs, or ringing users of other
		// nodes: nodes.go, which must not hold the lock while it waits.
		if owner, across := s.routeOf(sess, &f); across {
			s.mu.Unlock()
			s.handleAcross(c, sess, &f, b, owner, payloadErr)
			return
		}
	}
	defer s.mu.Unlock()
	reply, e := s.serve(sess, &f, payloadErr)
	if f.Type == TypeLogout && e == nil {
		c.sess = nil
		sess.conn = nil
		defer c.closeAfterFlush(websocket.StatusNormalClosure, "logged out")
	}
	s.flush(c, encodeReply(s.log, f.ID, reply, e))
}

// encodeReply renders the reply to request id: ok with reply's fields, or
// the error.
func encodeReply(log *slog.Logger, id uint64, reply *Frame, e *Error) []byte {
	var out []byte
	if e != nil {
		out, _ = EncodeFrame(&Frame{Type: TypeError, ID: id, Code: e.Code, Message: e.Message})
		return out
	}
	reply.Type, reply.ID = TypeOK, id
	var err error
	if out, err = EncodeFrame(reply); err != nil {
		log.Error("encode reply", "err", err)
		out, _ = EncodeFrame(&Frame{Type: TypeError, ID: id, Code: CodeInternal, Message: "internal error"})
	}
	return out
}

// serve runs one request of a logged-in user (here, or of another node's
// user about a call run here: nodes.go) and returns the reply or the
// error. Held: s.mu.
func (s *Server) serve(sess *session, f *Frame, payloadErr *Error) (reply *Frame, e *Error) {
	switch f.Type {
	case TypeInvite:
		reply, e = s.invite(sess, f)
	case TypeAccept:
		reply, e = s.answer(sess, f, evAccept)
	case TypeReject:
		reply, e = s.answer(sess, f, evReject)
	case TypeHangup:
		reply, e = s.hangup(sess, f)
	case TypeJoin:
		reply, e = s.join(sess, f)
	case TypeInviteMore:
		reply, e = s.inviteMore(sess, f)
	case TypeSwitchMedia:
		reply, e = s.switchMedia(sess, f)
	case TypeRelay:
		reply, e = s.relay(sess, f, payloadErr)
	case TypeSync:
		reply = &Frame{}
		if sess.call != nil && sess.call.remote == "" {
			reply.Call = s.callInfo(sess.call)
		}
	case TypeLogout:
		s.leaveCall(sess, evHangup, ReasonNone)
		s.dropSession(sess)
		reply = &Frame{}
	case TypeOK, TypeError:
		e = &Error{CodeUnknownType, fmt.Sprintf("%q is a server reply, not a request", f.Type)}
	default:
		e = &Error{CodeUnknownType, fmt.Sprintf("unknown request type %q", f.Type)}
	}
	return reply, e
}

// login checks the ticket and starts, resumes or takes over a session; a
// call token brings back a call from before a restart (restore.go).
func (s *Server) login(c *conn, f *Frame) {
	fail := func(code Code, msg string) { c.replyError(f.ID, &Error{code, msg}) }
	if f.Version != ProtocolVersion {
		fail(CodeUnsupportedVersion, fmt.Sprintf("protocol version %d is not supported: this server speaks version %d", f.Version, ProtocolVersion))
		return
	}
	if !ValidUserID(f.UserID) {
		fail(CodeInvalidArgument, "userId must be 1-32 characters of A-Z a-z 0-9 _ -")
		return
	}
	now := s.clock.Now()
	tk, err := VerifyTicket(s.cfg.SecretKey, s.cfg.SDKAppID, f.UserID, f.UserSig, now)
	if errors.Is(err, ErrTicketExpiredAt) {
		fail(CodeTicketExpired, err.Error()+"; mint a new one")
		return
	}
	if err != nil {
		fail(CodeBadTicket, err.Error())
		return
	}
	// A call token is checked before taking the lock; a bad one is ignored
	// (the login goes on without the call), as is one from this very server.
	var claims *callClaims
	if f.CallToken != "" {
		claims = s.restorable(f.CallToken, f.UserID)
	}
	if s.multi {
		s.loginCluster(c, f, tk, claims)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loginHere(c, f, tk, claims, nil)
}

// loginHere logs in a user whose session, if any, is on this node. In a
// cluster, pres is what the user's presence record holds. Held: s.mu.
func (s *Server) loginHere(c *conn, f *Frame, tk Ticket, claims *callClaims, pres *presenceHere) *session {
	fail := func(code Code, msg string) { c.replyError(f.ID, &Error{code, msg}) }
	now := s.clock.Now()
	if s.closing {
		fail(CodeShuttingDown, "the server is shutting down")
		return nil
	}
	if c.sess != nil {
		fail(CodeAlreadyLoggedIn, "already logged in on this connection")
		return nil
	}
	if c.tc != nil {
		c.tc.t.loggedIn(c.tc)
	}
	reply := &Frame{Type: TypeOK, ID: f.ID, Version: ProtocolVersion, UserID: f.UserID,
		ServerTime: now.UnixMilli(), TicketExpires: tk.ExpiresAt().Unix(),
		Heartbeat: int(s.cfg.Heartbeat / time.Second), Grace: int(s.cfg.Grace / time.Second),
		MaxCallSize: s.cfg.MaxCallSize}

	old := s.sessions[f.UserID]
	if old != nil && old.restored {
		if claims != nil && old.call != nil && old.call.id == claims.CallID {
			// Back in the restored call that held this user's place.
			s.attach(old, c, tk.ExpiresAt(), reply)
			reply.Resumed = false // a new session for the client; its call came back
			s.rejoin(old, claims)
			s.replyLogin(c, old, reply, "call restored")
			return old
		}
		if pres != nil && f.Resume != "" && s.resumeOK(old, f.Resume) {
			// A place held for a user whose node went away: resumed.
			old.token = f.Resume
			s.attach(old, c, tk.ExpiresAt(), reply)
			old.presRev = pres.rev
			s.replyLogin(c, old, reply, "session resumed")
			return old
		}
		// Logged in without that call: the place is given up.
		s.leaveCall(old, evGone, ReasonConnectionLost)
		s.dropSession(old)
		old = nil
	}
	if old != nil && f.Resume != "" && subtle.ConstantTimeCompare([]byte(f.Resume), []byte(old.token)) == 1 {
		// The same client coming back: take the session over quietly.
		s.attach(old, c, tk.ExpiresAt(), reply)
		if pres != nil {
			old.presRev = pres.rev
		}
		s.replyLogin(c, old, reply, "session resumed")
		return old
	}
	if old != nil && f.Resume != "" {
		// A client coming back to a session that a newer login replaced
		// (while this one was away and missed its kicked push) must not
		// kick the newer one in turn.
		fail(CodeSessionReplaced, "this session was replaced by a newer login of the same user; log in again without resume to take over")
		return nil
	}
	if old != nil {
		old.moved = true // the presence record is the new session's
		s.kick(old)
	}
	sess := &session{userID: f.UserID, token: newID(16), conn: c}
	if pres != nil {
		sess.token, sess.presRev = pres.token, pres.rev
	}
	s.sessions[f.UserID] = sess
	c.sess = sess
	s.armExpiry(sess, tk.ExpiresAt())
	reply.ICEServers = s.iceServersFor(sess)
	reply.Token = sess.token
	what, then := "logged in", func() {}
	if claims != nil {
		if f := s.restore(sess, claims); f != nil {
			what, then = "call restored", f
		}
	}
	s.replyLogin(c, sess, reply, what)
	then()
	s.flush(nil, nil)
	return sess
}

// attach gives an existing session (away, or a restored call's place) the
// login's connection. The other joined participants hear userBack.
func (s *Server) attach(sess *session, c *conn, expires time.Time, reply *Frame) {
	wasAway := sess.conn == nil
	if prev := sess.conn; prev != nil && prev != c {
		prev.sess = nil
		prev.closeAfterFlush(CloseReplaced, "replaced by a newer connection of this session")
	}
	sess.conn = c
	sess.restored = false
	c.sess = sess
	stopTimer(&sess.graceTimer)
	s.armExpiry(sess, expires)
	reply.ICEServers = s.iceServersFor(sess)
	reply.Resumed, reply.Token = true, sess.token
	if sess.call != nil {
		if m := sess.call.member(sess.userID); wasAway && m != nil && m.state == StateJoined {
			s.pushOthers(sess.call, sess.userID, "", true, &Frame{Type: TypeUserBack, CallID: sess.call.id, UserID: sess.userID})
		}
	}
}

// replyLogin sends the login reply: with the user's call and its token when
// in one, before the pushes the login caused.
func (s *Server) replyLogin(c *conn, sess *session, reply *Frame, what string) {
	if sess.call != nil {
		reply.Call = s.callInfo(sess.call)
		reply.CallToken = s.callToken(sess.call)
	}
	s.totals.logins++
	s.log.Info(what, "user", sess.userID, "remote", c.remote, "inCall", sess.call != nil)
	b, _ := EncodeFrame(reply)
	s.flush(c, b)
}

// kick ends an older session of a user who logged in again elsewhere.
func (s *Server) kick(old *session) {
	s.log.Info("kicked offline: logged in elsewhere", "user", old.userID)
	s.leaveCall(old, evGone, ReasonKicked)
	if oc := old.conn; oc != nil {
		s.push(old.userID, &Frame{Type: TypeKicked, Message: "this user ID logged in elsewhere"})
		oc.sess = nil
		old.conn = nil
		s.flush(nil, nil)
		oc.closeAfterFlush(CloseKicked, "kicked: logged in elsewhere")
	}
	s.dropSession(old)
}

// armExpiry schedules the end of a session when its ticket expires.
func (s *Server) armExpiry(sess *session, at time.Time) {
	stopTimer(&sess.expiryTimer)
	sess.expiresAt = at
	var t Timer
	t = s.afterFunc(at.Sub(s.clock.Now())+time.Nanosecond, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sessions[sess.userID] != sess || sess.expiryTimer != t {
			return
		}
		sess.expiryTimer = nil
		s.log.Info("ticket expired while online", "user", sess.userID)
		s.leaveCall(sess, evGone, ReasonTicketExpired)
		if oc := sess.conn; oc != nil {
			s.push(sess.userID, &Frame{Type: TypeTicketExpired, Message: "your userSig expired: log in with a new one"})
			oc.sess = nil
			sess.conn = nil
			s.flush(nil, nil)
			oc.closeAfterFlush(CloseTicketExpired, "userSig expired")
		}
		s.dropSession(sess)
		s.flush(nil, nil)
	})
	sess.expiryTimer = t
}

// checkInvite checks an invitation; elsewhere names the invitees a claim
// on their node checked (cluster). It changes nothing.
func (s *Server) checkInvite(sess *session, f *Frame, elsewhere map[string]bool) (timeout time.Duration, room RoomID, named bool, e *Error) {
	if s.closing {
		return 0, room, false, &Error{CodeShuttingDown, "the server is shutting down"}
	}
	if sess.call != nil {
		return 0, room, false, &Error{CodeBusy, fmt.Sprintf("you are already in call %s: hang up first", sess.call.id)}
	}
	if s.isReserved(sess) {
		return 0, room, false, &Error{CodeBusy, "you are being rung or are joining a call: hang up first"}
	}
	if e := s.checkInvitees(sess.userID, f.CalleeIDs, s.cfg.MaxCallSize-1); e != nil {
		return 0, room, false, e
	}
	if !f.MediaType.Valid() {
		return 0, room, false, &Error{CodeInvalidArgument, fmt.Sprintf("mediaType %d: want 0 (voice) or 1 (video)", f.MediaType)}
	}
	if timeout, e = s.inviteTimeout(f.Timeout, s.cfg.InviteTimeout); e != nil {
		return 0, room, false, e
	}
	if len(f.UserData) > maxUserData {
		return 0, room, false, &Error{CodeInvalidArgument, fmt.Sprintf("userData is longer than %d bytes", maxUserData)}
	}
	if len(f.GroupID) > maxGroupID {
		return 0, room, false, &Error{CodeInvalidArgument, fmt.Sprintf("groupId is longer than %d bytes", maxGroupID)}
	}
	if room, named, e = s.pickRoom(sess.userID, f.RoomID); e != nil {
		return 0, room, false, e
	}
	if e := s.invites.check(s.since(), &s.cfg.Invites, sess.userID, f.CalleeIDs, elsewhere); e != nil {
		return 0, room, false, e
	}
	return timeout, room, named, nil
}

// invite starts a call.
func (s *Server) invite(sess *session, f *Frame) (*Frame, *Error) {
	elsewhere := claimedSet(sess.claims)
	timeout, room, named, e := s.checkInvite(sess, f, elsewhere)
	if e != nil {
		return nil, e
	}
	id := sess.newCall
	if id == "" {
		id = s.newCallID()
	}
	c := &call{id: id, room: room, named: named, callerID: sess.userID, groupID: f.GroupID, media: f.MediaType,
		userData: f.UserData, timeout: timeout, state: callRinging}
	c.members = make([]*member, 0, 1+len(f.CalleeIDs))
	c.members = append(c.members, &member{userID: sess.userID, state: StateJoined})
	for _, id := range f.CalleeIDs {
		c.members = append(c.members, &member{userID: id, invitedBy: sess.userID})
	}
	s.calls[c.id] = c
	s.totals.callsStarted++
	s.claimRoom(c)
	sess.call = c
	s.changed(c)
	s.invites.take(s.since(), &s.cfg.Invites, sess.userID, f.CalleeIDs, elsewhere)
	s.ring(c, c.members[1:], "", "", timeout, sess.claims)
	reply := &Frame{Call: s.callInfo(c)}
	s.settle(c)
	s.log.Debug("call placed", "call", c.id, "caller", sess.userID, "callees", f.CalleeIDs)
	return reply, nil
}

// ring invites members: free users ring, busy and offline ones are told
// at once. Ringing comes first so that a busy first invitee cannot end the
// call before the others were asked. by invited them (byHome: its node),
// claims say how the invitees of other nodes were found (cluster).
func (s *Server) ring(c *call, ms []*member, by, byHome string, timeout time.Duration, claims []claimResult) {
	var later []*member
	for _, m := range ms {
		m.inviterHome = byHome
		if cr := findClaim(claims, m.userID); cr != nil {
			if cr.Res != claimOK {
				later = append(later, m)
				continue
			}
			m.home, m.away = cr.Node, false
		} else {
			t := s.sessions[m.userID]
			if t == nil || t.call != nil || s.isReserved(t) {
				later = append(later, m)
				continue
			}
			m.home, m.away = "", false
		}
		m.ringFor = timeout
		s.apply(c, m, evInvite, ReasonNone, by)
	}
	for _, m := range later {
		offline := s.sessions[m.userID] == nil
		if cr := findClaim(claims, m.userID); cr != nil {
			offline = cr.Res != claimBusy
		}
		if offline {
			s.apply(c, m, evOffline, ReasonNone, by)
		} else {
			s.apply(c, m, evBusy, ReasonNone, by)
		}
	}
}

// checkInvitees validates a list of users to invite.
func (s *Server) checkInvitees(self string, ids []string, max int) *Error {
	if len(ids) == 0 {
		return &Error{CodeInvalidArgument, "calleeIdList is empty: name at least one user"}
	}
	if len(ids) > max {
		return &Error{CodeCallFull, fmt.Sprintf("%d invitees do not fit: a call holds at most %d people, the caller included", len(ids), s.cfg.MaxCallSize)}
	}
	for i, id := range ids {
		if !ValidUserID(id) {
			return &Error{CodeInvalidArgument, fmt.Sprintf("calleeIdList[%d] %q is not a valid user ID", i, id)}
		}
		if id == self {
			return &Error{CodeInvalidArgument, "you cannot invite yourself"}
		}
		for _, prev := range ids[:i] {
			if prev == id {
				return &Error{CodeInvalidArgument, fmt.Sprintf("%q is listed twice", id)}
			}
		}
	}
	return nil
}

func (s *Server) inviteTimeout(sec int, def time.Duration) (time.Duration, *Error) {
	if sec == 0 {
		return def, nil
	}
	if sec < 1 || sec > maxTimeoutSeconds {
		return 0, &Error{CodeInvalidArgument, fmt.Sprintf("timeout %d s is outside 1-%d s", sec, maxTimeoutSeconds)}
	}
	return time.Duration(sec) * time.Second, nil
}

// pickRoom validates a requested room or allocates a free one. A requested
// room is the caller's own name for the call: it is unique among the
// calls that caller placed, and nobody else's call can take it (squat it)
// or tell whether it is in use (probe it). named reports that it was
// requested. Random rooms are unique on the server.
func (s *Server) pickRoom(caller string, want *RoomID) (r RoomID, named bool, e *Error) {
	if want != nil && !want.IsZero() {
		r := *want
		if len(r.StrRoomID) > maxStrRoomID {
			return r, true, &Error{CodeInvalidArgument, fmt.Sprintf("strRoomId is longer than %d bytes", maxStrRoomID)}
		}
		for i := 0; i < len(r.StrRoomID); i++ {
			if r.StrRoomID[i] <= ' ' || r.StrRoomID[i] > '~' {
				return r, true, &Error{CodeInvalidArgument, "strRoomId must be printable ASCII without spaces"}
			}
		}
		if r.StrRoomID == "" {
			r.StrRoomID = strconv.FormatUint(uint64(r.IntRoomID), 10)
		}
		if s.namedRooms[namedRoom(caller, r.StrRoomID)] != nil {
			return r, true, &Error{CodeRoomInUse, "you already have another live call in that room"}
		}
		return r, true, nil
	}
	var b [4]byte
	for {
		rand.Read(b[:])
		// Positive int32 keeps the number exact in every JSON client.
		n := binary.LittleEndian.Uint32(b[:]) & 0x7fffffff
		if n != 0 && s.randRooms[n] == nil {
			return RoomID{IntRoomID: n, StrRoomID: strconv.FormatUint(uint64(n), 10)}, false, nil
		}
	}
}

// namedRoom is the key of a requested room: its caller's and its name.
func namedRoom(caller, str string) string { return caller + "\x00" + str }

// claimRoom records c's room as taken; false when another call has it (a
// restored call then goes on without the room being reserved).
func (s *Server) claimRoom(c *call) bool {
	if c.named {
		k := namedRoom(c.callerID, c.room.StrRoomID)
		if s.namedRooms[k] != nil {
			return false
		}
		s.namedRooms[k] = c
		return true
	}
	if s.randRooms[c.room.IntRoomID] != nil {
		return false
	}
	s.randRooms[c.room.IntRoomID] = c
	return true
}

// releaseRoom frees c's room, if c holds it.
func (s *Server) releaseRoom(c *call) {
	if c.named {
		if k := namedRoom(c.callerID, c.room.StrRoomID); s.namedRooms[k] == c {
			delete(s.namedRooms, k)
		}
	} else if s.randRooms[c.room.IntRoomID] == c {
		delete(s.randRooms, c.room.IntRoomID)
	}
}

// findCall returns the live call and the user's entry in it.
func (s *Server) findCall(sess *session, id string) (*call, *member, *Error) {
	if id == "" {
		return nil, nil, &Error{CodeInvalidArgument, "callId is missing"}
	}
	c := s.calls[id]
	if c == nil {
		return nil, nil, &Error{CodeNoSuchCall, "no such call: it ended or never existed"}
	}
	return c, c.member(sess.userID), nil
}

// answer accepts or rejects an invitation.
func (s *Server) answer(sess *session, f *Frame, ev callEvent) (*Frame, *Error) {
	c, m, e := s.findCall(sess, f.CallID)
	if e != nil {
		return nil, e
	}
	if m == nil {
		return nil, &Error{CodeNotInvited, "you were not invited to this call"}
	}
	if _, e := transition(m.state, ev); e != nil {
		return nil, e
	}
	s.apply(c, m, ev, ReasonNone, "")
	s.settle(c)
	if ev == evAccept {
		return &Frame{Call: s.callInfo(c)}, nil
	}
	return &Frame{}, nil
}

// hangup leaves a call, declines it while ringing, or cancels it when the
// caller is alone in it.
func (s *Server) hangup(sess *session, f *Frame) (*Frame, *Error) {
	c, m, e := s.findCall(sess, f.CallID)
	if e != nil {
		return nil, e
	}
	if m == nil {
		return nil, &Error{CodeNotInvited, "you are not in this call"}
	}
	if _, e := transition(m.state, evHangup); e != nil {
		return nil, e
	}
	if m.state == StateJoined && c.state == callRinging && m.userID == c.callerID {
		// The caller hanging up before anyone answered cancels the call.
		c.lastOutcome = ReasonCanceled
	}
	s.apply(c, m, evHangup, ReasonNone, "")
	s.settle(c)
	return &Frame{}, nil
}

// join brings an invited user (back) into a live call.
func (s *Server) join(sess *session, f *Frame) (*Frame, *Error) {
	c, m, e := s.findCall(sess, f.CallID)
	if e != nil {
		return nil, e
	}
	if m == nil {
		return nil, &Error{CodeNotInvited, "you were not invited to this call"}
	}
	if _, e := transition(m.state, evJoin); e != nil {
		return nil, e
	}
	if sess.call != nil && sess.call.id != c.id {
		return nil, &Error{CodeBusy, fmt.Sprintf("you are in call %s: hang up first", sess.call.id)}
	}
	if sess.call == nil && s.isReserved(sess) {
		return nil, &Error{CodeBusy, "you are being rung for another call: answer or decline it first"}
	}
	if m.state != StateRinging {
		if j, r := c.counts(); j+r >= s.cfg.MaxCallSize {
			return nil, &Error{CodeCallFull, fmt.Sprintf("the call is full (%d people)", s.cfg.MaxCallSize)}
		}
	}
	m.home, m.away = sess.home, false
	s.apply(c, m, evJoin, ReasonNone, "")
	s.settle(c)
	return &Frame{Call: s.callInfo(c)}, nil
}

// inviteMore invites more users into a live call.
func (s *Server) inviteMore(sess *session, f *Frame) (*Frame, *Error) {
	c, m, e := s.findCall(sess, f.CallID)
	if e != nil {
		return nil, e
	}
	if m == nil || m.state != StateJoined {
		return nil, &Error{CodeNotInCall, "only a joined participant may invite"}
	}
	j, r := c.counts()
	if e := s.checkInvitees(sess.userID, f.CalleeIDs, s.cfg.MaxCallSize-j-r); e != nil {
		return nil, e
	}
	for _, id := range f.CalleeIDs {
		if o := c.member(id); o != nil && o.state.Active() {
			return nil, &Error{CodeAlreadyInCall, fmt.Sprintf("%s is already %s in this call", id, o.state)}
		}
	}
	timeout, e := s.inviteTimeout(f.Timeout, c.timeout)
	if e != nil {
		return nil, e
	}
	// The limits of an inviter of another node were checked there; the
	// invitees' where they are (cluster).
	elsewhere, now, lim := claimedSet(sess.claims), s.since(), &s.cfg.Invites
	if sess.home == "" {
		if e := s.invites.check(now, lim, sess.userID, f.CalleeIDs, elsewhere); e != nil {
			return nil, e
		}
		s.invites.take(now, lim, sess.userID, f.CalleeIDs, elsewhere)
	} else {
		for _, to := range f.CalleeIDs {
			if e := s.invites.checkCallee(now, lim, to); !elsewhere[to] && e != nil {
				return nil, e
			}
		}
		for _, to := range f.CalleeIDs {
			if !elsewhere[to] {
				s.invites.takeCallee(now, lim, to)
			}
		}
	}
	ms := make([]*member, 0, len(f.CalleeIDs))
	for _, id := range f.CalleeIDs {
		o := c.member(id)
		if o == nil {
			s.forgetOldest(c, f.CalleeIDs)
			o = &member{userID: id}
			c.members = append(c.members, o)
		}
		o.invitedBy = sess.userID
		ms = append(ms, o)
	}
	s.ring(c, ms, sess.userID, sess.home, timeout, sess.claims)
	reply := &Frame{Call: s.callInfo(c)}
	s.settle(c)
	return reply, nil
}

// switchMedia changes the call's media type and tells everyone in it.
func (s *Server) switchMedia(sess *session, f *Frame) (*Frame, *Error) {
	c, m, e := s.findCall(sess, f.CallID)
	if e != nil {
		return nil, e
	}
	if m == nil || m.state != StateJoined {
		return nil, &Error{CodeNotInCall, "only a joined participant may switch the media type"}
	}
	if !f.MediaType.Valid() {
		return nil, &Error{CodeInvalidArgument, fmt.Sprintf("mediaType %d: want 0 (voice) or 1 (video)", f.MediaType)}
	}
	if f.MediaType == c.media {
		return &Frame{}, nil
	}
	old := c.media
	c.media = f.MediaType
	s.changed(c)
	s.pushOthers(c, "", "", false, &Frame{Type: TypeMediaChanged, CallID: c.id,
		OldMediaType: mediaPtr(old), NewMediaType: mediaPtr(c.media), By: sess.userID})
	return &Frame{}, nil
}

// relay forwards a payload to one participant, or to every other joined
// participant when "to" is empty. The payload is UTF-8 JSON (the whole
// message was checked), at most MaxRelayPayload bytes, with a good
// envelope (payloadErr is checkRelayPayload's verdict), within the
// sender's relay rate; an invitee who has not answered yet takes part in
// only a few relays (RingingRelays, RingingRelayBytes).
func (s *Server) relay(sess *session, f *Frame, payloadErr *Error) (*Frame, *Error) {
	c, m, e := s.findCall(sess, f.CallID)
	if e != nil {
		return nil, e
	}
	if m == nil || !m.state.Active() {
		return nil, &Error{CodeNotInCall, "only a participant may relay in this call"}
	}
	if len(f.Payload) == 0 {
		return nil, &Error{CodeInvalidArgument, "payload is missing"}
	}
	var t *member
	if f.To != "" {
		t = c.member(f.To)
		if t == nil || !t.state.Active() || f.To == sess.userID {
			return nil, &Error{CodeNotInCall, fmt.Sprintf("%s is not a participant of this call", f.To)}
		}
		if s.isAway(t) {
			return nil, &Error{CodeUnavailable, fmt.Sprintf("%s is reconnecting; try again when they are back", f.To)}
		}
	}
	n := len(f.Payload)
	if n > s.cfg.MaxRelayPayload {
		return nil, &Error{CodeInvalidArgument, fmt.Sprintf("payload is %d bytes, over the %d-byte limit", n, s.cfg.MaxRelayPayload)}
	}
	if payloadErr != nil {
		return nil, payloadErr
	}
	for _, x := range []*member{m, t} {
		if x != nil && x.state == StateRinging && (x.relays >= s.cfg.RingingRelays || x.relayBytes+n > s.cfg.RingingRelayBytes) {
			return nil, &Error{CodeRateLimited, fmt.Sprintf("%s has not answered yet: call setup waits for the answer (at most %d relays, %d bytes, before it)",
				x.userID, s.cfg.RingingRelays, s.cfg.RingingRelayBytes)}
		}
	}
	if (sess.home == "" && !sess.conn.allowRelay(n)) || (sess.home != "" && !sess.relayOK) {
		return nil, &Error{CodeRateLimited, fmt.Sprintf("relaying more than %d bytes a second: slow down", s.cfg.RelayBytesPerSecond)}
	}
	for _, x := range []*member{m, t} {
		if x != nil && x.state == StateRinging {
			x.relays++
			x.relayBytes += n
		}
	}
	out := &Frame{Type: TypeRelayed, CallID: c.id, From: sess.userID, Payload: f.Payload}
	if t == nil {
		s.pushOthers(c, sess.userID, "", true, out)
	} else {
		s.tell(c, t, out)
	}
	return &Frame{}, nil
}
