package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// DefaultFPS caps redraws. Meters change every 300 ms and the timer every
// second, so 15 frames a second shows every change within 67 ms of a key
// press while a call over SSH stays light (the renderer only sends the cells
// that changed, and nothing when nothing did).
const DefaultFPS = 15

// leaveTimeout bounds the hang-up Run does itself when the program ended with
// a call still up (the context was cancelled, or the user forced the quit).
const leaveTimeout = 3 * time.Second

// Options configure Run. The zero value is usable.
type Options struct {
	// LogPath is the log file's path, shown in the full help (?) so the user
	// knows where to look. Run does not open it; pass its logger as Logger.
	LogPath string
	// Hint is optional text on the idle screen, such as the demo's
	// "press a to take Alice's call, or c then echo to test your audio".
	// Lines break at "\n" and wrap to the screen's width.
	Hint string
	// Logger receives the UI's own log: call-state events, failed actions,
	// and the stack of any panic. Default: discard. Never the terminal.
	Logger *slog.Logger
	// Input and Output are the terminal. Default: stdin and stdout. A
	// server that serves the phone over SSH passes the session's.
	Input  io.Reader
	Output io.Writer
	// Environ is the terminal's environment (TERM, NO_COLOR, ...).
	// Default: os.Environ().
	Environ []string
	// Width and Height are the terminal's size in cells when Output is
	// not a terminal that can be asked (an SSH session's channel, a
	// virtual terminal). A real terminal's own size always wins. Default:
	// 80x24, so such an Output gets a screen rather than nothing.
	Width, Height int
	// FPS caps redraws per second. Default: DefaultFPS.
	FPS int
	// ActionTimeout bounds each engine action. Default: 20 s.
	ActionTimeout time.Duration
	// Sound says where the microphone and speaker are when that is not
	// simply the user's own machine (an SSH session, a PULSE_SERVER).
	// Zero: nothing is shown.
	Sound SoundNote
}

// SoundNote is where the sound is, in words: Where for the header ("sound:
// on devbox"), Help for the full help (?), such as how to bring the sound
// of an SSH session to the user's desk.
type SoundNote struct {
	Where, Help string
}

// Run shows the phone on the terminal until the user quits, ctx is
// cancelled, or a fatal error. It owns the terminal meanwhile: callers must
// not write to stdout or stderr until it returns.
//
// On a normal quit Run returns nil; after the kicked-offline, ticket-expired
// or engine-stopped screen it returns ErrKickedOffline, ErrUserSigExpired or
// ErrEngineStopped; when ctx is cancelled, ctx.Err(). A panic inside the UI
// restores the terminal and returns an error wrapping ErrInternal (the stack
// goes to Logger). If the program ends while a call is still up, Run hangs it
// up before returning. Run does not close the phone.
func Run(ctx context.Context, phone Phone, opts Options) error {
	return run(ctx, phone, opts)
}

// run is Run with extra program options, for tests (fixed window size,
// colour profile, no signal handler).
func run(ctx context.Context, phone Phone, opts Options, extra ...tea.ProgramOption) error {
	if phone == nil {
		return errors.New("tui: no phone to show: create the engine first")
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends actions still in flight once the program is gone
	return runModel(ctx, phone, newModel(ctx, phone, opts), opts, extra...)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	if o.FPS <= 0 {
		o.FPS = DefaultFPS
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = defaultWidth, defaultHeight
	}
	return o
}

// phoneModel is a model that is, or wraps, the phone's Model; tests wrap it
// to inject faults.
type phoneModel interface {
	tea.Model
	phoneState() *Model
}

func (m *Model) phoneState() *Model { return m }

// runModel runs the program around model with the bridge from the phone's
// events, and turns how it ended into Run's result.
func runModel(ctx context.Context, phone Phone, model phoneModel, opts Options, extra ...tea.ProgramOption) error {
	// Update logs; the writing happens elsewhere so a slow log file cannot
	// freeze the UI. Flushed when Run returns.
	logger, closeLog := newAsyncLogger(opts.Logger)
	defer closeLog()
	opts.Logger = logger
	model.phoneState().logger = logger
	safe := &safeModel{inner: model, logger: logger, logPath: opts.LogPath}
	progOpts := []tea.ProgramOption{
		tea.WithContext(ctx),
		tea.WithFPS(opts.FPS),
		tea.WithFilter(quitFilter),
		// Without it a non-terminal Output is never drawn on; a terminal
		// replaces it with its real size.
		tea.WithWindowSize(opts.Width, opts.Height),
	}
	if opts.Input != nil {
		progOpts = append(progOpts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		progOpts = append(progOpts, tea.WithOutput(opts.Output))
	}
	if opts.Environ != nil {
		progOpts = append(progOpts, tea.WithEnvironment(opts.Environ))
	}
	p := tea.NewProgram(safe, append(progOpts, extra...)...)
	safe.send = p.Send

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bridge(phone.Events(), done, p.Send)
	}()

	final, err := runProgram(p, opts.Logger)
	close(done)
	wg.Wait()

	if s, ok := final.(*safeModel); ok {
		safe = s
	}
	var m *Model
	if pm, ok := safe.inner.(phoneModel); ok {
		m = pm.phoneState()
		hangUpLeftover(ctx, phone, m, opts.Logger)
	}
	switch {
	case safe.fatal != nil:
		return safe.fatal
	case errors.Is(err, tea.ErrProgramPanic):
		return fmt.Errorf("%w: the program crashed (details in %s)", ErrInternal, logName(opts.LogPath))
	case err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled):
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("tui: %w", err)
	}
	if m != nil {
		return m.exitErr
	}
	return nil
}

// runProgram runs p, turning a panic that escapes Bubble Tea's own handling
// into an error after restoring the terminal.
func runProgram(p *tea.Program, logger *slog.Logger) (final tea.Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.Kill() // restores the terminal
			logger.Error("tui: panic", "panic", fmt.Sprint(r))
			err = fmt.Errorf("%w: %v", ErrInternal, r)
		}
	}()
	return p.Run()
}

// hangUpLeftover hangs up a call the program left behind, so quitting never
// leaves the other side talking to nobody.
func hangUpLeftover(ctx context.Context, phone Phone, m *Model, logger *slog.Logger) {
	if m.call == nil || !m.state.active() {
		return
	}
	// The caller's context may be the reason we are leaving; the hang-up
	// still deserves its short chance.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
	defer cancel()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		if m.state == stateIncoming {
			err = phone.Reject(hctx)
		} else {
			err = phone.Hangup(hctx)
		}
	}()
	logger.Info("tui: hung up on exit", "state", m.state.String(), "err", err)
}

// quitFilter turns quit requests from outside the model (SIGTERM, SIGINT on
// a non-terminal input) into quitSignalMsg until the model has decided to
// leave, so a call is hung up before the program exits.
func quitFilter(model tea.Model, msg tea.Msg) tea.Msg {
	switch msg.(type) {
	case tea.QuitMsg, tea.InterruptMsg:
		s, ok := model.(*safeModel)
		if !ok || s.fatal != nil {
			return tea.QuitMsg{}
		}
		if q, ok := s.inner.(interface{ quitReady() bool }); ok && !q.quitReady() {
			return quitSignalMsg{}
		}
		return tea.QuitMsg{}
	}
	return msg
}

func logName(p string) string {
	if p == "" {
		return "the log"
	}
	return p
}

// Interface checks.
var (
	_ tea.Model = (*Model)(nil)
	_ tea.Model = (*safeModel)(nil)
)
