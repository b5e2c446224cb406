package signaling

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1 (RFC 5389 long-term credentials)
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
)

// ICEServer is one STUN or TURN server a client should use, in the shape of
// the browser's RTCIceServer (urls, username, credential), so a web page can
// pass it to RTCPeerConnection as is. Expires (Unix seconds) is set on
// servers with credentials: they stop working then, and the server pushes
// fresh ones before (the "iceServers" push).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
	Expires    int64    `json:"expires,omitempty"`
}

// ICEService is the STUN/TURN service a call server offers its users: every
// login reply carries its URLs, with TURN credentials for that user that
// last as long as the ticket, at most MaxLifetime.
//
// The credentials follow the TURN REST scheme (draft-uberti-behave-turn-rest,
// as coturn's use-auth-secret): username "EXPIRY:USERID", password
// base64(HMAC-SHA1(secret, username)). Any TURN server that shares Secret
// accepts them; `softphone serve` runs one in-process (TURNServer).
type ICEService struct {
	// STUN and TURN are the URLs to hand out: stun:HOST:PORT and
	// turn:HOST:PORT?transport=udp|tcp.
	STUN, TURN []string
	// Secret is the shared secret of the TURN REST scheme (TURNSecret).
	Secret string
	// MaxLifetime caps a credential's life (24 h): a week-long ticket still
	// gets day-long TURN credentials, renewed while the user is online.
	MaxLifetime time.Duration
	// RenewBefore is how long before its credentials expire an online user
	// is pushed fresh ones (10 min; half the lifetime when that is
	// shorter).
	RenewBefore time.Duration
}

func (s *ICEService) setDefaults() {
	if s.MaxLifetime <= 0 {
		s.MaxLifetime = 24 * time.Hour
	}
	if s.RenewBefore <= 0 {
		s.RenewBefore = 10 * time.Minute
	}
}

// TURNSecret derives the TURN REST shared secret from the server's secret
// key, so the one key file configures both and the key itself never reaches
// the TURN code. A one-way function: TURN credentials reveal nothing about
// the key that signs tickets.
func TURNSecret(serverKey string) string {
	m := hmac.New(sha256.New, []byte(serverKey))
	m.Write([]byte("softphone TURN REST secret v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// TURNCredentials returns the TURN REST username and password for user,
// valid until expires.
func TURNCredentials(secret, user string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// servers returns the ICE servers for user with credentials that expire at
// expires.
func (s *ICEService) servers(user string, expires time.Time) []ICEServer {
	var out []ICEServer
	if len(s.STUN) > 0 {
		out = append(out, ICEServer{URLs: s.STUN})
	}
	if len(s.TURN) > 0 {
		name, pass := TURNCredentials(s.Secret, user, expires)
		out = append(out, ICEServer{URLs: s.TURN, Username: name, Credential: pass, Expires: expires.Unix()})
	}
	return out
}

// credentialExpiry is when credentials minted now for a ticket that
// expires at ticketExpires stop working: at the ticket's end, at most
// MaxLifetime from now.
func (s *ICEService) credentialExpiry(now, ticketExpires time.Time) time.Time {
	return minTime(ticketExpires, now.Add(s.MaxLifetime))
}

// renewAt is when a session whose credentials expire at expires gets new
// ones.
func (s *ICEService) renewAt(now, expires time.Time) time.Time {
	before := min(s.RenewBefore, expires.Sub(now)/2)
	return expires.Add(-before)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// iceServersFor returns the ICE servers for a session that just logged in or
// resumed, and arms the push of fresh credentials before they expire (only
// when they expire before the ticket: the session ends with the ticket).
// s.mu held.
func (s *Server) iceServersFor(sess *session) []ICEServer {
	stopTimer(&sess.iceTimer)
	ice := s.cfg.ICE
	if ice == nil {
		return nil
	}
	now := s.clock.Now()
	exp := ice.credentialExpiry(now, sess.expiresAt)
	if exp.Before(sess.expiresAt) {
		var t Timer
		t = s.afterFunc(ice.renewAt(now, exp).Sub(now), func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.sessions[sess.userID] != sess || sess.iceTimer != t {
				return
			}
			sess.iceTimer = nil
			servers := s.iceServersFor(sess)
			if sess.conn == nil {
				return // away: the resume's login reply carries fresh ones
			}
			s.log.Debug("pushing fresh TURN credentials", "user", sess.userID)
			s.push(sess.userID, &Frame{Type: TypeICEServers, ICEServers: servers})
			s.flush(nil, nil)
		})
		sess.iceTimer = t
	}
	return ice.servers(sess.userID, exp)
}
