package signaling

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Cluster is the server state that the nodes of one call service share:
// who is online on which node (presence), where each call runs and what it
// looks like (its members, their invitations and the invitations' deadlines,
// so that another node can take it over), which calls ended (so that old
// call tokens cannot bring them back), when the call-restoring window is
// open, and the way nodes reach each other.
//
// A Server keeps what belongs to it alone: its connections and limits, the
// sessions of the users connected to it, and the calls it runs (it is their
// owner: their state machine and invitation timers run there). A user
// logged in on one node and a call run by another meet through the
// Cluster: requests about the call go to its owner, and the owner's pushes
// and changes come back to the user's node (nodes.go).
//
// There are two implementations. The in-process one (the default: a Server
// with no Config.Cluster) is one node with nothing outside it: every user
// and call is local and nothing is ever sent anywhere, so a lone server
// behaves and performs as it always did. NATSCluster keeps the shared state
// in JetStream key-value buckets of an embedded or external NATS and
// carries messages between nodes over NATS subjects.
type Cluster interface {
	// node is this node's id: random per process, 8 hex digits.
	node() string
	// multi is false when this node is all there is (in-process): the
	// server then takes none of the paths that involve other nodes.
	multi() bool
	// attach starts delivering other nodes' messages, requests and news of
	// nodes that went away to s.
	attach(s *Server) error
	// leave tells the other nodes that this one is going (after it saved
	// what they need to take over), and close stops everything; close
	// alone is leaving without a word, as a crash would.
	leave()
	close() error

	// restoreOpen reports whether a call token that signer signed may
	// rebuild its call here now (restore.go): signer is not a live node,
	// and it went away (or this node started, when nothing is known about
	// signer) within the restore window.
	restoreOpen(ctx context.Context, signer string) bool
	// endedRestored and wasEnded remember the restored calls that ended
	// within the restore window: their tokens must not bring them back.
	endedRestored(id string)
	wasEnded(ctx context.Context, id string) bool
	// prune forgets what the restore window no longer needs.
	prune()

	// Presence: the record of each logged-in user (presence.go).
	presence(ctx context.Context, user string) (presenceRec, uint64, error)
	setPresence(ctx context.Context, user string, rec presenceRec, rev uint64, ttl time.Duration) (uint64, error)
	dropPresence(user string, rev uint64)

	// Calls: the snapshots of the calls, written behind the owner's back
	// (saveCalls does not wait), read and claimed (compare and swap) by a
	// node taking a call over.
	saveCalls(recs []*callRecord)
	syncCalls(ctx context.Context) error
	loadCall(ctx context.Context, id string) (*callRecord, uint64, error)
	claimCall(ctx context.Context, rec *callRecord, rev uint64) (uint64, error)
	callsOf(ctx context.Context, node string) ([]string, error)

	// Nodes.
	alive(ctx context.Context, node string) bool
	liveNodes() []string

	// Messages: send goes on node's ordered stream (messages from one node
	// to another arrive in the order sent); request is a call that may
	// overtake them; ask asks every live node and gathers the answers.
	send(node string, m *peerMsg) error
	request(ctx context.Context, node string, m *peerMsg) (*peerMsg, error)
	ask(ctx context.Context, m *peerMsg) []*peerMsg
}

// errNotFound is a presence record or call snapshot that does not exist;
// errConflict a compare-and-swap that lost to another writer.
var (
	errNotFound = errors.New("signaling: not found in the shared state")
	errConflict = errors.New("signaling: changed meanwhile in the shared state")
	errNoNode   = errors.New("signaling: no such node in the cluster")
)

// presenceRec says where a user is logged in: the node, and a hash of the
// session's resume token, so that any node can resume the session when its
// node went away.
type presenceRec struct {
	Node    string `json:"n"`
	TokHash string `json:"h,omitempty"`
}

// tokenHash is the hash of a resume token kept in presence records.
func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// localCluster is the in-process implementation: one node.
type localCluster struct {
	id     string
	clock  Clock
	epoch  time.Time
	window time.Duration

	mu sync.Mutex
	// ended holds the restored calls that ended, during the restore window
	// (the only time they could be restored again).
	ended map[string]bool
}

func newLocalCluster(clock Clock, window time.Duration) *localCluster {
	return &localCluster{id: newID(4), clock: clock, epoch: clock.Now(), window: window, ended: map[string]bool{}}
}

func (l *localCluster) node() string           { return l.id }
func (l *localCluster) multi() bool            { return false }
func (l *localCluster) attach(s *Server) error { return nil }
func (l *localCluster) leave()                 {}
func (l *localCluster) close() error           { return nil }

// restoreOpen: a token this very process signed is about a call it knows
// (or one that ended here); others may restore within the window after
// this server's start.
func (l *localCluster) restoreOpen(_ context.Context, signer string) bool {
	return l.window >= 0 && signer != l.id && l.clock.Now().Sub(l.epoch) <= l.window
}

func (l *localCluster) endedRestored(id string) {
	l.mu.Lock()
	l.ended[id] = true
	l.mu.Unlock()
}

func (l *localCluster) wasEnded(_ context.Context, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended[id]
}

func (l *localCluster) prune() {
	if l.clock.Now().Sub(l.epoch) > l.window {
		l.mu.Lock()
		clear(l.ended)
		l.mu.Unlock()
	}
}

// One node knows no other: nobody is online elsewhere, no call runs
// elsewhere, nothing is sent.
func (l *localCluster) presence(context.Context, string) (presenceRec, uint64, error) {
	return presenceRec{}, 0, errNotFound
}
func (l *localCluster) setPresence(context.Context, string, presenceRec, uint64, time.Duration) (uint64, error) {
	return 0, nil
}
func (l *localCluster) dropPresence(string, uint64)     {}
func (l *localCluster) saveCalls([]*callRecord)         {}
func (l *localCluster) syncCalls(context.Context) error { return nil }
func (l *localCluster) loadCall(context.Context, string) (*callRecord, uint64, error) {
	return nil, 0, errNotFound
}
func (l *localCluster) claimCall(context.Context, *callRecord, uint64) (uint64, error) {
	return 0, errConflict
}
func (l *localCluster) callsOf(context.Context, string) ([]string, error) { return nil, nil }
func (l *localCluster) alive(_ context.Context, node string) bool         { return node == l.id }
func (l *localCluster) liveNodes() []string                               { return []string{l.id} }
func (l *localCluster) send(string, *peerMsg) error                       { return errNoNode }
func (l *localCluster) request(context.Context, string, *peerMsg) (*peerMsg, error) {
	return nil, errNoNode
}
func (l *localCluster) ask(context.Context, *peerMsg) []*peerMsg { return nil }
