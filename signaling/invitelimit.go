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

// check says whether caller may invite callees now, changing nothing.
func (l *inviteLimiter) check(now int64, lim *InviteLimits, caller string, callees []string) *Error {
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
		if lim.PerCallee > 0 && get(l.callee, to, now, lim.PerCallee).tokens < 1 {
			return inviteLimited("%s was rung too often within a minute: try again later", to)
		}
	}
	return nil
}

// take charges the invitations that check allowed.
func (l *inviteLimiter) take(now int64, lim *InviteLimits, caller string, callees []string) {
	if lim.PerCaller > 0 {
		get(l.caller, caller, now, lim.PerCaller).tokens -= float64(len(callees))
	}
	for _, to := range callees {
		if lim.PerPair > 0 {
			get(l.pair, userPair{caller, to}, now, lim.PerPair).tokens--
		}
		if lim.PerCallee > 0 {
			get(l.callee, to, now, lim.PerCallee).tokens--
		}
	}
}

// answered gives back what the invitation of callee by caller took.
func (l *inviteLimiter) answered(lim *InviteLimits, caller, callee string) {
	refund := func(b *bucket, perMinute int) {
		if b != nil {
			b.tokens = min(b.tokens+1, float64(perMinute))
		}
	}
	refund(l.caller[caller], lim.PerCaller)
	refund(l.pair[userPair{caller, callee}], lim.PerPair)
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
