package tui

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	tea "charm.land/bubbletea/v2"
)

// fatalMsg asks the program to quit after a panic in View (which cannot
// return a command itself).
type fatalMsg struct{}

// safeModel wraps the model so that a panic in Init, Update or View never
// reaches the user as a Go stack trace over a raw-mode terminal: it is
// logged with its stack, the program quits through the normal path (which
// restores the terminal), and Run returns a short error.
type safeModel struct {
	inner   tea.Model
	logger  *slog.Logger
	logPath string
	send    func(tea.Msg) // the program's Send, for View panics
	fatal   error
}

func (s *safeModel) Init() (cmd tea.Cmd) {
	defer func() {
		if r := recover(); r != nil {
			s.fail(r)
			cmd = tea.Quit
		}
	}()
	return s.inner.Init()
}

func (s *safeModel) Update(msg tea.Msg) (out tea.Model, cmd tea.Cmd) {
	if _, ok := msg.(fatalMsg); ok {
		return s, tea.Quit
	}
	if s.fatal != nil {
		return s, nil // leaving; the model may be half-updated
	}
	defer func() {
		if r := recover(); r != nil {
			s.fail(r)
			out, cmd = s, tea.Quit
		}
	}()
	s.inner, cmd = s.inner.Update(msg)
	return s, cmd
}

func (s *safeModel) View() (v tea.View) {
	if s.fatal != nil {
		return blankView()
	}
	defer func() {
		if r := recover(); r != nil {
			s.fail(r)
			v = blankView()
			if s.send != nil {
				go s.send(fatalMsg{}) // returns once the program has ended
			}
		}
	}()
	return s.inner.View()
}

func blankView() tea.View {
	v := tea.NewView("")
	v.AltScreen = true
	return v
}

// fail records the first panic and logs it with its stack.
func (s *safeModel) fail(r any) {
	s.logger.Error("tui: panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if s.fatal == nil {
		s.fatal = fmt.Errorf("%w: %v (details in %s)", ErrInternal, r, logName(s.logPath))
	}
}
