package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Headless mode: the engine driven by lines on stdin, reporting on stdout one
// JSON object per line and nothing else (logs go elsewhere):
//
//	{"event":"onCallBegin", ...}                  every event
//	{"response":"call","ok":true}                 every command's outcome
//	{"response":"call","ok":false,"code":N,"message":"..."}
//	{"response":"login","ok":true,"userId":"ID"}  first, after logging in
//
// See ParseCommand for the commands. EOF on stdin means quit. The session
// ends by itself after onKickedOffline or onUserSigExpired: it cannot go on
// without a new userSig.

// ErrSessionEnded is returned by RunHeadless when the server ended the
// session (kicked offline, ticket expired).
var ErrSessionEnded = errors.New("the session ended: kicked offline or userSig expired")

// headlessReply is one {"response":...} line.
type headlessReply struct {
	Response string `json:"response"`
	OK       bool   `json:"ok"`
	Code     int    `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	UserID   string `json:"userId,omitempty"`
}

// lineWriter writes whole lines, one at a time, from several goroutines.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (l *lineWriter) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	b = append(b, '\n')
	_, l.err = l.w.Write(b)
}

func (l *lineWriter) reply(r headlessReply) {
	b, _ := json.Marshal(r)
	l.write(b)
}

func replyFor(name string, err error) headlessReply {
	if err == nil {
		return headlessReply{Response: name, OK: true}
	}
	e := wrapError(name, err)
	return headlessReply{Response: name, OK: false, Code: e.Code, Message: e.Message}
}

// RunHeadless logs e in, then runs commands from in and reports on out
// until quit, EOF, ctx ends or the server ends the session. It closes e
// (hanging up any call) before it returns. A failed login is reported on out
// and returned. The goroutine reading in ends when in does (EOF or error).
func RunHeadless(ctx context.Context, e *Engine, in io.Reader, out io.Writer) error {
	w := &lineWriter{w: out}
	defer e.Close()

	// Events flow from the start: device and connection state come first.
	ended := make(chan struct{})
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		var once sync.Once
		for ev := range e.Events() {
			b, err := MarshalEvent(ev)
			if err != nil {
				continue
			}
			w.write(b)
			switch ev.(type) {
			case KickedOffline, UserSigExpired:
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
	w.reply(headlessReply{Response: "login", OK: true, UserID: e.UserID()})

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
					w.reply(headlessReply{Response: "quit", OK: false, Code: CodeInvalid, Message: "reading commands: " + err.Error()})
				}
				break loop
			}
			cmd, err := ParseCommand(line)
			if errors.Is(err, ErrEmptyCommand) {
				continue
			}
			if err != nil {
				w.reply(headlessReply{Response: cmd.Name, OK: false, Code: CodeInvalid, Message: err.Error()})
				continue
			}
			if cmd.Name == "quit" {
				w.reply(headlessReply{Response: "quit", OK: true})
				break loop
			}
			w.reply(replyFor(cmd.Name, runCommand(ctx, e, cmd)))
		}
	}
	finish()
	if w.err != nil && result == nil {
		result = fmt.Errorf("writing to stdout: %w", w.err)
	}
	return result
}

// runCommand carries out one parsed command.
func runCommand(ctx context.Context, e *Engine, c Command) error {
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
	return invalidError("unknown command %q", c.Name)
}
