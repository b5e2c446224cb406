// Package bots runs softphone users played by the program itself: the
// demo's echo test and its caller, alice. Each is a whole engine.Engine,
// logged in over the same WebSocket and WebRTC path as a person's
// softphone, so what a user sees with a bot is what they would see with a
// friend. A bot never plays audio (its speaker is "none") and logs only to
// its Config.Logger.
package bots

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"softphone/engine"
)

// Default timings of a caller bot (CallerParams).
const (
	DefaultFirstCall = 3 * time.Second
	DefaultCallAgain = time.Minute
	DefaultRetry     = 5 * time.Second
)

// callerPitch is the caller bot's voice: babble around 330 Hz (E4), apart
// from the ringtones (400–480 Hz) and the tones tests give people (440,
// 660 Hz).
const callerPitch = 330

// Bot is a running bot. Close it to log it out and stop its goroutines.
type Bot struct {
	e      *engine.Engine
	log    *slog.Logger
	ctx    context.Context // ends with Close: aborts an action in flight
	cancel context.CancelFunc
	done   chan struct{} // closed when the bot's loop has ended

	closeOnce sync.Once
	closeErr  error
}

// EchoParams configure an echo bot.
type EchoParams struct {
	// Bots are the user ids of the other bots on the server. The echo bot
	// leaves a call in which only bots remain, so that once the people
	// have hung up, two bots do not keep talking to each other (and stay
	// busy) forever.
	Bots []string
}

// StartEcho logs in the echo test: it answers every call at once and
// its microphone plays back what it hears, audio.EchoDelay (0.5 s) later,
// so a caller hears their own voice and can judge mic, speaker and the path
// between. cfg gives the server, the login and the logger; its Mic, Speaker
// and AutoAnswer are set here. ctx bounds the login only.
func StartEcho(ctx context.Context, cfg engine.Config, p EchoParams) (*Bot, error) {
	cfg.Mic, cfg.Speaker, cfg.AutoAnswer = "echo", "none", true
	b, err := startBot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(b.done)
		// Auto-answer does the work; the loop only watches who is left.
		company := newCompany(p.Bots)
		for ev := range b.e.Events() {
			if company.onlyBotsLeft(ev) {
				b.leave("echo")
			}
		}
	}()
	return b, nil
}

// company follows who else is in the bot's call, to tell when only bots
// remain.
type company struct {
	bots    map[string]bool
	remotes map[string]bool
}

func newCompany(bots []string) *company {
	c := &company{bots: map[string]bool{}, remotes: map[string]bool{}}
	for _, b := range bots {
		c.bots[b] = true
	}
	return c
}

// onlyBotsLeft takes the bot's next event and reports whether someone just
// left a call in which now only bots remain.
func (c *company) onlyBotsLeft(ev engine.Event) bool {
	switch v := ev.(type) {
	case engine.CallReceived, engine.CallBegin, engine.CallEnd, engine.CallCancelled:
		clear(c.remotes) // a new call, or none
	case engine.UserJoin:
		c.remotes[v.UserID] = true
	case engine.UserLeave:
		delete(c.remotes, v.UserID)
		if len(c.remotes) == 0 {
			return false // the call ends by itself
		}
		for id := range c.remotes {
			if !c.bots[id] {
				return false
			}
		}
		return true
	}
	return false
}

// leave hangs up the bot's call.
func (b *Bot) leave(who string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := b.e.Hangup(ctx); err != nil && b.ctx.Err() == nil {
		b.log.Warn("bot: could not leave a call of bots", "bot", who, "err", err)
		return
	}
	b.log.Info("bot: only bots were left in the call; left it", "bot", who)
}

// CallerParams say whom a caller bot rings and when. Zero fields take the
// defaults named on them.
type CallerParams struct {
	// Callee is the user the bot calls. Required.
	Callee string
	// FirstCall is the wait from the start to the first call
	// (DefaultFirstCall, 3 s).
	FirstCall time.Duration
	// Again is the pause after each call ends, however it ended (answered
	// and hung up, rejected, not answered, busy), before the next one
	// (DefaultCallAgain, 1 min).
	Again time.Duration
	// Retry is the pause after a call that could not ring: the callee was
	// not logged in, or the server could not be reached (DefaultRetry,
	// 5 s), so a user who logs in late is called soon.
	Retry time.Duration
	// Ring is how long each call rings before it counts as not answered;
	// 0 takes the server's invite timeout (30 s by default).
	Ring time.Duration
	// UserData is the note shown to the callee with each call.
	UserData string
	// Bots are the user ids of the other bots (see EchoParams.Bots).
	Bots []string
}

func (p CallerParams) withDefaults() CallerParams {
	if p.FirstCall <= 0 {
		p.FirstCall = DefaultFirstCall
	}
	if p.Again <= 0 {
		p.Again = DefaultCallAgain
	}
	if p.Retry <= 0 {
		p.Retry = DefaultRetry
	}
	return p
}

// StartCaller logs in a bot that calls p.Callee p.FirstCall after the
// start and again p.Again after each call ends. Its microphone is cfg.Mic,
// or when that is empty a speech-like babble of tones around 330 Hz, so the
// callee sees the meters rise and fall as with a person talking. It also
// answers whoever calls it. cfg gives the server, the login and the logger;
// its Speaker and AutoAnswer are set here. ctx bounds the login only.
func StartCaller(ctx context.Context, cfg engine.Config, p CallerParams) (*Bot, error) {
	p = p.withDefaults()
	if p.Callee == "" {
		return nil, errors.New("caller bot: name the user to call")
	}
	if p.Callee == cfg.UserID {
		return nil, fmt.Errorf("caller bot %s: it cannot call itself", cfg.UserID)
	}
	if cfg.Mic == "" {
		path, err := writeBotVoice(callerPitch)
		if err != nil {
			return nil, err
		}
		defer os.Remove(path) // the pipeline has read it all once New returns
		cfg.Mic = "wav:" + path
	}
	cfg.Speaker, cfg.AutoAnswer = "none", true
	b, err := startBot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	go b.callLoop(p)
	return b, nil
}

func startBot(ctx context.Context, cfg engine.Config) (*Bot, error) {
	e, err := engine.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("bot %s: %w", cfg.UserID, err)
	}
	if err := e.Login(ctx); err != nil {
		drained := make(chan struct{})
		go func() { // Close waits for the stream to be read out
			defer close(drained)
			for range e.Events() {
			}
		}()
		_ = e.Close()
		<-drained
		return nil, fmt.Errorf("bot %s: %w", cfg.UserID, err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("user", cfg.UserID)
	return &Bot{e: e, log: log, ctx: bctx, cancel: cancel, done: make(chan struct{})}, nil
}

// Engine is the bot's engine, for tests and diagnostics. Do not close it;
// close the bot.
func (b *Bot) Engine() *engine.Engine { return b.e }

// Close hangs up the bot's call, logs it out and waits for its goroutines.
// It is safe to call more than once.
func (b *Bot) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.closeErr = b.e.Close()
		<-b.done // the loop ends when Close has closed the event stream
	})
	return b.closeErr
}

// callLoop is the caller bot: a timer for the next call, re-armed from the
// events that end each call. It never has more than one call: a timer that
// fires during a call (someone called the bot) waits for that call's end.
func (b *Bot) callLoop(p CallerParams) {
	defer close(b.done)
	log := b.log.With("bot", "caller", "callee", p.Callee)
	timer := time.NewTimer(p.FirstCall)
	defer timer.Stop()
	inCall := false      // ringing or talking, as caller or callee
	next := p.Again      // pause after the current call ends
	sessionOver := false // kicked or ticket expired: no more calls
	company := newCompany(p.Bots)
	events := b.e.Events()
	for {
		select {
		case <-timer.C:
			if inCall || sessionOver {
				continue // the end of the call re-arms the timer
			}
			err := b.e.Call(b.ctx, []string{p.Callee}, engine.CallParams{Timeout: p.Ring, UserData: p.UserData})
			switch {
			case err == nil:
				inCall, next = true, p.Again
				log.Info("bot: calling")
			case b.ctx.Err() != nil:
				// Closing: the events stream ends next.
			default:
				// Not logged in (reconnecting), or a call came in just
				// now (then its end re-arms the timer again).
				log.Info("bot: could not call; trying again", "err", err, "in", p.Retry)
				timer.Reset(p.Retry)
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			if company.onlyBotsLeft(ev) {
				b.leave("caller") // its engine.CallEnd re-arms the timer
			}
			switch v := ev.(type) {
			case engine.CallReceived, engine.CallBegin:
				inCall = true
			case engine.UserNoResponse:
				if v.Reason == "offline" {
					next = p.Retry
				}
			case engine.CallEnd, engine.CallCancelled:
				inCall = false
				if !sessionOver {
					log.Info("bot: call over; next call", "in", next)
					timer.Reset(next)
				}
				next = p.Again
			case engine.KickedOffline, engine.UserSigExpired:
				log.Warn("bot: the server ended the session; no more calls", "event", ev.EventName())
				sessionOver = true
				timer.Stop()
			}
		}
	}
}
