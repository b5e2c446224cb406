package tui

import (
	"slices"
	"time"

	"softphone/engine"
)

// peer is one person of the current call other than this user: an invitee
// that is still ringing, or a participant.
type peer struct {
	id      string
	status  peerStatus
	volume  int
	quality engine.NetworkQuality
	path    engine.ConnectionPath // how the media gets there; zero until ICE chose
	audio   bool                  // audio available (false: muted or no microphone)
	video   bool                  // video available
}

// session is the call in progress, from the first ring to the end.
type session struct {
	seq      int // distinguishes this call from earlier ones in action results
	dir      direction
	media    engine.MediaType
	caller   string   // incoming: who is calling
	invitees []string // incoming: the other invitees of a group call
	groupID  string
	userData string
	callID   string
	role     engine.CallRole

	started   time.Time // first ring (outgoing: when Enter was pressed)
	connected time.Time // onCallBegin; zero while ringing

	peers []*peer  // rows: in invitation / join order
	names []string // everyone this call rang or met, for the recent list

	// Local progress: what this user asked for and has not seen the
	// engine's answer to yet, shown on screen and used to tell outcomes
	// apart (cancelled by me vs. rang out).
	accepting, rejecting, hangingUp bool

	// Quality and volume of this user, from the engine's periodic reports.
	myVolume  int
	myQuality engine.NetworkQuality
	myVideo   bool
}

// peer returns the peer with id, or nil.
func (s *session) peer(id string) *peer {
	for _, p := range s.peers {
		if p.id == id {
			return p
		}
	}
	return nil
}

// addPeer returns the peer with id, adding it with status st if new.
func (s *session) addPeer(id string, st peerStatus) *peer {
	if p := s.peer(id); p != nil {
		return p
	}
	p := &peer{id: id, status: st, audio: true}
	s.peers = append(s.peers, p)
	if !slices.Contains(s.names, id) {
		s.names = append(s.names, id)
	}
	return p
}

// removePeer drops id from the call's rows.
func (s *session) removePeer(id string) {
	for i, p := range s.peers {
		if p.id == id {
			s.peers = append(s.peers[:i], s.peers[i+1:]...)
			return
		}
	}
}

// peerIDs lists the ids of everyone this call was with, for the recent list.
func (s *session) peerIDs() []string {
	if s.dir == dirIncoming {
		return []string{s.caller}
	}
	return slices.Clone(s.names)
}

// countActive counts peers in the call or still ringing.
func (s *session) countActive() int {
	n := 0
	for _, p := range s.peers {
		if p.status == peerJoined || p.status.pending() {
			n++
		}
	}
	return n
}

// unansweredOutcome classifies an outgoing call that ended before anyone
// answered, from what happened to its invitees.
func (s *session) unansweredOutcome() outcome {
	if s.hangingUp {
		return outcomeCancelled
	}
	var rejected, busy, noAnswer, offline int
	for _, p := range s.peers {
		switch p.status {
		case peerRejected:
			rejected++
		case peerBusy:
			busy++
		case peerNoAnswer:
			noAnswer++
		case peerOffline:
			offline++
		}
	}
	switch {
	case rejected > 0:
		return outcomeRejected
	case busy > 0:
		return outcomeBusy
	case noAnswer > 0:
		return outcomeNoAnswer
	case offline > 0:
		return outcomeOffline
	}
	return outcomeCancelled
}

// recentCall is one line of the idle screen's list of this session's calls.
type recentCall struct {
	at       time.Time
	dir      direction
	peers    []string
	media    engine.MediaType
	outcome  outcome
	duration time.Duration // talk time; 0 when the call never connected
}

// maxRecent bounds the recent list kept in memory.
const maxRecent = 50
