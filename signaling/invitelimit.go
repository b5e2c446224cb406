package signaling

import (
	"errors"
	"fmt"
	"time"
)

// InviteLimits keep callers from harassing people with rings. Each counts
// unanswered invitations in a bucket that refills evenly over a minute: an
// invitation takes one token, and an accepted one gives it back, so people
// who answer each other's calls are never held up however often they call.
// Offline and busy invitees count as unanswered. Zero fields take the
// defaults named on them; -1 turns a limit off.
type InviteLimits struct {
	// PerCaller is how many unanswered invitations one user may send a
	// minute, all invitees together (20).
	PerCaller int
	// PerPair is how many times a minute one caller may ring the same
	// user without an answer (5).
	PerPair int
	// PerCallee is how many unanswered rings one user may receive a
	// minute, from everyone together (30).
	PerCallee int
	// AfterReject is how long a reject keeps the caller from ringing that
	// user again (30 s).
	AfterReject time.Duration
}

func (l *InviteLimits) setDefaults() error {
	for _, f := range []struct {
		v   *int
		def int
	}{{&l.PerCaller, 20}, {&l.PerPair, 5}, {&l.PerCallee, 30}} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < -1 {
			return errors.New("signaling: invite limits must be positive, or -1 for none")
		}
	}
	if l.AfterReject == 0 {
		l.AfterReject = 30 * time.Second
	}
	if l.AfterReject < 0 {
		l.AfterReject = -1
	}
	return nil
}

// CodeInviteLimited is the error of an invitation over InviteLimits.
// (It is declared with the other codes in errors.go.)

// bucket is a token bucket of invitations, refilled at its capacity per
// minute.
type bucket struct {
	tokens float64
	at     int64 // Server.since() of the last refill
}

func (b *bucket) fill(now int64, perMinute int) {
	if now > b.at {
		b.tokens = min(float64(perMinute), b.tokens+float64(now-b.at)/float64(time.Minute)*float64(perMinute))
		b.at = now
	}
}

type userPair struct{ from, to string }

// inviteLimiter holds the buckets; guarded by Server.mu.
type inviteLimiter struct {
	caller  map[string]*bucket
	pair    map[userPair]*bucket
	callee  map[string]*bucket
	blocked map[userPair]int64 // until Server.since()
}

func newInviteLimiter() inviteLimiter {
	return inviteLimiter{caller: map[string]*bucket{}, pair: map[userPair]*bucket{},
		callee: map[string]*bucket{}, blocked: map[userPair]int64{}}
}

// get returns the bucket of k, refilled; a new one is full.
func get[K comparable](m map[K]*bucket, k K, now int64, perMinute int) *bucket {
	b := m[k]
	if b == nil {
		b = &bucket{tokens: float64(perMinute), at: now}
		m[k] = b
	}
	b.fill(now, perMinute)
	return b
}

func inviteLimited(format string, args ...any) *Error {
	return &Error{CodeInviteLimited, fmt.Sprintf(format, args...)}
}

// In a cluster the limits live with the users (nodes.go): a caller's
// buckets (per caller, per pair, the holds after a reject) on the caller's
// node, a callee's bucket on the callee's node, where a claim checks it;
// they move with the user's session. elsewhere, below, names the callees
// whose bucket is on another node; nil for a lone server.

// check says whether caller may invite callees now, changing nothing.
func (l *inviteLimiter) check(now int64, lim *InviteLimits, caller string, callees []string, elsewhere map[string]bool) *Error {
	if lim.PerCaller > 0 && get(l.caller, caller, now, lim.PerCaller).tokens < float64(len(callees)) {
		return inviteLimited("you sent %d unanswered invitations within a minute: wait a little", lim.PerCaller)
	}
	for _, to := range callees {
		p := userPair{caller, to}
		if until, ok := l.blocked[p]; ok && now < until {
			return inviteLimited("%s declined your call: you can ring them again in %d s", to, (until-now+int64(time.Second)-1)/int64(time.Second))
		}
		if lim.PerPair > 0 && get(l.pair, p, now, lim.PerPair).tokens < 1 {
			return inviteLimited("you rang %s %d times within a minute without an answer: wait a little", to, lim.PerPair)
		}
		if !elsewhere[to] {
			if e := l.checkCallee(now, lim, to); e != nil {
				return e
			}
		}
	}
	return nil
}

// checkCallee says whether to may be rung once more now.
func (l *inviteLimiter) checkCallee(now int64, lim *InviteLimits, to string) *Error {
	if lim.PerCallee > 0 && get(l.callee, to, now, lim.PerCallee).tokens < 1 {
		return inviteLimited("%s was rung too often within a minute: try again later", to)
	}
	return nil
}

// take charges the invitations that check allowed.
func (l *inviteLimiter) take(now int64, lim *InviteLimits, caller string, callees []string, elsewhere map[string]bool) {
	if lim.PerCaller > 0 {
		get(l.caller, caller, now, lim.PerCaller).tokens -= float64(len(callees))
	}
	for _, to := range callees {
		if lim.PerPair > 0 {
			get(l.pair, userPair{caller, to}, now, lim.PerPair).tokens--
		}
		if !elsewhere[to] {
			l.takeCallee(now, lim, to)
		}
	}
}

func (l *inviteLimiter) takeCallee(now int64, lim *InviteLimits, to string) {
	if lim.PerCallee > 0 {
		get(l.callee, to, now, lim.PerCallee).tokens--
	}
}

func refund(b *bucket, perMinute int) {
	if b != nil {
		b.tokens = min(b.tokens+1, float64(perMinute))
	}
}

// answered gives back what the invitation of callee by caller took.
func (l *inviteLimiter) answered(lim *InviteLimits, caller, callee string) {
	l.answeredCaller(lim, caller, callee)
	l.answeredCallee(lim, callee)
}

// answeredCaller and answeredCallee are answered's two halves: the
// caller's buckets and the callee's.
func (l *inviteLimiter) answeredCaller(lim *InviteLimits, caller, callee string) {
	refund(l.caller[caller], lim.PerCaller)
	refund(l.pair[userPair{caller, callee}], lim.PerPair)
}

func (l *inviteLimiter) answeredCallee(lim *InviteLimits, callee string) {
	refund(l.callee[callee], lim.PerCallee)
}

// rejected keeps caller from ringing callee for AfterReject.
func (l *inviteLimiter) rejected(now int64, lim *InviteLimits, caller, callee string) {
	if lim.AfterReject > 0 && caller != "" {
		l.blocked[userPair{caller, callee}] = now + int64(lim.AfterReject)
	}
}

// prune forgets full buckets and past blocks, so the limiter holds only
// what the last minute's invitations left.
func (l *inviteLimiter) prune(now int64) {
	pruneFull(l.caller, now)
	pruneFull(l.pair, now)
	pruneFull(l.callee, now)
	for k, until := range l.blocked {
		if now >= until {
			delete(l.blocked, k)
		}
	}
}

// pruneFull deletes buckets that a minute has refilled for sure.
func pruneFull[K comparable](m map[K]*bucket, now int64) {
	for k, b := range m {
		if now-b.at >= int64(time.Minute) {
			delete(m, k)
		}
	}
}

// userLimits is one user's state in the limiter, moved with the user's
// session to another node. Buckets keep their refill time relative to the
// node's clock: At is how long ago they were last filled.
type userLimits struct {
	Caller  *bucketState           `json:"c,omitempty"`
	Callee  *bucketState           `json:"e,omitempty"`
	Pairs   map[string]bucketState `json:"p,omitempty"`
	Blocked map[string]int64       `json:"b,omitempty"` // ns left
}

type bucketState struct {
	Tokens float64 `json:"t"`
	Ago    int64   `json:"a"` // ns since the last fill
}

// export takes user's state out of the limiter (for another node).
func (l *inviteLimiter) export(now int64, user string) *userLimits {
	u := &userLimits{}
	if b := l.caller[user]; b != nil {
		u.Caller = &bucketState{b.tokens, now - b.at}
		delete(l.caller, user)
	}
	if b := l.callee[user]; b != nil {
		u.Callee = &bucketState{b.tokens, now - b.at}
		delete(l.callee, user)
	}
	for p, b := range l.pair {
		if p.from == user {
			if u.Pairs == nil {
				u.Pairs = map[string]bucketState{}
			}
			u.Pairs[p.to] = bucketState{b.tokens, now - b.at}
			delete(l.pair, p)
		}
	}
	for p, until := range l.blocked {
		if p.from == user && until > now {
			if u.Blocked == nil {
				u.Blocked = map[string]int64{}
			}
			u.Blocked[p.to] = until - now
			delete(l.blocked, p)
		}
	}
	return u
}

// restore puts a user's state from another node into the limiter.
func (l *inviteLimiter) restore(now int64, user string, u *userLimits) {
	if u == nil {
		return
	}
	if u.Caller != nil {
		l.caller[user] = &bucket{u.Caller.Tokens, now - u.Caller.Ago}
	}
	if u.Callee != nil {
		l.callee[user] = &bucket{u.Callee.Tokens, now - u.Callee.Ago}
	}
	for to, b := range u.Pairs {
		l.pair[userPair{user, to}] = &bucket{b.Tokens, now - b.Ago}
	}
	for to, left := range u.Blocked {
		l.blocked[userPair{user, to}] = now + left
	}
}
