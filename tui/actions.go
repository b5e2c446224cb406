package tui

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// actionResultMsg is what every engine action reports back to Update.
type actionResultMsg struct {
	act     action
	seq     int // the session the action was for (0: none)
	err     error
	ids     []string         // call, invite
	media   engine.MediaType // call, switch media
	muted   bool             // mute: what was asked
	muteSeq int              // mute: which press this answers
	quit    bool             // part of leaving the program
}

// runAction returns a tea.Cmd that calls the engine off the event loop, with
// a deadline, and turns the outcome (a panic included) into a result message.
// Everything the command needs is copied here: it must not touch the model,
// which belongs to the event loop.
func (m *Model) runAction(res actionResultMsg, f func(ctx context.Context) error) tea.Cmd {
	parent, timeout, logger := m.ctx, m.actionTimeout, m.logger
	return func() (msg tea.Msg) {
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				logger.Error("engine action panicked", "action", res.act.String(), "panic", fmt.Sprint(r),
					"stack", string(debug.Stack()))
				res.err = fmt.Errorf("internal error in the engine (details in the log file)")
				msg = res
			}
		}()
		start := time.Now()
		res.err = f(ctx)
		logger.Debug("engine action", "action", res.act.String(), "took", time.Since(start), "err", res.err)
		return res
	}
}

func (m *Model) callAction(seq int, ids []string, media engine.MediaType) tea.Cmd {
	phone := m.phone
	ids = append([]string(nil), ids...)
	p := engine.CallParams{MediaType: media}
	return m.runAction(actionResultMsg{act: actCall, seq: seq, ids: ids, media: media},
		func(ctx context.Context) error { return phone.Call(ctx, ids, p) })
}

func (m *Model) acceptAction(seq int) tea.Cmd {
	phone := m.phone
	return m.runAction(actionResultMsg{act: actAccept, seq: seq}, phone.Accept)
}

func (m *Model) rejectAction(seq int, quit bool) tea.Cmd {
	phone := m.phone
	return m.runAction(actionResultMsg{act: actReject, seq: seq, quit: quit}, phone.Reject)
}

func (m *Model) hangupAction(seq int, quit bool) tea.Cmd {
	phone := m.phone
	return m.runAction(actionResultMsg{act: actHangup, seq: seq, quit: quit}, phone.Hangup)
}

func (m *Model) inviteAction(seq int, ids []string) tea.Cmd {
	phone := m.phone
	ids = append([]string(nil), ids...)
	return m.runAction(actionResultMsg{act: actInvite, seq: seq, ids: ids},
		func(ctx context.Context) error { return phone.Invite(ctx, ids) })
}

func (m *Model) switchMediaAction(seq int, t engine.MediaType) tea.Cmd {
	phone := m.phone
	return m.runAction(actionResultMsg{act: actSwitchMedia, seq: seq, media: t},
		func(ctx context.Context) error { return phone.SwitchMediaType(ctx, t) })
}

func (m *Model) muteAction(muted bool, muteSeq int) tea.Cmd {
	phone := m.phone
	return m.runAction(actionResultMsg{act: actMute, muted: muted, muteSeq: muteSeq},
		func(context.Context) error { return phone.SetMicMuted(muted) })
}

// discardLogger is the default: the UI never writes logs to the terminal.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
