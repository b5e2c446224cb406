package tui

import (
	"context"
	"log/slog"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// Timings of the UI itself.
const (
	// defaultActionTimeout bounds one engine action, so a stuck engine shows
	// an error instead of a call that never connects.
	defaultActionTimeout = 20 * time.Second
	// ringEvery is how often the terminal bell rings for an incoming call.
	ringEvery = 3 * time.Second
	// enterGuardTime: how long enter does not accept a call that interrupted
	// typing (see Model.enterGuard).
	enterGuardTime = 1500 * time.Millisecond
)

// Messages the model sends itself.
type (
	// clockTickMsg redraws the call timer once a second.
	clockTickMsg struct{}
	// ringMsg rings the bell again while the same incoming call still rings.
	ringMsg struct{ gen int }
	// engineStoppedMsg: the engine closed its event stream.
	engineStoppedMsg struct{}
	// quitSignalMsg: SIGTERM or SIGINT arrived; leave cleanly without asking.
	quitSignalMsg struct{}
)

// statusLine is the one-line message above the help bar: the last outcome
// worth telling (an error, a call that was not answered).
type statusLine struct {
	text  string
	level logLevel
}

// Model is the phone's Bubble Tea model: one model, routed by call state.
// It is driven by key presses, engine events (the structs of package engine,
// taken as messages as they are) and the results of its own actions.
type Model struct {
	phone         Phone
	keys          KeyMap
	styles        Styles
	help          help.Model
	logger        *slog.Logger
	now           func() time.Time
	after         func(d time.Duration, msg tea.Msg) tea.Cmd // timers; tests record them instead
	ctx           context.Context                            // parent of every action's context
	actionTimeout time.Duration
	logPath, hint string
	sound         SoundNote

	width, height int

	// Header.
	user, server  string
	maxCallSize   int // the server's, from the login reply
	conn          engine.ConnState
	devicesKnown  bool
	mic, speaker  string
	audioWarning  string
	voice         engine.VoiceProcessing
	muted         bool
	muteSeq       int
	mutePending   bool
	muteRequested bool

	state  callState
	call   *session // nil when idle
	seq    int      // the last session's seq
	recent []recentCall
	log    eventLog
	status statusLine

	prompt *prompt
	stash  string // what a dial prompt held when an incoming call closed it
	// enterGuard: until then enter does not accept, because the incoming
	// call closed a prompt the user was typing into and their enter was
	// meant for the prompt. a still accepts.
	enterGuard time.Time
	confirm    bool // "hang up and quit?" is asked
	showHelp   bool
	quitting   bool  // leaving: hanging up first, or tea.Quit already sent
	sigExpired bool  // the ticket expired during a call: show the screen when it ends
	exitErr    error // what Run returns after the user quits

	ticking bool // a clock tick is scheduled
	ringGen int
}

// newModel builds the model from Run's options.
func newModel(ctx context.Context, phone Phone, opts Options) *Model {
	m := &Model{
		phone:         phone,
		keys:          DefaultKeyMap(),
		styles:        DefaultStyles(),
		help:          help.New(),
		logger:        opts.Logger,
		now:           time.Now,
		after:         tickAfter,
		ctx:           ctx,
		actionTimeout: opts.ActionTimeout,
		logPath:       opts.LogPath,
		hint:          cleanLines(opts.Hint),
		sound:         SoundNote{Where: clean(opts.Sound.Where), Help: cleanLines(opts.Sound.Help)},
		user:          clean(phone.UserID()),
		server:        clean(phone.ServerURL()),
		maxCallSize:   phone.MaxCallSize(),
		conn:          engine.ConnConnecting,
	}
	if m.logger == nil {
		m.logger = discardLogger()
	}
	if m.actionTimeout <= 0 {
		m.actionTimeout = defaultActionTimeout
	}
	m.help.Styles = m.styles.Help
	m.help.ShortSeparator = " · "
	return m
}

// tickAfter delivers msg after d.
func tickAfter(d time.Duration, msg tea.Msg) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return msg })
}

// Init implements tea.Model. Engine events arrive through the bridge; there
// is nothing to start.
func (m *Model) Init() tea.Cmd { return nil }

// Update implements tea.Model. It never blocks and never does I/O: engine
// actions are returned as commands.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tea.KeyPressMsg:
		return m, m.onKey(msg)
	case tea.PasteMsg:
		if m.prompt != nil {
			return m, m.prompt.update(msg)
		}
		return m, nil
	case clockTickMsg:
		m.ticking = false
		return m, m.ensureTicking()
	case ringMsg:
		return m, m.onRing(msg)
	case actionResultMsg:
		return m, m.onResult(msg)
	case engineStoppedMsg:
		m.onEngineStopped()
		return m, nil
	case quitSignalMsg:
		return m, m.leave()
	case engine.Event:
		return m, m.onEvent(msg)
	}
	return m, nil
}

// quitReady reports whether a tea.Quit may pass: the model has decided to
// leave. Until then the program's quit signals are turned into quitSignalMsg,
// so a SIGTERM hangs up the call first.
func (m *Model) quitReady() bool { return m.quitting }

// mode is the current key mode.
func (m *Model) mode() keyMode {
	switch {
	case m.confirm:
		return modeConfirm
	case m.prompt != nil:
		return modePrompt
	case m.showHelp:
		return modeHelp
	}
	return modeNormal
}

// activeKeys is the key map for the current state and mode.
func (m *Model) activeKeys() KeyMap {
	label := mediaLabel("video")
	if m.call != nil && m.call.media == engine.MediaVideo {
		label = "voice"
	}
	return m.keys.forState(m.state, m.mode(), m.muted, label, m.prompt != nil && m.prompt.kind == promptInvite)
}

// setState moves to s, closing what belonged to the old screen.
func (m *Model) setState(s callState) {
	if s == m.state {
		return
	}
	m.state = s
	m.showHelp = false
	if m.prompt != nil {
		if m.prompt.kind == promptDial {
			m.stash = m.prompt.input.Value()
		}
		m.prompt = nil
	}
	if !s.active() {
		m.confirm = false
	}
}

// endCall records the current call in the recent list and returns to idle
// (or to the expired screen when the ticket ran out during the call).
func (m *Model) endCall(o outcome, talk time.Duration) {
	if m.call == nil {
		return
	}
	m.addRecentFor(m.call, o, talk)
	m.call = nil
	m.ringGen++
	if m.sigExpired {
		m.setState(stateSigExpired)
		return
	}
	m.setState(stateIdle)
}

func (m *Model) talkTime() time.Duration {
	if m.call == nil || m.call.connected.IsZero() {
		return 0
	}
	return m.now().Sub(m.call.connected)
}

func (m *Model) addRecentFor(c *session, o outcome, talk time.Duration) {
	m.addRecent(recentCall{at: c.started, dir: c.dir, peers: c.peerIDs(), media: c.media, outcome: o, duration: talk})
}

func (m *Model) addRecent(r recentCall) {
	if len(m.recent) == maxRecent {
		m.recent = m.recent[1:]
	}
	m.recent = append(m.recent, r)
}

func (m *Model) addLog(level logLevel, text string) {
	m.log.add(m.now(), level, text)
	m.logger.Info("call log", "text", text)
}

func (m *Model) setStatus(level logLevel, text string) {
	m.status = statusLine{text: text, level: level}
}

// ensureTicking schedules the next call-timer tick on the next whole second
// of the shown time, while a timer is on screen.
func (m *Model) ensureTicking() tea.Cmd {
	if m.ticking || m.call == nil || !m.state.active() {
		return nil
	}
	base := m.call.started
	if !m.call.connected.IsZero() {
		base = m.call.connected
	}
	elapsed := m.now().Sub(base)
	d := time.Second - elapsed%time.Second
	if elapsed < 0 {
		d = time.Second
	}
	m.ticking = true
	return m.after(d, clockTickMsg{})
}
