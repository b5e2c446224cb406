package signaling

import (
	"context"
	"crypto/subtle"
	"errors"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// The server as one node of a cluster (Config.Cluster with other nodes).
//
// Each user's session lives on the node the user logs in to (its home);
// each call lives on one node, its owner (the caller's node when it
// starts), where its state machine and invitation timers run exactly as on
// a lone server. The owner knows where each member is (member.home); a
// member's node knows which call the user is in and who runs it (a stub
// call with remote set). So:
//
//   - a request about a call another node runs is forwarded there (fwd),
//     and its reply comes back with the pushes it caused, in order (out);
//   - the owner's pushes and changes for a member (ringing, in no call any
//     more, the invite limits' refunds) go to the member's node (out), in
//     the order they happened: messages from one node to another arrive in
//     the order sent (Cluster.send);
//   - the member's node tells the owner when the member's connection drops
//     (away), comes back or moves (back) and leaves (leave);
//   - ringing users of other nodes are claimed first: their node reserves
//     them (or says they are busy, offline or rung too often) before the
//     invitation starts, so a user is never rung for two calls;
//   - a login finds where the user's session is in the presence records
//     and takes it over from that node (resume) or kicks it there;
//   - each call's snapshot is saved to the shared state as it changes; a
//     node that notices another go away (its heartbeats stop, its
//     subscriptions vanish) takes its calls over from there (compare and
//     swap: one node wins each), rearms their invitation timers, and holds
//     the places of its users for the grace period, as for dropped
//     connections, until they log in again somewhere (their clients try the
//     other nodes) and resume; calls not yet on record come back from
//     their members' call tokens.
//
// Nothing here holds s.mu while it waits for another node: what must wait
// (a forwarded request, a login, a kick) waits on its own goroutine, and
// the answer is delivered on the node's ordered stream, in order with the
// pushes around it.

const (
	// clusterWait bounds one exchange with the shared state or a node.
	clusterWait = 5 * time.Second
	// peerWait bounds a request to another node, which may have to be
	// taken over on the way.
	peerWait = 15 * time.Second
	// saveEvery gathers call changes into one write per call.
	saveEvery = 20 * time.Millisecond
	// reserveFor is how long a claim keeps a user busy without the
	// invitation that should follow.
	reserveFor = 10 * time.Second
)

// errHere: the call a request was on its way to was taken over by this
// node meanwhile.
var errHere = errors.New("signaling: the call runs here now")

// reservation is a claim on a user: an invitation, or the user's own
// join, about to make them busy.
type reservation struct {
	call, owner string
	at          time.Time
}

// presenceHere is a session's presence for loginHere: its resume token
// (whose hash is on record) and the record's revision.
type presenceHere struct {
	token string
	rev   uint64
}

// pendingReq is a request to another node whose answer comes on this
// node's stream. onAnswer runs there, with s.mu held, before done closes.
type pendingReq struct {
	conn     *conn // gets the reply of a forwarded request
	done     chan struct{}
	code     Code
	answered bool
	onAnswer func(it *peerItem)
}

func newPending(c *conn) *pendingReq { return &pendingReq{conn: c, done: make(chan struct{})} }

// newCallID names a new call; in a cluster it starts with this node's id,
// so that others can find it before its snapshot is saved.
func (s *Server) newCallID() string {
	if !s.multi {
		return newID(12)
	}
	return s.node + newID(8)
}

// queueOp queues a change for a user of another node, in order with the
// pushes of the same operation.
func (s *Server) queueOp(node string, it peerItem) {
	s.out = append(s.out, outMsg{node: node, item: &it})
}

// sendOut sends what flush gathered for other nodes: one message each.
func (s *Server) sendOut() {
	for node, items := range s.remoteOut {
		if err := s.cl.send(node, &peerMsg{Kind: kOut, Items: items}); err != nil {
			s.log.Debug("cluster: send", "node", node, "err", err)
		}
		delete(s.remoteOut, node)
	}
}

// sendNote sends m on node's stream.
func (s *Server) sendNote(node string, m *peerMsg) {
	if err := s.cl.send(node, m); err != nil {
		s.log.Debug("cluster: send", "node", node, "kind", m.Kind, "err", err)
	}
}

// takingOver reports whether this node is taking over after a node that
// went away.
func (s *Server) takingOver() bool {
	if s.takeovers.Load() > 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.gone {
		select {
		case <-ch:
		default:
			return true
		}
	}
	return false
}

// othersAlive reports whether other nodes are up to take over.
func (s *Server) othersAlive() bool { return len(s.cl.liveNodes()) > 1 }

// isReserved reports whether a claim holds sess busy.
func (s *Server) isReserved(sess *session) bool {
	return sess.reserved != nil && s.clock.Now().Sub(sess.reserved.at) < reserveFor
}

// resumeOK reports whether tok is sess's resume token (or, for a place
// held after its node went away, hashes to it).
func (s *Server) resumeOK(sess *session, tok string) bool {
	if sess.token != "" {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(sess.token)) == 1
	}
	return sess.tokHash != "" && subtle.ConstantTimeCompare([]byte(tokenHash(tok)), []byte(sess.tokHash)) == 1
}

func claimedSet(claims []claimResult) map[string]bool {
	if len(claims) == 0 {
		return nil
	}
	m := make(map[string]bool, len(claims))
	for _, cr := range claims {
		m[cr.User] = true
	}
	return m
}

func findClaim(claims []claimResult, user string) *claimResult {
	for i := range claims {
		if claims[i].User == user {
			return &claims[i]
		}
	}
	return nil
}

// inviteAnswered gives back what m's invitation took from the invite
// limits: the inviter's buckets where the inviter is, m's where m is.
func (s *Server) inviteAnswered(c *call, m *member) {
	lim := &s.cfg.Invites
	if h := s.inviterHome(c, m); h == "" {
		s.invites.answeredCaller(lim, m.invitedBy, m.userID)
	} else {
		s.queueOp(h, peerItem{User: m.invitedBy, Op: opRefundCaller, Peer: m.userID})
	}
	if m.home == "" {
		s.invites.answeredCallee(lim, m.userID)
	} else {
		s.queueOp(m.home, peerItem{User: m.userID, Op: opRefundCallee})
	}
}

// inviteRejected holds m's inviter off m for a while, where the inviter is.
func (s *Server) inviteRejected(c *call, m *member) {
	if h := s.inviterHome(c, m); h == "" {
		s.invites.rejected(s.since(), &s.cfg.Invites, m.invitedBy, m.userID)
	} else if m.invitedBy != "" {
		s.queueOp(h, peerItem{User: m.invitedBy, Op: opRejected, Peer: m.userID})
	}
}

// inviterHome is the node of m's inviter now ("" here).
func (s *Server) inviterHome(c *call, m *member) string {
	if !s.multi {
		return ""
	}
	if inv := c.member(m.invitedBy); inv != nil && inv.state.Active() {
		return inv.home
	}
	return m.inviterHome
}

// changed marks c's snapshot for saving (soon, together with its other
// changes).
func (s *Server) changed(c *call) {
	if !s.multi || c.remote != "" {
		return
	}
	s.dirty[c] = struct{}{}
	if !s.saving {
		s.saving = true
		time.AfterFunc(saveEvery, s.saveDirty)
	}
}

func (s *Server) saveDirty() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	recs := s.snapshotDirty()
	s.mu.Unlock()
	if len(recs) > 0 {
		s.cl.saveCalls(recs)
	}
	// saving stays set until the writes are handed to NATS: a change made
	// meanwhile waits for the next round instead of a second save running
	// beside this one (which could hand an older snapshot over after a
	// newer), and "nothing dirty, not saving" means handed over.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.saving = false
	if len(s.dirty) > 0 {
		s.saving = true
		time.AfterFunc(saveEvery, s.saveDirty)
	}
}

// snapshotDirty renders the changed calls' records. A call that ended is a
// tombstone when anything about it may still come back (it was saved, or a
// token of it is out there that nobody was told is over); a short call
// that nobody needs to hear of again costs nothing. Held: s.mu.
func (s *Server) snapshotDirty() []*callRecord {
	recs := make([]*callRecord, 0, len(s.dirty))
	for c := range s.dirty {
		delete(s.dirty, c)
		if c.state == callEnded {
			if c.savedAs != "" || c.tombstone {
				recs = append(recs, &callRecord{ID: c.id, Owner: s.node, Ended: true, indexedAs: c.savedAs})
				c.savedAs = ""
			}
			continue
		}
		if s.calls[c.id] != c {
			continue
		}
		rec := s.record(c)
		rec.indexedAs = c.savedAs
		c.savedAs = s.node
		recs = append(recs, rec)
	}
	return recs
}

// record is c's snapshot.
func (s *Server) record(c *call) *callRecord {
	rec := &callRecord{ID: c.id, Owner: s.node, Room: c.room, Named: c.named, Caller: c.callerID, Group: c.groupID,
		Media: c.media, Data: c.userData, Timeout: c.timeout, State: c.state, LastOutcome: c.lastOutcome,
		Ver: c.ver, Restored: c.restored, Members: make([]memberRecord, 0, len(c.members))}
	for _, m := range c.members {
		mr := memberRecord{User: m.userID, State: m.state, Reason: m.reason, Begun: m.begun, Home: m.home,
			Away: m.away, RingFor: m.ringFor, InvitedBy: m.invitedBy, InviterHome: m.inviterHome,
			Relays: m.relays, RelayBytes: m.relayBytes}
		if mr.Home == "" {
			mr.Home = s.node
		}
		if mr.InviterHome == "" && m.invitedBy != "" {
			mr.InviterHome = s.node
		}
		if m.state == StateRinging {
			mr.RingAt = m.ringAt.UnixMilli()
		}
		rec.Members = append(rec.Members, mr)
	}
	return rec
}

// leaveCluster saves every call this node runs, stops their timers, and
// says goodbye: the other nodes take them over at once.
func (s *Server) leaveCluster(ctx context.Context) {
	s.mu.Lock()
	for _, c := range s.calls {
		for _, m := range c.members {
			if m.ringTimer != nil {
				m.ringTimer.Stop()
				m.ringTimer = nil
			}
		}
		s.dirty[c] = struct{}{}
	}
	recs := s.snapshotDirty()
	s.saving = true // nothing more: the others run these calls now
	for _, sess := range s.sessions {
		// Their presence records stay: the nodes taking over resume
		// them (the resume token's hash is there) when they log in.
		sess.moved = true
	}
	for id, c := range s.calls {
		delete(s.calls, id)
		s.releaseRoom(c)
	}
	s.mu.Unlock()
	s.cl.saveCalls(recs)
	sctx, cancel := context.WithTimeout(ctx, clusterWait)
	if err := s.cl.syncCalls(sctx); err != nil {
		s.log.Warn("cluster: calls not all saved before leaving", "err", err)
	}
	cancel()
	s.cl.leave()
	s.log.Info("left the cluster: the other nodes take this node's calls over", "calls", len(recs))
}

// ---- this node's stream ----------------------------------------------------

// onPeer handles one message of this node's ordered stream.
func (s *Server) onPeer(m *peerMsg) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("bug: panic handling a message from another node", "kind", m.Kind, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	switch m.Kind {
	case kOut:
		s.deliver(m)
	case kFwd:
		s.serveForwarded(m)
	case kAway:
		s.memberAway(m)
	case kBack:
		s.memberBack(m)
	case kLeave:
		s.memberLeave(m)
	}
}

// deliver hands pushes and replies to this node's users and applies the
// changes, in order.
func (s *Server) deliver(m *peerMsg) {
	var done []*pendingReq
	s.mu.Lock()
	lim := &s.cfg.Invites
	for i := range m.Items {
		it := &m.Items[i]
		if it.Corr != 0 {
			if p := s.pending[it.Corr]; p != nil {
				delete(s.pending, it.Corr)
				if it.Push != nil && p.conn != nil {
					p.conn.enqueue(it.Push)
				}
				p.code, p.answered = it.Code, true
				if p.onAnswer != nil {
					p.onAnswer(it)
				}
				done = append(done, p)
			}
			continue
		}
		sess := s.sessions[it.User]
		switch it.Op {
		case "":
			if sess != nil && sess.conn != nil {
				sess.conn.enqueue(it.Push)
			}
			if it.Tok != "" && sess != nil && sess.call != nil && sess.call.id == it.Call {
				sess.callToken = it.Tok
			}
		case opCall:
			if sess == nil || sess.restored || sess.moving || (sess.call != nil && sess.call.id != it.Call) {
				// Not here (any more), or in another call: the owner must
				// not count on them.
				s.sendNote(m.From, &peerMsg{Kind: kLeave, User: it.User, Call: it.Call, Ev: evGone, Reason: ReasonConnectionLost})
				continue
			}
			if sess.call == nil {
				sess.call, sess.callToken = &call{id: it.Call}, ""
			}
			sess.call.remote, sess.call.callerID = it.Owner, it.Peer
			sess.reserved = nil
		case opClear:
			if sess != nil && sess.call != nil && sess.call.id == it.Call && sess.call.remote != "" {
				sess.call, sess.callToken = nil, ""
				if sess.conn == nil && sess.graceTimer != nil {
					s.dropSession(sess) // away, and no call to come back to
				}
			}
		case opOwner:
			if sess != nil && !sess.restored && sess.call != nil && sess.call.id == it.Call && sess.call.remote != "" {
				sess.call.remote = it.Owner
			} else {
				s.sendNote(it.Owner, &peerMsg{Kind: kLeave, User: it.User, Call: it.Call, Ev: evGone, Reason: ReasonConnectionLost})
			}
		case opRefundCaller:
			s.invites.answeredCaller(lim, it.User, it.Peer)
		case opRefundCallee:
			s.invites.answeredCallee(lim, it.User)
		case opRejected:
			s.invites.rejected(s.since(), lim, it.User, it.Peer)
		}
	}
	s.flush(nil, nil)
	s.mu.Unlock()
	for _, p := range done {
		close(p.done)
	}
}

// serveForwarded runs another node's user's request about a call run here,
// and sends the reply back first, then the pushes it caused.
func (s *Server) serveForwarded(m *peerMsg) {
	f, err := DecodeFrame(m.Frame)
	var payloadErr *Error
	if err == nil && f.Type == TypeRelay {
		payloadErr = checkRelayPayload(f.Payload)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var reply *Frame
	var e *Error
	switch {
	case err != nil:
		e = &Error{CodeMalformed, err.Error()}
	case f.Type == TypeLogin || f.Type == TypePing || f.Type == TypeInvite:
		e = &Error{CodeInternal, "not a request about a call"}
	default:
		sess := &session{userID: m.User, home: m.From, relayOK: m.RelayOK, claims: m.Claims}
		if m.Busy != "" {
			if c := s.calls[m.Busy]; c != nil {
				sess.call = c
			} else {
				sess.call = &call{id: m.Busy, remote: "?"}
			}
		}
		reply, e = s.serve(sess, &f, payloadErr)
	}
	it := peerItem{User: m.User, Push: encodeReply(s.log, f.ID, reply, e), Corr: m.Corr}
	if e != nil {
		it.Code = e.Code
	}
	// The reply first: before the pushes the request caused.
	s.out = append([]outMsg{{node: m.From, item: &it}}, s.out...)
	s.flush(nil, nil)
}

// memberAway: a member's connection on its node dropped.
func (s *Server) memberAway(m *peerMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[m.Call]
	if c == nil {
		return
	}
	mem := c.member(m.User)
	if mem == nil || mem.home != m.From || mem.away {
		return
	}
	mem.away = true
	s.changed(c)
	if mem.state == StateJoined {
		s.pushOthers(c, m.User, "", true, &Frame{Type: TypeUserAway, CallID: c.id, UserID: m.User})
	}
	s.flush(nil, nil)
}

// memberBack attaches a member, on node m.From, to its call here: back
// after a dropped connection, moved from another node, or coming back with
// its call token after the call's node went away. The answer (the call as
// it stands and its token, or nothing when the user is not in it) goes
// back on the member's node's stream, before any later push.
func (s *Server) memberBack(m *peerMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := peerItem{User: m.User, Corr: m.Corr, Call: m.Call}
	c := s.calls[m.Call]
	var mem *member
	if c != nil {
		mem = c.member(m.User)
	}
	if mem == nil || !mem.state.Active() {
		s.queueOp(m.From, it)
		s.flush(nil, nil)
		return
	}
	wasAway := s.isAway(mem)
	if mem.home == "" {
		if ph := s.sessions[m.User]; ph != nil && ph.call == c {
			// The place held here for it, or its session of before.
			ph.moved = true
			ph.call = nil
			s.dropSession(ph)
		}
	}
	mem.home, mem.away = m.From, false
	s.visitors[m.User] = c
	if m.CallToken != "" {
		if cl := verifyCallToken(s.tokenKey, m.CallToken, s.cfg.MaxCallSize+s.cfg.MemberHistory+1); cl != nil && cl.CallID == c.id {
			s.adopt(c, cl, m.User)
		}
	}
	if wasAway && mem.state == StateJoined {
		s.pushOthers(c, m.User, "", true, &Frame{Type: TypeUserBack, CallID: c.id, UserID: m.User})
	}
	s.changed(c)
	if c.state != callEnded && mem.state.Active() {
		it.Info, it.Tok, it.Peer = s.callInfo(c), s.callToken(c), c.callerID
	}
	s.queueOp(m.From, it)
	s.flush(nil, nil)
}

// memberLeave: a member leaves (logged out, kicked, ticket expired, not
// back within the grace period, logged in elsewhere without the call). The
// member's own pushes (callEnded...) go back before the answer.
func (s *Server) memberLeave(m *peerMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[m.Call]
	var mem *member
	if c != nil {
		mem = c.member(m.User)
	}
	if mem != nil && mem.state.Active() {
		ph := s.sessions[m.User]
		switch {
		case mem.home == "" && ph != nil && ph.restored && ph.call == c:
			// A place held here: given up.
			s.leaveCall(ph, m.Ev, m.Reason)
			s.dropSession(ph)
		case mem.home == m.From:
			if _, e := transition(mem.state, m.Ev); e == nil {
				s.apply(c, mem, m.Ev, m.Reason, "")
				s.settle(c)
			}
		}
	}
	if m.Corr != 0 {
		s.queueOp(m.From, peerItem{User: m.User, Corr: m.Corr})
	}
	s.flush(nil, nil)
}

// ---- requests from other nodes ----------------------------------------------

// onRequest answers another node's request (on a goroutine of its own).
func (s *Server) onRequest(m *peerMsg) *peerMsg {
	switch m.Kind {
	case kClaim:
		s.mu.Lock()
		defer s.mu.Unlock()
		return &peerMsg{Results: s.claimHere(m.Call, m.Owner, m.Users)}
	case kRelease:
		s.mu.Lock()
		defer s.mu.Unlock()
		s.releaseHere(m.Call, m.Users)
		return &peerMsg{}
	case kTakeover:
		return s.giveSession(m)
	case kFind:
		s.mu.Lock()
		defer s.mu.Unlock()
		if id := s.holding(m.User); id != "" {
			return &peerMsg{Call: id, Owner: s.node}
		}
		return &peerMsg{}
	}
	return nil
}

// holding returns the call run here in which user is ringing or joined,
// from another node or held here. Held: s.mu.
func (s *Server) holding(user string) string {
	if c := s.visitors[user]; c != nil {
		if m := c.member(user); m != nil && m.state.Active() {
			return c.id
		}
	}
	if ph := s.sessions[user]; ph != nil && ph.restored && ph.call != nil && ph.call.remote == "" {
		return ph.call.id
	}
	return ""
}

// claimHere reserves users of this node for an invitation to callID (run
// by owner): each is offline, rung too often (the callee limit, whose
// bucket is here), busy, or reserved; the busy and reserved are charged an
// unanswered ring, as on a lone server. Held: s.mu.
func (s *Server) claimHere(callID, owner string, users []string) []claimResult {
	now, lim := s.since(), &s.cfg.Invites
	res := make([]claimResult, 0, len(users))
	for _, u := range users {
		r := claimResult{User: u, Node: s.node}
		sess := s.sessions[u]
		switch {
		case sess == nil:
			r.Res = claimOffline
		case s.invites.checkCallee(now, lim, u) != nil:
			r.Res, r.Msg = claimLimited, s.invites.checkCallee(now, lim, u).Message
		case sess.call != nil || s.isReserved(sess) || sess.moving:
			r.Res = claimBusy
			s.invites.takeCallee(now, lim, u)
		default:
			r.Res = claimOK
			sess.reserved = &reservation{call: callID, owner: owner, at: s.clock.Now()}
			s.invites.takeCallee(now, lim, u)
		}
		res = append(res, r)
	}
	return res
}

// releaseHere gives back claims of users of this node for an invitation
// that did not happen. Held: s.mu.
func (s *Server) releaseHere(callID string, users []string) {
	for _, u := range users {
		s.invites.answeredCallee(&s.cfg.Invites, u)
		if sess := s.sessions[u]; sess != nil && sess.reserved != nil && sess.reserved.call == callID {
			sess.reserved = nil
		}
	}
}

// giveSession hands a user's session to the node the user logs in to
// (m.From): with the resume token it moves there, call and all; without it
// is kicked here. A place held here gives way to its user's login.
func (s *Server) giveSession(m *peerMsg) *peerMsg {
	s.mu.Lock()
	sess := s.sessions[m.User]
	if sess == nil {
		s.mu.Unlock()
		return &peerMsg{Res: resNone}
	}
	if sess.moving {
		s.mu.Unlock()
		return &peerMsg{Res: resBusy}
	}
	now := s.since()
	if sess.restored {
		c := sess.call
		resumed := m.Resume != "" && s.resumeOK(sess, m.Resume)
		sess.moved = true
		if c != nil && c.remote == "" && (resumed || m.Call == c.id) {
			if mem := c.member(m.User); mem != nil {
				mem.home, mem.away = m.From, true // away until its node says it is back
				s.visitors[m.User] = c
			}
			sess.call = nil
			s.dropSession(sess)
			s.changed(c)
			s.mu.Unlock()
			return &peerMsg{Res: resHandover, Call: c.id, Owner: s.node, Resumed: resumed}
		}
		// Logged in without that call: the place is given up.
		s.leaveCall(sess, evGone, ReasonConnectionLost)
		s.dropSession(sess)
		s.flush(nil, nil)
		s.mu.Unlock()
		return &peerMsg{Res: resNone}
	}
	if m.Resume != "" {
		if !s.resumeOK(sess, m.Resume) {
			s.mu.Unlock()
			return &peerMsg{Res: resReplaced}
		}
		// The same client, now on another node: its session moves there.
		r := &peerMsg{Res: resHandover, Resumed: true, Limits: s.invites.export(now, m.User)}
		wasAway := sess.conn == nil
		if prev := sess.conn; prev != nil {
			prev.sess = nil
			prev.closeAfterFlush(CloseReplaced, "replaced by a newer connection of this session")
		}
		sess.conn = nil
		if c := sess.call; c != nil && c.remote != "" {
			r.Call, r.Owner, r.CallToken = c.id, c.remote, sess.callToken
		} else if c != nil {
			if mem := c.member(m.User); mem != nil && mem.state.Active() {
				r.Call, r.Owner = c.id, s.node
				mem.home, mem.away = m.From, wasAway
				s.visitors[m.User] = c
				s.changed(c)
			}
		}
		sess.call = nil
		sess.moved = true
		s.dropSession(sess)
		s.mu.Unlock()
		return r
	}
	// A fresh login on another node: kicked here.
	lim := s.invites.export(now, m.User)
	sess.moved, sess.moving = true, true
	s.mu.Unlock()
	s.kickAcross(sess)
	return &peerMsg{Res: resKicked, Limits: lim}
}

// kickAcross kicks sess (s.mu not held); when its call runs elsewhere, the
// call's node is asked first, so that the user's callEnded or
// callCancelled comes before the kicked push, as on a lone server.
func (s *Server) kickAcross(sess *session) {
	s.mu.Lock()
	c := sess.call
	if c != nil && c.remote != "" {
		sess.call = nil
		s.mu.Unlock()
		s.awaitLeave(c, sess.userID, evGone, ReasonKicked)
		s.mu.Lock()
	}
	if s.sessions[sess.userID] == sess {
		s.kick(sess)
	}
	s.flush(nil, nil)
	s.mu.Unlock()
}

// awaitLeave takes user out of c (run by another node) and waits until
// the user's pushes about it are delivered. s.mu not held.
func (s *Server) awaitLeave(c *call, user string, ev callEvent, reason Reason) {
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	s.await(ctx, c.remote, &peerMsg{Kind: kLeave, User: user, Call: c.id, Ev: ev, Reason: reason}, newPending(nil))
}

// ---- a user's requests about other nodes' calls ------------------------------

// routeOf says whether a request involves other nodes: owner is the node
// running its call ("?" when it must be looked up), or "" for a call run
// here whose invitees may be elsewhere. Held: s.mu.
func (s *Server) routeOf(sess *session, f *Frame) (owner string, across bool) {
	switch f.Type {
	case TypeSync, TypeLogout:
		if sess.call != nil && sess.call.remote != "" {
			return sess.call.remote, true
		}
	case TypeInvite:
		return "", s.someElsewhere(f.CalleeIDs)
	case TypeAccept, TypeReject, TypeHangup, TypeJoin, TypeInviteMore, TypeSwitchMedia, TypeRelay:
		if f.CallID == "" {
			return "", false
		}
		if s.calls[f.CallID] != nil {
			return "", f.Type == TypeInviteMore && s.someElsewhere(f.CalleeIDs)
		}
		if sess.call != nil && sess.call.id == f.CallID && sess.call.remote != "" {
			return sess.call.remote, true
		}
		if sess.reserved != nil && sess.reserved.call == f.CallID {
			return sess.reserved.owner, true
		}
		return "?", true
	}
	return "", false
}

// someElsewhere reports whether a user of ids is not logged in here.
func (s *Server) someElsewhere(ids []string) bool {
	for _, id := range ids {
		if s.sessions[id] == nil {
			return true
		}
	}
	return false
}

// handleAcross runs a request that involves other nodes, on the
// connection's goroutine, without s.mu: invitations claim their invitees
// first; requests about a call run elsewhere go to its node, and the reply
// comes back (deliver) before the pushes the request caused.
func (s *Server) handleAcross(c *conn, sess *session, f *Frame, raw []byte, owner string, payloadErr *Error) {
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	if owner == "?" {
		if owner = s.callOwner(ctx, f.CallID); owner == "" {
			c.replyError(f.ID, &Error{CodeNoSuchCall, "no such call: it ended or never existed"})
			return
		}
	}
	if owner == s.node {
		owner = ""
	}
	callID, target := f.CallID, owner
	if target == "" {
		target = s.node
	}
	var claims []claimResult
	if f.Type == TypeInvite || f.Type == TypeInviteMore {
		// What fails anyway fails before anyone is claimed.
		s.mu.Lock()
		var e *Error
		if f.Type == TypeInvite {
			_, _, _, e = s.checkInvite(sess, f, s.notHere(f.CalleeIDs))
			callID = s.newCallID()
		} else if owner != "" {
			e = s.checkInviter(sess, f)
		}
		s.mu.Unlock()
		if e != nil {
			c.replyError(f.ID, e)
			return
		}
		claims = s.claimAll(ctx, callID, target, f.CalleeIDs)
		for _, cr := range claims {
			if cr.Res == claimLimited {
				s.releaseClaims(callID, claims)
				c.replyError(f.ID, &Error{CodeInviteLimited, cr.Msg})
				return
			}
		}
	}
	if owner == "" {
		s.mu.Lock()
		if f.Type == TypeInvite {
			sess.newCall = callID
		}
		sess.claims = claims
		reply, e := s.serve(sess, f, payloadErr)
		sess.claims, sess.newCall = nil, ""
		s.flush(c, encodeReply(s.log, f.ID, reply, e))
		s.mu.Unlock()
		if e != nil {
			s.releaseClaims(callID, claims)
		}
		return
	}

	m := &peerMsg{Kind: kFwd, User: sess.userID, Call: f.CallID, Frame: raw, Claims: claims}
	n := len(f.Payload)
	s.mu.Lock()
	switch {
	case sess.call != nil:
		m.Busy = sess.call.id
	case s.isReserved(sess):
		m.Busy = sess.reserved.call
	case f.Type == TypeJoin:
		sess.reserved = &reservation{call: f.CallID, owner: owner, at: s.clock.Now()}
	}
	if f.Type == TypeRelay {
		m.RelayOK = c.mayRelay(n)
	}
	s.mu.Unlock()
	p := newPending(c)
	err := s.await(ctx, owner, m, p)
	ok, here := err == nil && p.code == CodeNone, false
	switch {
	case errors.Is(err, errHere):
		// Its call runs here now.
		s.mu.Lock()
		reply, e := s.serve(sess, f, payloadErr)
		s.flush(c, encodeReply(s.log, f.ID, reply, e))
		s.mu.Unlock()
		ok, here = e == nil, true
	case err != nil:
		c.replyError(f.ID, &Error{CodeNoSuchCall, "the call's server went away and no other took it over"})
	}
	s.mu.Lock()
	switch f.Type {
	case TypeJoin:
		if !ok && sess.reserved != nil && sess.reserved.call == f.CallID {
			sess.reserved = nil
		}
	case TypeInviteMore:
		if ok && !here {
			s.invites.take(s.since(), &s.cfg.Invites, sess.userID, f.CalleeIDs, allOf(f.CalleeIDs))
		}
	case TypeRelay:
		if ok && !here {
			c.allowRelay(n)
		}
	case TypeLogout:
		if ok && c.sess == sess {
			s.dropSession(sess)
			c.sess = nil
			sess.conn = nil
			c.closeAfterFlush(websocket.StatusNormalClosure, "logged out")
		}
	}
	s.mu.Unlock()
	if !ok {
		s.releaseClaims(callID, claims)
	}
}

func allOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// notHere names the users of ids not logged in here. Held: s.mu.
func (s *Server) notHere(ids []string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		if s.sessions[id] == nil {
			m[id] = true
		}
	}
	return m
}

// checkInviter checks what an inviter's node checks of an invitation to a
// call run elsewhere: the inviter's invite limits. Held: s.mu.
func (s *Server) checkInviter(sess *session, f *Frame) *Error {
	if s.closing {
		return &Error{CodeShuttingDown, "the server is shutting down"}
	}
	if len(f.CalleeIDs) == 0 {
		return nil // the call's node says what is wrong
	}
	return s.invites.check(s.since(), &s.cfg.Invites, sess.userID, f.CalleeIDs, allOf(f.CalleeIDs))
}

// claimAll claims the invitees of an invitation to callID (run by owner)
// that owner does not have: those logged in here, and those of other nodes
// (found in the presence records). Users of owner are left to it.
func (s *Server) claimAll(ctx context.Context, callID, owner string, callees []string) []claimResult {
	var here []string
	var out []claimResult
	byNode := map[string][]string{}
	for _, u := range callees {
		s.mu.Lock()
		local := s.sessions[u] != nil
		s.mu.Unlock()
		if local {
			if owner != s.node {
				here = append(here, u)
			}
			continue
		}
		rec, _, err := s.cl.presence(ctx, u)
		switch {
		case err != nil, rec.Node == s.node, rec.Node != owner && !s.cl.alive(ctx, rec.Node):
			out = append(out, claimResult{User: u, Res: claimOffline})
		case rec.Node == owner:
			// Its node runs the call: it rings them itself.
		default:
			byNode[rec.Node] = append(byNode[rec.Node], u)
		}
	}
	if len(here) > 0 {
		s.mu.Lock()
		out = append(out, s.claimHere(callID, owner, here)...)
		s.mu.Unlock()
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for node, users := range byNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.cl.request(ctx, node, &peerMsg{Kind: kClaim, Call: callID, Owner: owner, Users: users})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, u := range users {
					out = append(out, claimResult{User: u, Res: claimOffline})
				}
				return
			}
			out = append(out, r.Results...)
		}()
	}
	wg.Wait()
	return out
}

// releaseClaims gives back the claims of an invitation that did not
// happen.
func (s *Server) releaseClaims(callID string, claims []claimResult) {
	byNode := map[string][]string{}
	for _, cr := range claims {
		if cr.Res == claimOK || cr.Res == claimBusy {
			byNode[cr.Node] = append(byNode[cr.Node], cr.User)
		}
	}
	for node, users := range byNode {
		if node == s.node {
			s.mu.Lock()
			s.releaseHere(callID, users)
			s.mu.Unlock()
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
			defer cancel()
			s.cl.request(ctx, node, &peerMsg{Kind: kRelease, Call: callID, Users: users})
		}()
	}
}

// await sends m (a request about m.Call) on node's stream and waits for
// its answer. When node goes away meanwhile, the call is taken over (by
// this node or another) and m goes to the new owner; errHere when that is
// this node. s.mu not held.
func (s *Server) await(ctx context.Context, node string, m *peerMsg, p *pendingReq) error {
	for range 4 {
		s.mu.Lock()
		s.nextCorr++
		m.Corr = s.nextCorr
		s.pending[m.Corr] = p
		s.mu.Unlock()
		if s.cl.send(node, m) == nil && s.waitAnswer(ctx, node, p) {
			return nil
		}
		s.mu.Lock()
		delete(s.pending, m.Corr)
		answered := p.answered
		s.mu.Unlock()
		if answered {
			<-p.done
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if m.Call == "" {
			return errNoNode
		}
		// The node went away: its calls are being taken over.
		s.nodeGone(node)
		owner := s.callOwner(ctx, m.Call)
		switch owner {
		case "":
			return errNotFound
		case s.node:
			return errHere
		}
		node = owner
	}
	return errNoNode
}

// waitAnswer waits for p's answer while node is alive.
func (s *Server) waitAnswer(ctx context.Context, node string, p *pendingReq) bool {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
			if !s.cl.alive(ctx, node) {
				return false
			}
		}
	}
}

// callOwner finds the node that runs call id: this one, the one on
// record (a node that went away has its calls taken over first), or the
// node that started it (its id begins the call's) when it is not on
// record yet; "" when it is over or unknown.
func (s *Server) callOwner(ctx context.Context, id string) string {
	s.mu.Lock()
	here := s.calls[id] != nil
	s.mu.Unlock()
	if here {
		return s.node
	}
	rec, _, err := s.cl.loadCall(ctx, id)
	if err == nil {
		if rec.Ended {
			return ""
		}
		if s.cl.alive(ctx, rec.Owner) {
			return rec.Owner
		}
		return s.takeOver(ctx, id, rec.Owner)
	}
	s.log.Debug("cluster: no record of a call", "call", id, "err", err)
	if len(id) == 24 && id[:8] != s.node && s.cl.alive(ctx, id[:8]) {
		return id[:8]
	}
	return ""
}

// ---- logging in, in a cluster -----------------------------------------------

// moved is a session a login takes over: from another node, or a
// place held after the user's node went away.
type moved struct {
	token, call, owner, callToken string
	rev                           uint64
	resumed                       bool
	limits                        *userLimits
}

// loginCluster logs a user in on this node of a cluster: the presence
// record says where the user's session is now, if anywhere. Written with
// compare and swap, it keeps one session per user across the nodes.
func (s *Server) loginCluster(c *conn, f *Frame, tk Ticket, claims *callClaims) {
	user := f.UserID
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterWait)
	defer cancel()
	ttl := tk.ExpiresAt().Sub(s.clock.Now()) + time.Minute
	if claims != nil && claims.Node != s.node && !s.cl.alive(ctx, claims.Node) {
		// The call's node went away: let the takeover of its calls finish
		// (or do it) before this login looks for the call.
		s.nodeGone(claims.Node)
	}
	for attempt := range 10 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			break
		}
		tok := newID(16)
		rec, rev, err := s.cl.presence(ctx, user)
		if err != nil && !errors.Is(err, errNotFound) {
			s.log.Warn("cluster: presence unavailable", "user", user, "err", err)
			continue
		}
		found := err == nil
		s.log.Debug("cluster: login", "user", f.UserID, "found", found, "at", rec.Node, "resume", f.Resume != "", "callToken", claims != nil)
		switch {
		case found && rec.Node == s.node:
			if s.loginLocal(ctx, c, f, tk, claims, tok, rec, rev, ttl) {
				return
			}
		case found && s.cl.alive(ctx, rec.Node):
			hash := tokenHash(tok)
			if f.Resume != "" {
				hash = tokenHash(f.Resume)
			}
			r, err := s.cl.setPresence(ctx, user, presenceRec{Node: s.node, TokHash: hash}, rev, ttl)
			if err != nil {
				continue
			}
			q := &peerMsg{Kind: kTakeover, User: user, Resume: f.Resume}
			if claims != nil {
				q.Call = claims.CallID
			}
			ans, err := s.cl.request(ctx, rec.Node, q)
			if err != nil {
				s.loginAfterDead(ctx, c, f, tk, claims, rec, r, tok)
				return
			}
			switch ans.Res {
			case resReplaced:
				s.cl.setPresence(ctx, user, rec, r, ttl)
				c.replyError(f.ID, &Error{CodeSessionReplaced, "this session was replaced by a newer login of the same user; log in again without resume to take over"})
				return
			case resBusy:
				s.cl.setPresence(ctx, user, rec, r, ttl)
				continue
			case resHandover:
				mv := &moved{token: tok, rev: r, call: ans.Call, owner: ans.Owner, callToken: ans.CallToken, limits: ans.Limits, resumed: ans.Resumed}
				if ans.Resumed {
					mv.token = f.Resume
				} else {
					s.cl.setPresence(ctx, user, presenceRec{Node: s.node, TokHash: tokenHash(tok)}, r, ttl)
				}
				s.install(c, f, tk, claims, mv)
			default:
				s.install(c, f, tk, claims, &moved{token: tok, rev: r, limits: ans.Limits})
			}
			return
		default:
			// Nobody has the user, or a node that went away had.
			nrec := presenceRec{Node: s.node, TokHash: tokenHash(tok)}
			if found && f.Resume != "" && tokenHash(f.Resume) == rec.TokHash {
				nrec.TokHash = rec.TokHash
			}
			r, err := s.cl.setPresence(ctx, user, nrec, rev, ttl)
			if err != nil {
				continue
			}
			if !found {
				s.install(c, f, tk, claims, &moved{token: tok, rev: r})
			} else {
				s.loginAfterDead(ctx, c, f, tk, claims, rec, r, tok)
			}
			return
		}
	}
	c.replyError(f.ID, &Error{CodeInternal, "the cluster could not settle this user's login; try again"})
}

// loginLocal logs in a user whose presence record names this node: the
// session, if any, is here. false: the record changed meanwhile (retry).
func (s *Server) loginLocal(ctx context.Context, c *conn, f *Frame, tk Ticket, claims *callClaims, tok string, rec presenceRec, rev uint64, ttl time.Duration) bool {
	s.mu.Lock()
	old := s.sessions[f.UserID]
	resuming := old != nil && f.Resume != "" && s.resumeOK(old, f.Resume)
	s.mu.Unlock()
	if !resuming {
		r, err := s.cl.setPresence(ctx, f.UserID, presenceRec{Node: s.node, TokHash: tokenHash(tok)}, rev, ttl)
		if err != nil {
			return false
		}
		rev = r
		if old != nil && f.Resume == "" && !old.restored {
			s.mu.Lock()
			remote := s.sessions[f.UserID] == old && old.call != nil && old.call.remote != "" && !old.moving
			if remote {
				old.moving, old.moved = true, true
			}
			s.mu.Unlock()
			if remote {
				s.kickAcross(old)
			}
		}
	} else {
		tok = old.token
	}
	s.mu.Lock()
	sess := s.loginHere(c, f, tk, claims, &presenceHere{token: tok, rev: rev})
	fix := sess != nil && tokenHash(sess.token) != tokenHash(tok)
	var newTok string
	if fix {
		newTok = sess.token
	}
	s.mu.Unlock()
	if fix {
		if r, err := s.cl.setPresence(ctx, f.UserID, presenceRec{Node: s.node, TokHash: tokenHash(newTok)}, rev, ttl); err == nil {
			s.mu.Lock()
			if s.sessions[f.UserID] == sess {
				sess.presRev = r
			}
			s.mu.Unlock()
		}
	}
	return true
}

// loginAfterDead logs in a user whose session was on a node that went
// away: its place in a call, held by whichever node runs that now, is
// resumed with the right resume token, and given up without.
func (s *Server) loginAfterDead(ctx context.Context, c *conn, f *Frame, tk Ticket, claims *callClaims, rec presenceRec, rev uint64, tok string) {
	s.nodeGone(rec.Node)
	resumed := f.Resume != "" && tokenHash(f.Resume) == rec.TokHash
	call, owner := s.findHeld(ctx, f.UserID)
	s.log.Debug("cluster: login after its node went away", "user", f.UserID, "node", rec.Node, "resumed", resumed, "call", call, "owner", owner)
	if resumed {
		tok = f.Resume
	}
	if owner == s.node {
		s.mu.Lock()
		if ph := s.sessions[f.UserID]; resumed && ph != nil && ph.restored && ph.token == "" && ph.tokHash == "" {
			// A place held when the call was taken over: the presence
			// record of the node that went away vouches for the token.
			ph.tokHash = rec.TokHash
		}
		s.loginHere(c, f, tk, claims, &presenceHere{token: tok, rev: rev})
		s.mu.Unlock()
		return
	}
	if call != "" && !resumed {
		s.sendNote(owner, &peerMsg{Kind: kLeave, User: f.UserID, Call: call, Ev: evGone, Reason: ReasonConnectionLost})
		call, owner = "", ""
	}
	s.install(c, f, tk, claims, &moved{token: tok, rev: rev, call: call, owner: owner, resumed: resumed})
}

// findHeld finds the call, and its node, in which user (whose node went
// away) is ringing or joined.
func (s *Server) findHeld(ctx context.Context, user string) (call, owner string) {
	s.mu.Lock()
	id := s.holding(user)
	lost := s.lostIn[user]
	s.mu.Unlock()
	if id != "" {
		return id, s.node
	}
	if lost != "" {
		o := s.callOwner(ctx, lost)
		s.log.Debug("cluster: looking for a held place", "user", user, "lostIn", lost, "owner", o)
		if o != "" {
			for range 20 { // its new node may be taking it in
				if o == s.node {
					return lost, o
				}
				r, err := s.cl.request(ctx, o, &peerMsg{Kind: kFind, User: user})
				if err == nil && r.Call == lost {
					return lost, o
				}
				time.Sleep(25 * time.Millisecond)
			}
		}
	}
	for _, r := range s.cl.ask(ctx, &peerMsg{Kind: kFind, User: user}) {
		if r.Call != "" {
			return r.Call, r.From
		}
	}
	return "", ""
}

// install makes a session here for a user whose session moved here, and
// replies to the login.
func (s *Server) install(c *conn, f *Frame, tk Ticket, claims *callClaims, mv *moved) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.replyError(f.ID, &Error{CodeShuttingDown, "the server is shutting down"})
		return
	}
	if c.sess != nil {
		s.mu.Unlock()
		c.replyError(f.ID, &Error{CodeAlreadyLoggedIn, "already logged in on this connection"})
		return
	}
	if c.tc != nil {
		c.tc.t.loggedIn(c.tc)
	}
	if old := s.sessions[f.UserID]; old != nil {
		// Logged in here meanwhile: this newer login wins.
		old.moved = true
		s.kick(old)
	}
	sess := &session{userID: f.UserID, token: mv.token, presRev: mv.rev}
	s.sessions[f.UserID] = sess
	s.invites.restore(s.since(), f.UserID, mv.limits)
	reply := &Frame{Type: TypeOK, ID: f.ID, Version: ProtocolVersion, UserID: f.UserID,
		ServerTime: s.clock.Now().UnixMilli(), TicketExpires: tk.ExpiresAt().Unix(),
		Heartbeat: int(s.cfg.Heartbeat / time.Second), Grace: int(s.cfg.Grace / time.Second),
		MaxCallSize: s.cfg.MaxCallSize, Token: sess.token, Resumed: mv.resumed}
	s.armExpiry(sess, tk.ExpiresAt())
	reply.ICEServers = s.iceServersFor(sess)
	what := "logged in"
	if mv.resumed {
		what = "session resumed"
	}
	if mv.call != "" && mv.owner == s.node {
		if cl := s.calls[mv.call]; cl != nil {
			if mem := cl.member(f.UserID); mem != nil && mem.state.Active() {
				wasAway := s.isAway(mem)
				if s.visitors[f.UserID] == cl {
					delete(s.visitors, f.UserID)
				}
				mem.home, mem.away = "", false
				sess.call = cl
				s.changed(cl)
				if wasAway && mem.state == StateJoined {
					s.pushOthers(cl, f.UserID, "", true, &Frame{Type: TypeUserBack, CallID: cl.id, UserID: f.UserID})
				}
			}
		}
		mv.call = ""
	}
	if mv.call != "" {
		sess.call = &call{id: mv.call, remote: mv.owner}
		sess.callToken = mv.callToken
		s.mu.Unlock()
		s.finishRemoteLogin(c, sess, reply, what, mv.callToken)
		return
	}
	if sess.call == nil && claims != nil {
		s.mu.Unlock()
		s.restoreAcross(c, sess, reply, claims, f.CallToken)
		return
	}
	sess.conn, c.sess = c, sess
	s.replyLogin(c, sess, reply, what)
	s.flush(nil, nil)
	s.mu.Unlock()
}

// finishRemoteLogin replies to a login whose session is in a call run by
// another node: the call's node attaches the user (back) and answers with
// the call as it stands, which the reply carries. Pushes the user missed
// meanwhile are lost, as for any reconnect.
func (s *Server) finishRemoteLogin(c *conn, sess *session, reply *Frame, what, callToken string) {
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	p := newPending(nil)
	p.onAnswer = func(it *peerItem) { s.loginAnswered(c, sess, reply, what, it) }
	s.mu.Lock()
	owner, id := sess.call.remote, sess.call.id
	s.mu.Unlock()
	err := s.await(ctx, owner, &peerMsg{Kind: kBack, User: sess.userID, Call: id, CallToken: callToken}, p)
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !errors.Is(err, errHere) && sess.call != nil && sess.call.remote != "" {
		sess.call = nil
	}
	s.loginAnswered(c, sess, reply, what, nil)
}

// loginAnswered sends the login reply once the call's node answered (it
// nil: no call, or the call is here now). Held: s.mu.
func (s *Server) loginAnswered(c *conn, sess *session, reply *Frame, what string, it *peerItem) {
	if s.sessions[sess.userID] != sess {
		c.replyError(reply.ID, &Error{CodeSessionReplaced, "a newer login of the same user took over meanwhile"})
		return
	}
	if it != nil {
		if it.Info == nil {
			if sess.call != nil && sess.call.remote != "" {
				sess.call = nil
			}
		} else if sess.call != nil {
			sess.call.callerID = it.Peer
			sess.callToken = it.Tok
		}
	}
	sess.conn, c.sess = c, sess
	if sess.call != nil && sess.call.remote == "" {
		// Taken over by this node meanwhile.
		if m := sess.call.member(sess.userID); m != nil && m.state == StateJoined {
			s.pushOthers(sess.call, sess.userID, "", true, &Frame{Type: TypeUserBack, CallID: sess.call.id, UserID: sess.userID})
		}
		s.replyLogin(c, sess, reply, what)
		s.flush(nil, nil)
		return
	}
	if it != nil && it.Info != nil {
		reply.Call, reply.CallToken = it.Info, it.Tok
	}
	s.totals.logins++
	s.log.Info(what, "user", sess.userID, "remote", c.remote, "inCall", reply.Call != nil)
	b, _ := EncodeFrame(reply)
	c.enqueue(b)
}

// restoreAcross brings back the call of a login's call token (restore.go)
// in a cluster: from the node that runs it now, from the shared state when
// its node went away, or rebuilt here from the token when it is not on
// record.
func (s *Server) restoreAcross(c *conn, sess *session, reply *Frame, cl *callClaims, tok string) {
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	owner := s.restoreCall(ctx, cl)
	s.mu.Lock()
	if owner != "" && owner != s.node && s.sessions[sess.userID] == sess && sess.call == nil {
		sess.call = &call{id: cl.CallID, remote: owner}
		s.mu.Unlock()
		s.finishRemoteLogin(c, sess, reply, "call restored", tok)
		return
	}
	defer s.mu.Unlock()
	what, then := "logged in", func() {}
	if owner == s.node && s.sessions[sess.userID] == sess {
		if f := s.restore(sess, cl); f != nil {
			what, then = "call restored", f
		}
	}
	sess.conn, c.sess = c, sess
	s.replyLogin(c, sess, reply, what)
	then()
	s.flush(nil, nil)
}

// restoreCall finds or makes the node that runs the call of cl: the one
// on record (taken over if it went away), or this one, which puts the call
// on record from the token when nobody has (the first node to do so wins).
// "" when the call is over.
func (s *Server) restoreCall(ctx context.Context, cl *callClaims) string {
	for range 3 {
		rec, _, err := s.cl.loadCall(ctx, cl.CallID)
		if err == nil {
			if rec.Ended {
				return ""
			}
			if s.cl.alive(ctx, rec.Owner) {
				return rec.Owner
			}
			return s.takeOver(ctx, cl.CallID, rec.Owner)
		}
		if !errors.Is(err, errNotFound) {
			return ""
		}
		s.mu.Lock()
		if s.calls[cl.CallID] != nil {
			s.mu.Unlock()
			return s.node
		}
		s.mu.Unlock()
		rec = &callRecord{ID: cl.CallID, Owner: s.node, Room: cl.Room, Named: cl.Named, Caller: cl.Members[0].User,
			Group: cl.Group, Media: cl.Media, Data: cl.Data, Timeout: time.Duration(cl.Timeout) * time.Second,
			State: callActive, Ver: cl.Ver, Restored: true}
		if _, err := s.cl.claimCall(ctx, rec, 0); err == nil {
			return s.node
		} else if !errors.Is(err, errConflict) {
			return ""
		}
	}
	return ""
}

// ---- a node went away ----------------------------------------------------------

// nodeGone takes over what node ran, once (later calls wait for the
// first): the places of its users in calls run here are held for the grace
// period; its calls are taken over from the shared state (by this node or
// another: one wins each); the calls of this node's users that nobody can
// take over come back from their call tokens, or are over.
func (s *Server) nodeGone(node string) {
	if node == s.node || node == "" {
		return
	}
	s.mu.Lock()
	if ch, ok := s.gone[node]; ok {
		s.mu.Unlock()
		<-ch
		return
	}
	ch := make(chan struct{})
	s.gone[node] = ch
	defer close(ch)
	if s.closing {
		s.mu.Unlock()
		return
	}
	var held []string
	for u, c := range s.visitors {
		if m := c.member(u); m != nil && m.home == node {
			s.holdHere(c, m)
			held = append(held, u)
		}
	}
	var orphans []*session
	var orphanCalls []string // their calls' ids: sess.call may change once s.mu is let go
	for _, sess := range s.sessions {
		if sess.call != nil && sess.call.remote == node {
			orphans = append(orphans, sess)
			orphanCalls = append(orphanCalls, sess.call.id)
		}
		if sess.reserved != nil && sess.reserved.owner == node {
			sess.reserved = nil
		}
	}
	s.flush(nil, nil)
	s.mu.Unlock()
	s.log.Info("cluster: a node went away; taking over", "node", node, "heldHere", len(held), "usersInItsCalls", len(orphans))

	ctx, cancel := context.WithTimeout(context.Background(), 3*clusterWait)
	defer cancel()
	// The presence records keep what the held users' sessions had: their
	// resume tokens' hashes.
	for _, u := range held {
		if rec, _, err := s.cl.presence(ctx, u); err == nil && rec.Node == node {
			s.mu.Lock()
			if ph := s.sessions[u]; ph != nil && ph.restored && ph.tokHash == "" {
				ph.tokHash = rec.TokHash
			}
			s.mu.Unlock()
		}
	}
	ids, err := s.cl.callsOf(ctx, node)
	if err != nil {
		s.log.Warn("cluster: cannot list the calls of a node that went away", "node", node, "err", err)
	}
	for _, id := range orphanCalls {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	s.log.Debug("cluster: calls of the node that went away", "node", node, "onRecord", ids)
	owners := make(map[string]string, len(ids))
	for _, id := range ids {
		owners[id] = s.takeOver(ctx, id, node)
	}
	for _, sess := range orphans {
		s.mu.Lock()
		c := sess.call
		if s.sessions[sess.userID] != sess || c == nil || c.remote != node {
			s.mu.Unlock()
			continue
		}
		if o := owners[c.id]; o != "" && o != s.node {
			// Another node won the call: its word of the new owner
			// (opOwner) may not have arrived yet; the user stays in it.
			c.remote = o
			s.mu.Unlock()
			continue
		}
		tok := sess.callToken
		s.mu.Unlock()
		if tok != "" && s.bringBack(ctx, sess, c, tok) {
			continue
		}
		// Nobody can carry it on: it is over for this user.
		s.mu.Lock()
		if sess.call == c {
			sess.call, sess.callToken = nil, ""
			if tok != "" {
				s.push(sess.userID, &Frame{Type: TypeCallEnded, CallID: c.id, Reason: ReasonServerShutdown})
			} else {
				s.push(sess.userID, &Frame{Type: TypeCallCancelled, CallID: c.id, CallerID: c.callerID, Reason: ReasonServerShutdown})
			}
			s.flush(nil, nil)
		}
		s.mu.Unlock()
	}
}

// takeOver makes sure the call id of node from (on record) runs on a live
// node, this one if it wins the race for it, and returns that node ("" if
// it is over or not on record).
func (s *Server) takeOver(ctx context.Context, id, from string) string {
	for range 5 {
		rec, rev, err := s.cl.loadCall(ctx, id)
		if err != nil || rec.Ended {
			s.log.Debug("cluster: no call to take over", "call", id, "err", err)
			return ""
		}
		s.noteLost(rec)
		if rec.Owner == s.node {
			return s.node
		}
		if rec.Owner != from && s.cl.alive(ctx, rec.Owner) {
			return rec.Owner
		}
		dead := rec.Owner
		rec.Owner = s.node
		if _, err := s.cl.claimCall(ctx, rec, rev); err != nil {
			if errors.Is(err, errConflict) {
				continue
			}
			return ""
		}
		s.mu.Lock()
		s.adoptRecord(rec, dead)
		s.flush(nil, nil)
		s.mu.Unlock()
		return s.node
	}
	return ""
}

// noteLost remembers who was in a call of a node that went away, for
// their logins (findHeld).
func (s *Server) noteLost(rec *callRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lostIn == nil {
		s.lostIn = map[string]string{}
	}
	if len(s.lostIn) > 1<<16 {
		clear(s.lostIn)
	}
	for _, mr := range rec.Members {
		if mr.State.Active() {
			s.lostIn[mr.User] = rec.ID
		}
	}
}

// adoptRecord runs a call taken over from node dead here: its members of
// live nodes stay there (told of the new owner), this node's members come
// back to it, the others' places are held; invitations ring on to their
// deadlines. Held: s.mu.
func (s *Server) adoptRecord(rec *callRecord, dead string) {
	if s.calls[rec.ID] != nil || (rec.State != callRinging && rec.State != callActive) {
		return
	}
	c := &call{id: rec.ID, room: rec.Room, named: rec.Named, callerID: rec.Caller, groupID: rec.Group, media: rec.Media,
		userData: rec.Data, timeout: rec.Timeout, state: rec.State, lastOutcome: rec.LastOutcome, ver: rec.Ver + 1,
		restored: rec.Restored, savedAs: dead}
	now := s.clock.Now()
	var hold []*member
	for _, mr := range rec.Members {
		m := &member{userID: mr.User, state: mr.State, reason: mr.Reason, begun: mr.Begun, ringFor: mr.RingFor,
			invitedBy: mr.InvitedBy, inviterHome: mr.InviterHome, relays: mr.Relays, relayBytes: mr.RelayBytes}
		if m.inviterHome == s.node {
			m.inviterHome = ""
		}
		c.members = append(c.members, m)
		if !m.state.Active() {
			continue
		}
		switch home := mr.Home; {
		case home == s.node:
			if sess := s.sessions[m.userID]; sess != nil && !sess.restored && sess.call != nil && sess.call.id == c.id {
				sess.call, sess.callToken = c, ""
			} else {
				hold = append(hold, m)
			}
		case home == dead || !s.knownAlive(home):
			hold = append(hold, m)
		default:
			m.home, m.away = home, mr.Away
			s.visitors[m.userID] = c
			s.queueOp(home, peerItem{User: m.userID, Op: opOwner, Call: c.id, Owner: s.node})
		}
		if m.state == StateRinging {
			d := max(time.UnixMilli(mr.RingAt).Sub(now), 0)
			m.ringAt = now.Add(d)
			s.armRing(c, m, d)
		}
	}
	s.calls[c.id] = c
	if !s.claimRoom(c) {
		s.log.Warn("taken-over call's room is taken by another call; it goes on unreserved", "call", c.id)
	}
	for _, m := range hold {
		s.holdHere(c, m)
	}
	s.changed(c)
	s.log.Info("cluster: took a call over", "call", c.id, "from", dead, "held", len(hold))
}

// knownAlive: the heartbeats say node is up (no asking).
func (s *Server) knownAlive(node string) bool {
	return slices.Contains(s.cl.liveNodes(), node)
}

// holdHere holds member m's place in c here, as for a dropped connection:
// its node went away, and it may log in to another one within the grace
// period. Held: s.mu.
func (s *Server) holdHere(c *call, m *member) {
	wasAway := m.home != "" && m.away
	if m.home != "" && s.visitors[m.userID] == c {
		delete(s.visitors, m.userID)
	}
	m.home, m.away = "", false
	if old := s.sessions[m.userID]; old != nil {
		// Logged in here already, without this call: it does not come back.
		if old.call != c {
			s.apply(c, m, evGone, ReasonConnectionLost, "")
			s.settle(c)
		}
		return
	}
	ph := &session{userID: m.userID, call: c, restored: true}
	s.sessions[m.userID] = ph
	if m.state == StateJoined && !wasAway {
		s.pushOthers(c, m.userID, "", true, &Frame{Type: TypeUserAway, CallID: c.id, UserID: m.userID})
	}
	s.holdAway(ph)
}

// bringBack presents the call token of sess (whose call's node went away
// with the call not on record) to the cluster: the call comes back here or
// on the node that brought it back first. false: it cannot.
func (s *Server) bringBack(ctx context.Context, sess *session, stub *call, tok string) bool {
	cl := verifyCallToken(s.tokenKey, tok, s.cfg.MaxCallSize+s.cfg.MemberHistory+1)
	if cl == nil || cl.CallID != stub.id {
		return false
	}
	owner := s.restoreCall(ctx, cl)
	switch owner {
	case "":
		return false
	case s.node:
		s.mu.Lock()
		defer s.mu.Unlock()
		if sess.call != stub {
			return true
		}
		sess.call = nil
		f := s.restore(sess, cl)
		if f == nil {
			sess.call = stub
			return false
		}
		f()
		s.flush(nil, nil)
		return true
	}
	s.mu.Lock()
	if sess.call != stub {
		s.mu.Unlock()
		return true
	}
	stub.remote = owner
	s.mu.Unlock()
	p := newPending(nil)
	p.onAnswer = func(it *peerItem) {
		if it.Info == nil && sess.call == stub {
			sess.call = nil
		} else if it.Tok != "" {
			sess.callToken = it.Tok
		}
	}
	return s.await(ctx, owner, &peerMsg{Kind: kBack, User: sess.userID, Call: stub.id, CallToken: tok}, p) == nil
}
