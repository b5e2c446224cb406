package signaling

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Calls that outlive the server (PROTOCOL.md). Media flows between the
// participants, not through the server, so a server that restarts (or, in
// a cluster, a node that goes away) need not end a call: each joined
// participant holds a call token, signed with a key derived from the
// server's secret key, that says what the call was. A participant that logs
// in to the next server with it brings the call back; the server rebuilds
// it from the token alone, holding the places of the others for the grace
// period as if their connections had dropped, and each one that comes back
// takes its place again. Nothing in this depends on the process that
// signed the token: any server with the same secret key can do it.

// callTokenInfo is the HKDF info of the call token key: a key of its own,
// so a call token can never pass for anything else signed with the secret,
// and one per SDKAppID.
const callTokenInfo = "softphone call token v1, SDKAppID "

// callTokenKey derives the key that signs call tokens.
func callTokenKey(secret string, app int64) []byte {
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, callTokenInfo+strconv.FormatInt(app, 10), 32)
	if err != nil {
		panic(err) // only for an impossible length
	}
	return k
}

// callClaims is what a call token says: the call, and where each member
// stood at version Ver (the caller first). The keys are short: every push
// about a call carries its token.
type callClaims struct {
	Node    string        `json:"n"` // the server that signed it
	CallID  string        `json:"c"`
	Ver     uint64        `json:"v"`
	Room    RoomID        `json:"r"`
	Named   bool          `json:"rn,omitempty"`
	Group   string        `json:"g,omitempty"`
	Media   MediaType     `json:"md,omitempty"`
	Data    string        `json:"d,omitempty"`
	Timeout int           `json:"t"`
	Members []claimMember `json:"m"`
}

// claimMember is a member in a token: [user, state] or [user, state,
// reason], the state by its first letter but for noResponse ("x").
type claimMember struct {
	User   string
	State  ParticipantState
	Reason Reason
}

var stateLetters = map[ParticipantState]string{StateRinging: "r", StateJoined: "j", StateLeft: "l",
	StateRejected: "d", StateNoResponse: "x", StateLineBusy: "b"}

func (m claimMember) MarshalJSON() ([]byte, error) {
	a := []string{m.User, stateLetters[m.State]}
	if m.Reason != ReasonNone {
		a = append(a, string(m.Reason))
	}
	return json.Marshal(a)
}

func (m *claimMember) UnmarshalJSON(b []byte) error {
	var a []string
	if err := json.Unmarshal(b, &a); err != nil || len(a) < 2 || len(a) > 3 {
		return errors.New("bad member")
	}
	m.User = a[0]
	for st, l := range stateLetters {
		if l == a[1] {
			m.State = st
		}
	}
	if m.State == stateNew {
		return errors.New("bad member state")
	}
	if len(a) == 3 {
		m.Reason = Reason(a[2])
	}
	return nil
}

// callToken returns c's token for its current version: empty while the
// call has not begun (there is no conversation to carry on yet).
func (s *Server) callToken(c *call) string {
	if c.state != callActive {
		return ""
	}
	if c.token != "" && c.tokenVer == c.ver {
		return c.token
	}
	cl := callClaims{Node: s.node, CallID: c.id, Ver: c.ver, Room: c.room, Named: c.named,
		Group: c.groupID, Media: c.media, Data: c.userData, Timeout: int(c.timeout / time.Second),
		Members: make([]claimMember, len(c.members))}
	for i, m := range c.members {
		cl.Members[i] = claimMember{m.userID, m.state, m.reason}
	}
	c.token, c.tokenVer = signClaims(s.tokenKey, &cl), c.ver
	return c.token
}

// signClaims renders a token: base64url(JSON) "." base64url(HMAC-SHA256).
func signClaims(key []byte, cl *callClaims) string {
	body, _ := json.Marshal(cl)
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// maxCallToken bounds a token's length before anything is decoded.
const maxCallToken = 32 << 10

// verifyCallToken checks a token's signature (which also binds it to the
// SDKAppID) and shape; nil when it is not a good token.
func verifyCallToken(key []byte, tok string, maxMembers int) *callClaims {
	if len(tok) > maxCallToken {
		return nil
	}
	b64, sig64, ok := strings.Cut(tok, ".")
	if !ok {
		return nil
	}
	body, err1 := base64.RawURLEncoding.DecodeString(b64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil {
		return nil
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil
	}
	var cl callClaims
	if json.Unmarshal(body, &cl) != nil || cl.CallID == "" || len(cl.CallID) > 64 ||
		len(cl.Members) == 0 || len(cl.Members) > maxMembers {
		return nil
	}
	seen := make(map[string]bool, len(cl.Members))
	for _, m := range cl.Members {
		if !ValidUserID(m.User) || seen[m.User] {
			return nil
		}
		seen[m.User] = true
	}
	return &cl
}

// restorable returns the claims of a call token that user may bring a call
// back with: a good token, signed by another server (or an earlier run of
// this one: one this server signed is about a call it knows, or one that
// ended here; in a cluster, by a node that went away), within RestoreWindow
// of this server's start (of that node's going), of a call not restored
// and ended already, in which user was joined with at least one other.
// Otherwise nil: the login goes on without the call, whose end the client
// then reports. It may ask the cluster: s.mu not held.
func (s *Server) restorable(tok, user string) *callClaims {
	if s.cfg.RestoreWindow < 0 {
		return nil
	}
	cl := verifyCallToken(s.tokenKey, tok, s.cfg.MaxCallSize+s.cfg.MemberHistory+1)
	if cl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	if !s.cl.restoreOpen(ctx, cl.Node) || s.cl.wasEnded(ctx, cl.CallID) {
		return nil
	}
	joined, me := 0, false
	for _, m := range cl.Members {
		if m.State == StateJoined {
			joined++
			me = me || m.User == user
		}
	}
	if !me || joined < 2 {
		return nil
	}
	return cl
}

// restore brings sess into the call of cl, rebuilding it if this server
// does not know it yet. It returns nil when sess is not in that call, else
// what to do once the login reply is composed (its call snapshot shows the
// call as the token had it). Held: s.mu.
func (s *Server) restore(sess *session, cl *callClaims) (then func()) {
	c := s.calls[cl.CallID]
	fresh := c == nil
	if fresh {
		c = s.rebuild(cl)
	} else {
		s.adopt(c, cl, sess.userID)
	}
	m := c.member(sess.userID)
	if m == nil || m.state != StateJoined || c.state != callActive {
		return nil
	}
	m.begun = true
	sess.call = c
	if !fresh {
		return func() {
			s.pushOthers(c, sess.userID, "", true, &Frame{Type: TypeUserBack, CallID: c.id, UserID: sess.userID})
		}
	}
	return func() { s.announceRebuilt(c, sess) }
}

// announceRebuilt tells the participant who brought call c back what it
// missed: who is not coming back (logged in here without the call) and
// which invitations could not ring on. A call left with nobody else ends.
func (s *Server) announceRebuilt(c *call, sess *session) {
	for _, o := range c.members {
		switch {
		case o.userID == sess.userID:
		case o.state == StateJoined:
			if os := s.sessions[o.userID]; os == nil || os.call != c {
				s.apply(c, o, evGone, ReasonConnectionLost, "")
			}
		case o.lostRing:
			o.lostRing = false
			c.lastOutcome = ReasonNoResponse
			s.pushOthers(c, o.userID, "", false, &Frame{Type: TypeUserNoResponse, CallID: c.id, UserID: o.userID, Reason: ReasonConnectionLost, CallToken: s.callToken(c)})
		}
	}
	s.settle(c)
}

// rejoin is restore for a participant whose place a restored call held:
// the call may learn from its (newer) token. Held: s.mu.
func (s *Server) rejoin(sess *session, cl *callClaims) {
	if c := sess.call; c != nil {
		s.adopt(c, cl, sess.userID)
	}
}

// rebuild makes the call of cl live again. The joined members who are not
// logged in here get their places held for the grace period (sessions
// without a connection, as when a connection drops); restore then takes
// those logged in here without the call as gone. Invitations that were
// ringing cannot ring on: they end (lostRing, for restore to announce).
func (s *Server) rebuild(cl *callClaims) *call {
	c := &call{id: cl.CallID, room: cl.Room, named: cl.Named, callerID: cl.Members[0].User, groupID: cl.Group,
		media: cl.Media, userData: cl.Data, timeout: time.Duration(cl.Timeout) * time.Second,
		state: callActive, ver: cl.Ver, restored: true}
	if c.timeout < time.Second || c.timeout > maxTimeoutSeconds*time.Second {
		c.timeout = s.cfg.InviteTimeout
	}
	held := 0
	for _, cm := range cl.Members {
		m := &member{userID: cm.User, state: cm.State, reason: cm.Reason}
		switch cm.State {
		case StateJoined:
			m.begun = true
			if sess := s.sessions[cm.User]; sess == nil {
				s.holdPlace(c, cm.User)
				held++
			} else if sess.call != nil && sess.call.id == c.id && sess.call.remote != "" {
				sess.call = c // its node's stand-in for the call (cluster)
			}
		case StateRinging:
			m.state, m.reason, m.lostRing = StateNoResponse, ReasonConnectionLost, true
		}
		c.members = append(c.members, m)
	}
	s.calls[c.id] = c
	if !s.claimRoom(c) {
		s.log.Warn("restored call's room is taken by another call; it goes on unreserved", "call", c.id, "room", c.room.StrRoomID)
	}
	s.log.Info("call restored from a call token", "call", c.id, "held", held)
	return c
}

// holdPlace holds user's place in restored call c for the grace period.
func (s *Server) holdPlace(c *call, user string) {
	ph := &session{userID: user, token: newID(16), call: c, restored: true}
	s.sessions[user] = ph
	s.holdAway(ph)
}

// adopt brings a restored call up to a newer token than the one it was
// rebuilt from, presented by presenter: a member the newer token has
// joined gets a held place, or is the presenter (and the others hear
// userJoined); one it no longer has joined and who has not come back
// leaves (userLeft, connectionLost); ringing invitations it lists end.
func (s *Server) adopt(c *call, cl *callClaims, presenter string) {
	if cl.Ver <= c.ver {
		return
	}
	c.ver = cl.Ver
	now := map[string]ParticipantState{}
	for _, cm := range cl.Members {
		now[cm.User] = cm.State
	}
	for _, m := range c.members {
		sess := s.sessions[m.userID]
		if m.state == StateJoined && now[m.userID] != StateJoined && sess != nil && sess.restored && sess.call == c {
			s.apply(c, m, evGone, ReasonConnectionLost, "")
		}
	}
	for _, cm := range cl.Members {
		m := c.member(cm.User)
		switch {
		case cm.State == StateJoined && (m == nil || !m.state.Active()) && (cm.User == presenter || s.sessions[cm.User] == nil):
			if m == nil {
				s.forgetOldest(c, nil)
				m = &member{userID: cm.User}
				c.members = append(c.members, m)
			}
			m.state, m.reason, m.begun = StateJoined, ReasonNone, true
			if cm.User != presenter {
				s.holdPlace(c, cm.User)
			}
			s.pushOthers(c, cm.User, "", true, &Frame{Type: TypeUserJoined, CallID: c.id, UserID: cm.User})
		case cm.State == StateRinging && m != nil && !m.state.Active():
			// Already ended here (rebuilt from an older token that had it ringing or not yet invited).
		case cm.State == StateRinging && m == nil:
			s.forgetOldest(c, nil)
			c.members = append(c.members, &member{userID: cm.User, state: StateNoResponse, reason: ReasonConnectionLost})
			s.pushOthers(c, cm.User, "", false, &Frame{Type: TypeUserNoResponse, CallID: c.id, UserID: cm.User, Reason: ReasonConnectionLost})
		}
	}
	c.ver++
	s.settle(c)
}
