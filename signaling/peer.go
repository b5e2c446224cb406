package signaling

import (
	"encoding/json"
	"time"
)

// What nodes of a cluster say to each other (nodes.go), as JSON.
//
// On a node's ordered stream (Cluster.send):
//
//	fwd    a user's request about a call another node runs, to its owner
//	out    pushes, replies and changes for users of the receiving node
//	away   a member's connection dropped (its node holds its session)
//	back   a member is back, or now on another node: attach it
//	leave  a member leaves (logout, kicked, ticket expired, gone)
//
// As requests (Cluster.request, Cluster.ask):
//
//	claim    reserve users to ring them (busy, offline or limited otherwise)
//	release  give reservations back (the invitation did not happen)
//	takeover hand a user's session over to the node the user logs in to
//	find     which node runs a call this user is in (after its node went away)
const (
	kFwd      = "fwd"
	kOut      = "out"
	kAway     = "away"
	kBack     = "back"
	kLeave    = "leave"
	kClaim    = "claim"
	kRelease  = "release"
	kTakeover = "takeover"
	kFind     = "find"
)

// peerMsg is one message between nodes; each kind uses some fields.
type peerMsg struct {
	Kind string `json:"k,omitempty"`
	From string `json:"f,omitempty"`
	// Corr numbers a request whose answer comes back on the sender's
	// ordered stream (fwd, back, leave).
	Corr uint64 `json:"c,omitempty"`
	User string `json:"u,omitempty"`
	Call string `json:"cl,omitempty"`
	// Owner is the node that runs Call.
	Owner string `json:"w,omitempty"`

	// fwd: the request, and what the user's node knows: the call the user
	// is ringing or joined in there (Busy), whether its connection may
	// relay that payload now (RelayOK), and the invitations it reserved
	// (Claims).
	Frame   json.RawMessage `json:"fr,omitempty"`
	Busy    string          `json:"b,omitempty"`
	RelayOK bool            `json:"ro,omitempty"`
	Claims  []claimResult   `json:"cs,omitempty"`

	// leave: why.
	Ev     callEvent `json:"e,omitempty"`
	Reason Reason    `json:"r,omitempty"`

	// back, takeover: the login's resume token and call token.
	Resume    string `json:"rs,omitempty"`
	CallToken string `json:"ct,omitempty"`
	Resumed   bool   `json:"rd,omitempty"`

	// claim, release.
	Users   []string      `json:"us,omitempty"`
	Inviter string        `json:"iv,omitempty"`
	Ring    time.Duration `json:"rg,omitempty"`

	// out.
	Items []peerItem `json:"i,omitempty"`

	// Answers: claim results, takeover outcome (Res), a session handed
	// over (Token, Limits), a call found.
	Results []claimResult `json:"rr,omitempty"`
	Res     string        `json:"x,omitempty"`
	Token   string        `json:"t,omitempty"`
	Limits  *userLimits   `json:"l,omitempty"`
}

// peerItem is one thing for a user of the receiving node, in order.
type peerItem struct {
	User string `json:"u"`
	// Push is a frame to send to the user's connection; Tok the call
	// token it carries (the user's node keeps it, to bring the call back
	// if its owner goes away).
	Push json.RawMessage `json:"p,omitempty"`
	Tok  string          `json:"t,omitempty"`
	// Op changes the user's session there: opCall (the user is ringing or
	// joined in Call, run by Owner), opClear (no longer), opOwner (Call is
	// run by Owner now), and the invite limits' opRefundCaller,
	// opRefundCallee, opRejected (Peer is the other user).
	Op    string `json:"o,omitempty"`
	Call  string `json:"c,omitempty"`
	Owner string `json:"w,omitempty"`
	Peer  string `json:"pe,omitempty"`
	// Corr marks the answer to the receiver's request Corr: Push is the
	// reply to a forwarded request (Code says whether it failed), or Info
	// and Tok the user's call for a back.
	Corr uint64    `json:"r,omitempty"`
	Code Code      `json:"e,omitempty"`
	Info *CallInfo `json:"in,omitempty"`
}

const (
	opCall         = "call"
	opClear        = "clear"
	opOwner        = "owner"
	opRefundCaller = "refundCaller"
	opRefundCallee = "refundCallee"
	opRejected     = "rejected"
)

// claimResult is what a claim found for one user.
type claimResult struct {
	User string `json:"u"`
	// Res: claimOK (reserved: ring them), claimBusy, claimOffline,
	// claimLimited (Msg says why).
	Res  string `json:"r"`
	Node string `json:"n,omitempty"`
	Msg  string `json:"m,omitempty"`
}

const (
	claimOK      = "ok"
	claimBusy    = "busy"
	claimOffline = "offline"
	claimLimited = "limited"
)

// Takeover outcomes.
const (
	resNone     = "none"     // no session there
	resHandover = "handover" // the session moves: resumed, call and all
	resKicked   = "kicked"   // the old session was kicked (a fresh login)
	resReplaced = "replaced" // the resume token does not match: refused
	resBusy     = "busy"     // in the middle of another login: try again
)

// callRecord is a call's snapshot in the shared state: all another node
// needs to run it on.
type callRecord struct {
	ID          string         `json:"id"`
	Owner       string         `json:"o"`
	Ended       bool           `json:"e,omitempty"`
	Room        RoomID         `json:"rm"`
	Named       bool           `json:"rn,omitempty"`
	Caller      string         `json:"cr"`
	Group       string         `json:"g,omitempty"`
	Media       MediaType      `json:"md,omitempty"`
	Data        string         `json:"d,omitempty"`
	Timeout     time.Duration  `json:"t"`
	State       callState      `json:"s"`
	LastOutcome Reason         `json:"lo,omitempty"`
	Ver         uint64         `json:"v"`
	Restored    bool           `json:"rs,omitempty"`
	Members     []memberRecord `json:"m"`

	// indexedAs is the owner under which the owners' index lists the
	// call ("" none yet); not stored.
	indexedAs string
}

type memberRecord struct {
	User        string           `json:"u"`
	State       ParticipantState `json:"s"`
	Reason      Reason           `json:"r,omitempty"`
	Begun       bool             `json:"b,omitempty"`
	Home        string           `json:"h,omitempty"`
	Away        bool             `json:"a,omitempty"`
	RingAt      int64            `json:"ra,omitempty"` // Unix ms the invitation times out
	RingFor     time.Duration    `json:"rf,omitempty"`
	InvitedBy   string           `json:"ib,omitempty"`
	InviterHome string           `json:"ih,omitempty"`
	Relays      int              `json:"rl,omitempty"`
	RelayBytes  int              `json:"rb,omitempty"`
}
