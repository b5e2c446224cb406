// Package headless is the softphone's second front end, beside the TUI: the
// engine driven by command lines on stdin, reporting on stdout one JSON
// object per line and nothing else (logs go elsewhere):
//
//	{"response":"login","ok":true,"userId":"ID"}  first, after logging in
//	{"event":"onCallBegin", ...}                  every event
//	{"response":"call","ok":true}                 every command's outcome
//	{"response":"call","ok":false,"code":N,"message":"..."}
//
// A command's response line comes before every event the command caused
// (an onCallEnd after hangup, onUserAudioAvailable after mute): events that
// arrive while a command runs wait until its response is written. The login
// response likewise comes before every event. See ParseCommand for the
// commands. EOF on stdin means quit. The session ends by itself after
// onKickedOffline or onUserSigExpired: it cannot go on without a new
// userSig.
package headless

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"softphone/engine"
)

// ErrSessionEnded is returned by Run when the server ended the session
// (kicked offline, ticket expired).
var ErrSessionEnded = errors.New("the session ended: kicked offline or userSig expired")

// reply is one {"response":...} line.
type reply struct {
	Response string `json:"response"`
	OK       bool   `json:"ok"`
	Code     int    `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	UserID   string `json:"userId,omitempty"`
}

// output writes whole lines from the event goroutine and the command loop,
// and holds events back while a command runs, so that its response comes
// before the events it caused.
type output struct {
	mu   sync.Mutex
	cond sync.Cond
	w    io.Writer
	err  error
	busy bool // a command runs: events wait for its response
}

func newOutput(w io.Writer) *output {
	o := &output{w: w}
	o.cond.L = &o.mu
	return o
}

// writeLocked writes one line. o.mu held.
func (o *output) writeLocked(b []byte) {
	if o.err != nil {
		return
	}
	_, o.err = o.w.Write(append(b, '\n'))
}

// event writes an event line once no command is running.
func (o *output) event(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.busy {
		o.cond.Wait()
	}
	o.writeLocked(b)
}

// begin holds events back until the next reply.
func (o *output) begin() {
	o.mu.Lock()
	o.busy = true
	o.mu.Unlock()
}

// reply writes a command's response and lets the events that waited for it
// go.
func (o *output) reply(r reply) {
	b, _ := json.Marshal(r)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writeLocked(b)
	o.busy = false
	o.cond.Broadcast()
}

func (o *output) failed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// replyFor turns a command's outcome into its response line.
func replyFor(name string, err error) reply {
	if err == nil {
		return reply{Response: name, OK: true}
	}
	var ee *engine.Error
	if errors.As(err, &ee) {
		return reply{Response: name, OK: false, Code: ee.Code, Message: ee.Message}
	}
	return reply{Response: name, OK: false, Code: engine.CodeUnknownError, Message: name + ": " + err.Error()}
}

// Run logs e in, then runs commands from in and reports on out until quit,
// EOF, ctx ends or the server ends the session. It closes e (hanging up any
// call) before it returns. A failed login is reported on out and returned.
// The goroutine reading in ends when in does (EOF or error).
func Run(ctx context.Context, e *engine.Engine, in io.Reader, out io.Writer) error {
	w := newOutput(out)
	defer e.Close()

	// The login response comes first: events wait for it.
	w.begin()
	ended := make(chan struct{})
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		var once sync.Once
		for ev := range e.Events() {
			b, err := engine.MarshalEvent(ev)
			if err != nil {
				continue
			}
			w.event(b)
			switch ev.(type) {
			case engine.KickedOffline, engine.UserSigExpired:
				once.Do(func() { close(ended) })
			}
		}
	}()
	finish := func() {
		_ = e.Close()
		<-eventsDone
	}

	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := e.Login(lctx)
	cancel()
	if err != nil {
		w.reply(replyFor("login", err))
		finish()
		return err
	}
	w.reply(reply{Response: "login", OK: true, UserID: e.UserID()})
	lim := Limits{Self: e.UserID(), MaxCallSize: e.MaxCallSize()}

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 4096), maxCommandLine+1)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-eventsDone:
				return
			}
		}
		readErr <- sc.Err()
		close(lines)
	}()

	var result error
loop:
	for {
		select {
		case <-ctx.Done():
			result = ctx.Err()
			break loop
		case <-ended:
			result = ErrSessionEnded
			break loop
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					w.reply(reply{Response: "quit", OK: false, Code: engine.CodeInvalid, Message: "reading commands: " + err.Error()})
				}
				break loop
			}
			cmd, err := ParseCommand(line, lim)
			if errors.Is(err, ErrEmptyCommand) {
				continue
			}
			if err != nil {
				w.reply(reply{Response: cmd.Name, OK: false, Code: engine.CodeInvalid, Message: err.Error()})
				continue
			}
			if cmd.Name == "quit" {
				w.reply(reply{Response: "quit", OK: true})
				break loop
			}
			w.begin()
			w.reply(replyFor(cmd.Name, runCommand(ctx, e, cmd)))
		}
	}
	finish()
	if err := w.failed(); err != nil && result == nil {
		result = fmt.Errorf("writing to stdout: %w", err)
	}
	return result
}

// runCommand carries out one parsed command.
func runCommand(ctx context.Context, e *engine.Engine, c Command) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch c.Name {
	case "call":
		return e.Call(ctx, c.Users, c.Params)
	case "accept":
		return e.Accept(ctx)
	case "reject":
		return e.Reject(ctx)
	case "hangup":
		return e.Hangup(ctx)
	case "invite":
		return e.Invite(ctx, c.Users)
	case "join":
		return e.Join(ctx, c.CallID)
	case "switch":
		return e.SwitchMediaType(ctx, c.Media)
	case "mute":
		return e.SetMicMuted(true)
	case "unmute":
		return e.SetMicMuted(false)
	}
	return &engine.Error{Code: engine.CodeInvalid, Message: fmt.Sprintf("unknown command %q", c.Name)}
}
