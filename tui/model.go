package tui

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
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

	width, height int

	// Header.
	user, server  string
	conn          engine.ConnState
	devicesKnown  bool
	mic, speaker  string
	audioWarning  string
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
		hint:          clean(opts.Hint),
		user:          clean(phone.UserID()),
		server:        clean(phone.ServerURL()),
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

// ---- keys ------------------------------------------------------------------

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	keys := m.activeKeys()
	switch m.mode() {
	case modeConfirm:
		switch {
		case key.Matches(k, keys.Yes):
			m.confirm = false
			return m.leave()
		case key.Matches(k, keys.No):
			m.confirm = false
		}
		return nil
	case modePrompt:
		switch {
		case key.Matches(k, keys.ForceQuit):
			return m.requestQuit()
		case key.Matches(k, keys.Cancel):
			m.prompt = nil
			m.stash = ""
		case key.Matches(k, keys.ToggleMedia):
			m.prompt.toggleMedia()
		case key.Matches(k, keys.Submit):
			return m.submitPrompt()
		default:
			return m.prompt.update(k)
		}
		return nil
	}
	switch {
	case key.Matches(k, keys.Cancel): // only enabled on the help screen
		m.showHelp = false
	case key.Matches(k, keys.Help):
		m.showHelp = !m.showHelp
	case key.Matches(k, keys.Quit):
		return m.requestQuit()
	case key.Matches(k, keys.Call):
		m.openPrompt(promptDial)
	case key.Matches(k, keys.Accept):
		if k.String() == "enter" && m.now().Before(m.enterGuard) {
			return nil
		}
		return m.accept()
	case key.Matches(k, keys.Reject):
		return m.reject()
	case key.Matches(k, keys.Hangup):
		if m.state == stateIncoming {
			return m.reject()
		}
		return m.hangup()
	case key.Matches(k, keys.Mute):
		return m.toggleMute()
	case key.Matches(k, keys.Invite):
		m.openPrompt(promptInvite)
	case key.Matches(k, keys.Media):
		return m.switchMedia()
	}
	return nil
}

func (m *Model) openPrompt(kind promptKind) {
	m.showHelp = false
	if kind == promptDial {
		m.prompt = newPrompt(kind, m.stash, engine.MediaVoice)
		return
	}
	m.prompt = newPrompt(kind, "", engine.MediaVoice)
}

// submitPrompt places the call or sends the invitations typed into the
// prompt. Mistakes keep the prompt open with the text and say what to fix.
func (m *Model) submitPrompt() tea.Cmd {
	p := m.prompt
	req, err := parseDial(p.input.Value(), m.user)
	if err != nil {
		p.err = err.Error()
		return nil
	}
	if p.kind == promptInvite {
		return m.submitInvite(req)
	}
	media := p.media
	if req.mediaSet {
		media = req.media
	}
	m.prompt, m.stash = nil, ""
	m.seq++
	c := &session{seq: m.seq, dir: dirOutgoing, media: media, role: engine.RoleCaller, started: m.now()}
	for _, id := range req.ids {
		c.addPeer(id, peerCalling)
	}
	m.call = c
	m.status = statusLine{}
	m.setState(stateOutgoing)
	m.addLog(levelInfo, fmt.Sprintf("calling %s (%s)", joinIDs(req.ids), media))
	return tea.Batch(m.callAction(c.seq, req.ids, media), m.ensureTicking())
}

func (m *Model) submitInvite(req dialRequest) tea.Cmd {
	p, c := m.prompt, m.call
	if c == nil || m.state != stateInCall {
		m.prompt = nil
		return nil
	}
	if req.mediaSet {
		p.err = "the media type belongs to the whole call: press v in the call to switch"
		return nil
	}
	for _, id := range req.ids {
		if q := c.peer(id); q != nil && (q.status == peerJoined || q.status.pending()) {
			p.err = id + " is already in this call"
			return nil
		}
	}
	if room := maxCallSize - 1 - c.countActive(); len(req.ids) > room {
		p.err = fmt.Sprintf("a call holds at most %d people: room for %d more", maxCallSize, max(room, 0))
		return nil
	}
	m.prompt = nil
	for _, id := range req.ids {
		q := c.addPeer(id, peerCalling)
		q.status = peerCalling
	}
	m.addLog(levelInfo, "inviting "+joinIDs(req.ids))
	return m.inviteAction(c.seq, req.ids)
}

func (m *Model) accept() tea.Cmd {
	c := m.call
	if m.state != stateIncoming || c == nil || c.accepting || c.rejecting {
		return nil
	}
	c.accepting = true
	m.ringGen++ // stop ringing: the answer is on its way
	return m.acceptAction(c.seq)
}

func (m *Model) reject() tea.Cmd {
	c := m.call
	if m.state != stateIncoming || c == nil || c.rejecting {
		return nil
	}
	c.rejecting = true
	m.ringGen++
	return m.rejectAction(c.seq, false)
}

func (m *Model) hangup() tea.Cmd {
	c := m.call
	if (m.state != stateOutgoing && m.state != stateInCall) || c == nil || c.hangingUp {
		return nil
	}
	c.hangingUp = true
	return m.hangupAction(c.seq, false)
}

func (m *Model) toggleMute() tea.Cmd {
	want := !m.muted
	if m.mutePending {
		want = !m.muteRequested
	}
	m.muteSeq++
	m.mutePending, m.muteRequested = true, want
	return m.muteAction(want, m.muteSeq)
}

func (m *Model) switchMedia() tea.Cmd {
	c := m.call
	if m.state != stateInCall || c == nil {
		return nil
	}
	to := engine.MediaVideo
	if c.media == engine.MediaVideo {
		to = engine.MediaVoice
	}
	m.setStatus(levelInfo, "switching to "+to.String()+"…")
	return m.switchMediaAction(c.seq, to)
}

// requestQuit is q or ctrl+c: leave at once when no call is up, ask first
// when one is. Pressed again while already leaving, it leaves now.
func (m *Model) requestQuit() tea.Cmd {
	if m.quitting {
		return tea.Quit
	}
	m.prompt = nil
	if m.state.active() {
		m.confirm = true
		return nil
	}
	m.quitting = true
	return tea.Quit
}

// leave ends the program cleanly: a ringing call is rejected, an outgoing or
// connected call hung up, and the program quits once the engine has answered
// (or the action's deadline passed).
func (m *Model) leave() tea.Cmd {
	if m.quitting {
		return tea.Quit
	}
	m.quitting = true
	m.prompt, m.confirm, m.showHelp = nil, false, false
	c := m.call
	switch {
	case c != nil && m.state == stateIncoming:
		c.rejecting = true
		m.setStatus(levelInfo, "rejecting the call, then quitting…")
		return m.rejectAction(c.seq, true)
	case c != nil && (m.state == stateOutgoing || m.state == stateInCall):
		c.hangingUp = true
		m.setStatus(levelInfo, "hanging up, then quitting…")
		return m.hangupAction(c.seq, true)
	}
	return tea.Quit
}

// ---- action results --------------------------------------------------------

func (m *Model) onResult(r actionResultMsg) tea.Cmd {
	if r.err != nil {
		m.logger.Warn("engine action failed", "action", r.act.String(), "err", r.err)
	}
	m.applyResult(r)
	if r.quit {
		// Leave even if the hang-up failed; Run tries once more on the
		// way out for a call that is still up.
		return tea.Quit
	}
	return nil
}

// applyResult updates the model with what the engine answered.
func (m *Model) applyResult(r actionResultMsg) {
	c := m.call
	same := c != nil && c.seq == r.seq
	switch r.act {
	case actCall:
		if r.err != nil {
			m.addLog(levelError, "call failed: "+clean(r.err.Error()))
			if same && m.state == stateOutgoing {
				m.endCall(outcomeFailed, 0)
				m.setStatus(levelError, "Call failed: "+clean(r.err.Error()))
			}
			return
		}
		if same {
			for _, p := range c.peers {
				if p.status == peerCalling {
					p.status = peerRinging
				}
			}
		}
	case actInvite:
		if r.err != nil {
			m.addLog(levelError, "invite failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not invite "+joinIDs(r.ids)+": "+clean(r.err.Error()))
		}
		if !same {
			return
		}
		for _, id := range r.ids {
			p := c.peer(id)
			switch {
			case p == nil || p.status != peerCalling:
			case r.err != nil:
				c.removePeer(id)
			default:
				p.status = peerRinging
			}
		}
	case actAccept:
		if r.err != nil {
			if same {
				c.accepting = false
			}
			m.addLog(levelError, "accept failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not accept: "+clean(r.err.Error()))
		}
	case actReject:
		if r.err != nil {
			if same {
				c.rejecting = false
			}
			m.addLog(levelError, "reject failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not reject: "+clean(r.err.Error()))
			return
		}
		// The engine's onCallCancelled may come later or not at all; the
		// call is over for this user now.
		if same && m.state == stateIncoming {
			m.addLog(levelInfo, "you rejected the call from "+c.caller)
			m.endCall(outcomeRejected, 0)
		}
	case actHangup:
		if r.err != nil {
			if same {
				c.hangingUp = false
			}
			m.addLog(levelError, "hang up failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not hang up: "+clean(r.err.Error()))
			return
		}
		if same && (m.state == stateOutgoing || m.state == stateInCall) {
			if c.connected.IsZero() {
				m.addLog(levelInfo, "you cancelled the call")
				m.endCall(outcomeCancelled, 0)
			} else {
				d := m.now().Sub(c.connected)
				m.addLog(levelInfo, "you hung up after "+clock(d))
				m.endCall(outcomeCompleted, d)
			}
		}
	case actSwitchMedia:
		if r.err != nil {
			m.addLog(levelError, "switch to "+r.media.String()+" failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not switch to "+r.media.String()+": "+clean(r.err.Error()))
			return
		}
		m.status = statusLine{}
		if same && c.media != r.media {
			c.media = r.media
			m.addLog(levelInfo, "call switched to "+r.media.String())
		}
	case actMute:
		if r.muteSeq != m.muteSeq {
			return // a later press is on its way; its answer decides
		}
		m.mutePending = false
		if r.err != nil {
			m.addLog(levelError, "mute failed: "+clean(r.err.Error()))
			m.setStatus(levelError, "Could not change the microphone: "+clean(r.err.Error()))
			return
		}
		m.muted = r.muted
		if m.muted {
			m.addLog(levelInfo, "you muted your microphone")
		} else {
			m.addLog(levelInfo, "you unmuted your microphone")
		}
	}
}

// ---- engine events ---------------------------------------------------------

func (m *Model) onEvent(ev engine.Event) tea.Cmd {
	switch ev := ev.(type) {
	case engine.UserVoiceVolumeChanged:
		m.onVolume(ev)
		return nil
	case engine.UserNetworkQualityChanged:
		m.onQuality(ev)
		return nil
	}
	m.logger.Info("engine event", "event", ev.EventName(), "state", m.state.String())
	switch ev := ev.(type) {
	case engine.ConnectionChanged:
		m.onConnection(ev.State)
		return nil
	case engine.AudioDeviceChanged:
		m.onAudioDevice(ev)
		return nil
	case engine.ErrorEvent:
		text := fmt.Sprintf("error %d: %s", ev.Code, clean(ev.Message))
		m.addLog(levelError, text)
		m.setStatus(levelError, text)
		return nil
	case engine.KickedOffline:
		m.onKicked()
		return nil
	case engine.UserSigExpired:
		m.onSigExpired()
		return nil
	}
	if m.state.terminal() {
		return nil // the session is over; late call events change nothing
	}
	switch ev := ev.(type) {
	case engine.CallReceived:
		return m.onCallReceived(ev)
	case engine.CallBegin:
		return m.onCallBegin(ev)
	case engine.CallEnd:
		m.onCallEnd(ev)
	case engine.CallCancelled:
		m.onCallCancelled(ev)
	case engine.UserReject:
		m.onPeerDone(clean(ev.UserID), peerRejected, "declined the call")
	case engine.UserNoResponse:
		if ev.Reason == "offline" {
			m.onPeerDone(clean(ev.UserID), peerOffline, "is offline or unknown: nobody with that id is logged in")
		} else {
			m.onPeerDone(clean(ev.UserID), peerNoAnswer, "did not answer")
		}
	case engine.UserLineBusy:
		m.onPeerDone(clean(ev.UserID), peerBusy, "is busy in another call")
	case engine.UserJoin:
		m.onJoin(clean(ev.UserID))
	case engine.UserLeave:
		m.onLeave(clean(ev.UserID), ev.Reason)
	case engine.CallMediaTypeChanged:
		if c := m.call; c != nil && c.media != ev.NewCallMediaType {
			c.media = ev.NewCallMediaType
			m.addLog(levelInfo, "call switched to "+ev.NewCallMediaType.String())
		}
	case engine.UserVideoAvailable:
		m.onVideo(clean(ev.UserID), ev.IsVideoAvailable)
	case engine.UserAudioAvailable:
		m.onAudio(clean(ev.UserID), ev.IsAudioAvailable)
	default:
		m.logger.Debug("engine event not shown", "event", ev.EventName())
	}
	return nil
}

func (m *Model) onConnection(s engine.ConnState) {
	if s == m.conn {
		return
	}
	m.conn = s
	switch s {
	case engine.ConnConnected:
		m.addLog(levelInfo, "connected to "+m.server)
	case engine.ConnConnecting:
		m.addLog(levelInfo, "connecting to "+m.server+"…")
	case engine.ConnReconnecting:
		m.addLog(levelWarn, "lost the server connection: reconnecting…")
	default:
		m.addLog(levelError, "offline: cannot reach "+m.server)
	}
}

func (m *Model) onAudioDevice(ev engine.AudioDeviceChanged) {
	m.devicesKnown = true
	m.mic, m.speaker, m.audioWarning = clean(ev.Mic), clean(ev.Speaker), clean(ev.Warning)
	if m.audioWarning != "" {
		m.addLog(levelWarn, "audio: "+m.audioWarning)
		m.setStatus(levelWarn, "Audio: "+m.audioWarning)
		return
	}
	m.addLog(levelInfo, "audio: mic "+m.mic+", speaker "+m.speaker)
}

func (m *Model) onVolume(ev engine.UserVoiceVolumeChanged) {
	c := m.call
	if c == nil {
		return
	}
	for id, v := range ev.VolumeMap {
		v = min(max(v, 0), 100)
		if id == m.user {
			c.myVolume = v
		} else if p := c.peer(id); p != nil {
			p.volume = v
		}
	}
}

func (m *Model) onQuality(ev engine.UserNetworkQualityChanged) {
	c := m.call
	if c == nil {
		return
	}
	for id, q := range ev.NetworkQuality {
		if id == m.user {
			c.myQuality = q
		} else if p := c.peer(id); p != nil {
			p.quality = q
		}
	}
}

func (m *Model) onCallReceived(ev engine.CallReceived) tea.Cmd {
	caller := clean(ev.CallerID)
	if m.state != stateIdle {
		// The engine answers "busy" for us; say that someone tried.
		m.addLog(levelWarn, "missed a call from "+caller+" (you were in a call)")
		m.addRecent(recentCall{at: m.now(), dir: dirIncoming, peers: []string{caller},
			media: ev.CallMediaType, outcome: outcomeMissed})
		return nil
	}
	m.seq++
	c := &session{
		seq: m.seq, dir: dirIncoming, media: ev.CallMediaType, caller: caller,
		groupID: clean(ev.GroupID), userData: clean(ev.UserData), callID: clean(ev.CallID),
		role: engine.RoleCalled, started: m.now(),
	}
	for _, id := range ev.CalleeIDList {
		if id = clean(id); id != m.user && id != caller && !slices.Contains(c.invitees, id) {
			c.invitees = append(c.invitees, id)
		}
	}
	m.call = c
	m.status = statusLine{}
	if m.prompt != nil {
		m.enterGuard = m.now().Add(enterGuardTime)
	}
	m.setState(stateIncoming)
	m.addLog(levelInfo, fmt.Sprintf("incoming %s call from %s", c.media, caller))
	m.ringGen++
	return tea.Batch(bell, m.after(ringEvery, ringMsg{gen: m.ringGen}), m.ensureTicking())
}

// bell rings the terminal bell, which a user on SSH hears on their own
// machine (the ringtone plays on the engine's speaker, which may be remote).
func bell() tea.Msg { return tea.RawMsg{Msg: "\a"} }

func (m *Model) onRing(msg ringMsg) tea.Cmd {
	if msg.gen != m.ringGen || m.state != stateIncoming || m.call == nil || m.call.accepting || m.call.rejecting {
		return nil
	}
	return tea.Batch(bell, m.after(ringEvery, ringMsg{gen: m.ringGen}))
}

func (m *Model) onCallBegin(ev engine.CallBegin) tea.Cmd {
	c := m.call
	if c == nil {
		// A call this UI did not see start (it connected during a race):
		// show it anyway; participants arrive with onUserJoin.
		m.seq++
		dir := dirIncoming
		if ev.CallRole == engine.RoleCaller {
			dir = dirOutgoing
		}
		c = &session{seq: m.seq, dir: dir, started: m.now()}
		m.call = c
	}
	c.connected = m.now()
	c.media = ev.CallMediaType
	c.role = ev.CallRole
	if ev.CallID != "" {
		c.callID = clean(ev.CallID)
	}
	c.accepting = false
	if c.dir == dirIncoming {
		if c.caller != "" {
			c.addPeer(c.caller, peerJoined).status = peerJoined
		}
		for _, id := range c.invitees {
			c.addPeer(id, peerRinging)
		}
	} else {
		var pending []*peer
		for _, p := range slices.Clone(c.peers) {
			switch {
			case p.status.pending():
				pending = append(pending, p)
			case p.status != peerJoined:
				c.removePeer(p.id) // rejected, busy, offline: logged already
			}
		}
		// In a 1:1 call the one who rang is the one who answered.
		if len(c.peers) == 1 && len(pending) == 1 {
			pending[0].status = peerJoined
		}
	}
	m.ringGen++
	m.status = statusLine{}
	m.setState(stateInCall)
	m.addLog(levelInfo, fmt.Sprintf("call connected (%s)", c.media))
	return m.ensureTicking()
}

func (m *Model) onCallEnd(ev engine.CallEnd) {
	c := m.call
	if c == nil {
		return // already ended here (this user hung up)
	}
	d := time.Duration(ev.TotalTime * float64(time.Second))
	if d <= 0 && !c.connected.IsZero() {
		d = m.now().Sub(c.connected)
	}
	m.addLog(levelInfo, "call ended after "+clock(d))
	m.setStatus(levelInfo, "Call ended after "+clock(d)+".")
	m.endCall(outcomeCompleted, d)
}

func (m *Model) onCallCancelled(ev engine.CallCancelled) {
	c := m.call
	if c == nil {
		return
	}
	switch m.state {
	case stateOutgoing:
		o := c.unansweredOutcome()
		m.setStatus(outcomeLevel(o), m.unansweredText(c, o))
		m.addLog(outcomeLevel(o), "call not connected: "+o.String())
		m.endCall(o, 0)
	case stateIncoming:
		switch {
		case c.rejecting:
			m.addLog(levelInfo, "you rejected the call from "+c.caller)
			m.endCall(outcomeRejected, 0)
		case clean(ev.CallerID) == c.caller:
			m.addLog(levelWarn, c.caller+" hung up before you answered")
			m.setStatus(levelWarn, "Missed call from "+c.caller+" (they hung up).")
			m.endCall(outcomeMissed, 0)
		default:
			m.addLog(levelWarn, "missed call from "+c.caller)
			m.setStatus(levelWarn, "Missed call from "+c.caller+".")
			m.endCall(outcomeMissed, 0)
		}
	case stateInCall:
		d := m.now().Sub(c.connected)
		m.addLog(levelInfo, "call ended after "+clock(d))
		m.endCall(outcomeCompleted, d)
	}
}

func outcomeLevel(o outcome) logLevel {
	switch o {
	case outcomeCancelled, outcomeCompleted:
		return levelInfo
	case outcomeNoAnswer, outcomeBusy:
		return levelWarn
	}
	return levelError
}

// unansweredText is the status line after an outgoing call ended without an
// answer: who did what, in words.
func (m *Model) unansweredText(c *session, o outcome) string {
	if o == outcomeCancelled {
		return "Call cancelled."
	}
	var parts []string
	for _, p := range c.peers {
		switch p.status {
		case peerRejected:
			parts = append(parts, p.id+" declined")
		case peerBusy:
			parts = append(parts, p.id+" is busy")
		case peerNoAnswer:
			parts = append(parts, p.id+" did not answer")
		case peerOffline:
			parts = append(parts, p.id+" is offline or unknown (not logged in)")
		}
	}
	if len(parts) == 0 {
		return "The call was not answered."
	}
	s := parts[0]
	for _, p := range parts[1:] {
		s += "; " + p
	}
	return s + "."
}

// onPeerDone handles an invitee who will not join: rejected, no answer,
// offline, busy.
func (m *Model) onPeerDone(id string, st peerStatus, what string) {
	c := m.call
	if c == nil {
		return
	}
	p := c.peer(id)
	if p == nil {
		return
	}
	p.status = st
	level := levelWarn
	if st == peerOffline || st == peerRejected {
		level = levelError
	}
	m.addLog(level, id+" "+what)
	if m.state == stateInCall {
		c.removePeer(id) // the table shows who is in the call or ringing
	}
}

func (m *Model) onJoin(id string) {
	c := m.call
	if c == nil || id == m.user {
		return
	}
	c.addPeer(id, peerJoined).status = peerJoined
	m.addLog(levelInfo, id+" joined")
}

func (m *Model) onLeave(id, reason string) {
	c := m.call
	if c == nil || c.peer(id) == nil {
		return
	}
	c.peer(id).status = peerLeft
	if m.state == stateInCall {
		c.removePeer(id)
	}
	switch reason {
	case "disconnected":
		m.addLog(levelWarn, id+" dropped (connection lost)")
	case "kicked":
		m.addLog(levelWarn, id+" left (signed in elsewhere)")
	default:
		m.addLog(levelInfo, id+" left")
	}
}

func (m *Model) onVideo(id string, on bool) {
	c := m.call
	if c == nil {
		return
	}
	if id == m.user {
		c.myVideo = on
		return
	}
	if p := c.peer(id); p != nil && p.video != on {
		p.video = on
		if on {
			m.addLog(levelInfo, id+" turned video on")
		} else {
			m.addLog(levelInfo, id+" turned video off")
		}
	}
}

func (m *Model) onAudio(id string, on bool) {
	if id == m.user {
		// The engine's word on this user's microphone wins over what was
		// asked (a device may have failed).
		if !m.mutePending {
			m.muted = !on
		}
		return
	}
	c := m.call
	if c == nil {
		return
	}
	if p := c.peer(id); p != nil && p.audio != on {
		p.audio = on
		if on {
			m.addLog(levelInfo, id+" unmuted")
		} else {
			m.addLog(levelInfo, id+" muted")
		}
	}
}

func (m *Model) onKicked() {
	if m.call != nil {
		m.addRecentFor(m.call, outcomeLost, m.talkTime())
		m.call = nil
	}
	m.addLog(levelError, "signed in elsewhere: this session was logged out")
	m.exitErr = ErrKickedOffline
	m.setState(stateKicked)
}

func (m *Model) onSigExpired() {
	m.exitErr = ErrUserSigExpired
	m.addLog(levelError, "login ticket (userSig) expired")
	if m.state.active() {
		m.sigExpired = true
		m.setStatus(levelError, "Your login ticket expired: after this call, restart softphone with a new ticket.")
		return
	}
	m.setState(stateSigExpired)
}

func (m *Model) onEngineStopped() {
	m.logger.Warn("engine event stream closed")
	if m.state.terminal() {
		return // the kicked / expired screen already says what to do
	}
	if m.call != nil {
		m.addRecentFor(m.call, outcomeLost, m.talkTime())
		m.call = nil
	}
	m.addLog(levelError, "the phone engine stopped")
	m.exitErr = ErrEngineStopped
	m.setState(stateStopped)
}

// ---- state helpers ---------------------------------------------------------

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
