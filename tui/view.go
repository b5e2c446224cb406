package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

const (
	// compactWidth: below this many columns the compact layout is used.
	compactWidth = 60
	// Until the terminal reports its size, draw for the classic 80x24.
	defaultWidth, defaultHeight = 80, 24
)

// View implements tea.Model.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = m.title()
	return v
}

// title is the terminal window title: who is calling or that a call is up,
// so a user in another window sees it. It changes only with the call state.
func (m *Model) title() string {
	switch m.state {
	case stateIncoming:
		return "softphone: call from " + m.call.caller
	case stateOutgoing:
		return "softphone: calling…"
	case stateInCall:
		return "softphone: in call"
	}
	return "softphone: " + m.user
}

func (m *Model) size() (int, int) {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return defaultWidth, defaultHeight
	}
	return w, h
}

// render draws the whole screen: header, body, status line and help bar, in
// exactly the terminal's height and never wider than its width, so nothing
// ever wraps or scrolls.
func (m *Model) render() string {
	w, h := m.size()
	st := &m.styles
	hd := header{
		user: m.user, server: m.server, conn: m.conn, muted: m.muted,
		mic: m.mic, speaker: m.speaker, warning: m.audioWarning, devicesKnown: m.devicesKnown, voice: m.voice,
		sound: m.sound.Where, styles: st,
	}
	lines := strings.Split(hd.View(w), "\n")
	lines = append(lines, rule(w, st))
	footer := []string{m.statusView(w), m.helpBar(w)}
	bodyH := max(h-len(lines)-len(footer), 0)
	body := m.body(w, bodyH)
	for len(body) < bodyH {
		body = append(body, "")
	}
	lines = append(lines, body[:bodyH]...)
	lines = append(lines, footer...)
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = fit(l, w)
	}
	return strings.Join(lines, "\n")
}

func rule(w int, st *Styles) string { return st.Rule.Render(strings.Repeat("─", w)) }

// indent puts a one-column margin before each line of a block.
func indent(block string) []string { return indentBy(block, 1) }

// indentBy puts n columns of margin before each line of a block.
func indentBy(block string, n int) []string {
	if block == "" {
		return nil
	}
	lines := strings.Split(block, "\n")
	for i, l := range lines {
		lines[i] = strings.Repeat(" ", n) + l
	}
	return lines
}

// wrap word-wraps plain or styled text to width, for prose that must be read
// whole (hints, what to do next). It breaks at spaces only, and breaks a word
// wider than the line every width cells. (ansi.Wordwrap also breaks after
// hyphens and then overshoots the width by the hyphen, so "--server" or a
// file path lost its end to fit's "…".) Runs of spaces collapse.
func wrap(s string, width int) []string {
	width = max(width, 1)
	var lines []string
	line, lineW := "", 0
	for _, word := range strings.Split(s, " ") {
		ww := ansi.StringWidth(word)
		switch {
		case word == "":
			continue
		case ww == 0: // only escape sequences: they belong to the text around
			line += word
			continue
		case lineW == 0 && ww <= width:
			line, lineW = line+word, ww
			continue
		case lineW > 0 && lineW+1+ww <= width:
			line, lineW = line+" "+word, lineW+1+ww
			continue
		}
		if lineW > 0 {
			lines = append(lines, line)
			line, lineW = "", 0
		}
		parts := strings.Split(ansi.Hardwrap(line+word, width, true), "\n")
		lines = append(lines, parts[:len(parts)-1]...)
		line = parts[len(parts)-1]
		lineW = ansi.StringWidth(line)
	}
	return append(lines, line)
}

// body is the screen between the header and the status line, at most h lines.
func (m *Model) body(w, h int) []string {
	if h <= 0 {
		return nil
	}
	if m.showHelp {
		return m.helpView(w, h)
	}
	switch m.state {
	case stateIdle:
		return m.idleView(w, h)
	case stateKicked, stateSigExpired, stateStopped:
		return m.endedView(w, h)
	}
	return m.callView(w, h)
}

func (m *Model) idleView(w, h int) []string {
	st := &m.styles
	var lines []string
	if m.prompt != nil {
		lines = append(lines, indent(m.prompt.View(w-1, st))...)
	} else {
		lines = append(lines, " "+st.Heading.Render("Ready.")+" Press "+st.Key.Render("c")+" to place a call.")
		if m.hint != "" {
			for _, para := range strings.Split(m.hint, "\n") {
				for _, l := range wrap(para, w-1) {
					lines = append(lines, " "+st.Dim.Render(l))
				}
			}
		}
	}
	lines = append(lines, "")
	if rest := h - len(lines); rest > 0 {
		lines = append(lines, indent(recentList{calls: m.recent, styles: st}.View(w-1, rest))...)
	}
	return lines
}

// callView is the body of the outgoing, incoming and in-call screens: the
// screen's own part on top, the invite prompt if open, then the event log
// in whatever room is left.
func (m *Model) callView(w, h int) []string {
	st := &m.styles
	var top []string
	switch m.state {
	case stateOutgoing:
		top = m.outgoingView(w)
	case stateIncoming:
		top = m.incomingView(w)
	default:
		top = m.inCallView(w)
	}
	var pr []string
	if m.prompt != nil {
		pr = append([]string{""}, indent(m.prompt.View(w-1, st))...)
	}
	// The call itself matters most, then the prompt, then the log.
	if len(top) > h-len(pr) {
		top = top[:max(h-len(pr), 0)]
	}
	lines := append(top, pr...)
	if len(lines) > h {
		return lines[:h]
	}
	if logH := h - len(lines) - 2; logH >= 1 {
		lines = append(lines, "", rule(w, st))
		lines = append(lines, indent(m.log.View(w-1, logH, st))...)
	}
	return lines
}

// elapsed is the time shown on a call screen: talk time once connected,
// ringing time before.
func (m *Model) elapsed() string {
	c := m.call
	if !c.connected.IsZero() {
		return clock(m.now().Sub(c.connected))
	}
	return clock(m.now().Sub(c.started))
}

func (m *Model) outgoingView(w int) []string {
	st := &m.styles
	c := m.call
	who := joinIDs(c.peerIDs())
	if len(c.peers) > 1 {
		who = fmt.Sprintf("%d people", len(c.peers))
	}
	head := st.Heading.Render("Calling "+who) + st.Dim.Render(" · "+c.media.String()+" · "+m.elapsed())
	if c.hangingUp {
		head += st.Dim.Render(" · cancelling…")
	}
	lines := []string{" " + head, ""}
	nameW := 16
	if w < compactWidth {
		nameW = 10
	}
	for _, p := range c.peers {
		lines = append(lines, "   "+pad(p.id, nameW)+" "+statusView(p.status, st))
	}
	return lines
}

// statusView is an invitee's status as glyph and word.
func statusView(s peerStatus, st *Styles) string {
	switch {
	case s.pending():
		return st.Wait.Render("◌ " + s.String())
	case s == peerJoined:
		return st.Good.Render("✓ " + s.String())
	case s == peerOffline:
		return st.Bad.Render("✗ offline or unknown")
	}
	return st.Bad.Render("✗ " + s.String())
}

func (m *Model) incomingView(w int) []string {
	st := &m.styles
	c := m.call
	kind := "call"
	if len(c.invitees) > 0 || c.groupID != "" {
		kind = "group call"
	}
	head := st.Heading.Render("Incoming "+c.media.String()+" "+kind) + st.Dim.Render(" · ringing "+m.elapsed())
	lines := []string{" " + head, ""}
	lines = append(lines, "   "+st.Name.Bold(true).Render(c.caller)+" is calling you")
	if len(c.invitees) > 0 {
		lines = append(lines, "   "+st.Dim.Render("also invited: ")+joinIDs(c.invitees))
	}
	if c.groupID != "" {
		lines = append(lines, "   "+st.Dim.Render("group: ")+c.groupID)
	}
	if c.userData != "" {
		msg := wrap(st.Dim.Render("message: ")+"“"+c.userData+"”", w-4)
		if len(msg) > 3 {
			msg = append(msg[:2], fit(msg[2]+" …", w-4))
		}
		for _, l := range msg {
			lines = append(lines, "   "+l)
		}
	}
	lines = append(lines, "")
	switch {
	case c.accepting:
		lines = append(lines, "   "+st.Wait.Render("connecting…"))
	case c.rejecting:
		lines = append(lines, "   "+st.Dim.Render("rejecting…"))
	default:
		lines = append(lines, "   "+st.Key.Render("a")+" accept  ·  "+st.Key.Render("r")+" reject")
	}
	return lines
}

func (m *Model) inCallView(w int) []string {
	st := &m.styles
	c := m.call
	kind := "In call"
	if len(c.peers) > 1 || c.groupID != "" {
		kind = "In group call"
	}
	head := st.Heading.Render(kind) + st.Dim.Render(" · "+c.media.String()+" · ") + st.Heading.Render(m.elapsed())
	if c.hangingUp {
		head += st.Dim.Render(" · hanging up…")
	}
	l := layoutRows(w)
	lines := []string{" " + head, "", l.header(st)}
	me := participantRow{
		name: m.user, me: true, status: peerJoined, volume: c.myVolume, quality: c.myQuality,
		audio: !m.muted, video: c.myVideo, styles: st,
	}
	lines = append(lines, me.View(w))
	for _, p := range c.peers {
		row := participantRow{
			name: p.id, status: p.status, volume: p.volume, quality: p.quality,
			path: p.path, audio: p.audio, video: p.video, styles: st,
		}
		lines = append(lines, row.View(w))
	}
	return lines
}

// endedView is the kicked-offline, ticket-expired and engine-stopped screen:
// what happened and what to do, in words.
func (m *Model) endedView(w, h int) []string {
	st := &m.styles
	var head string
	var text []string
	switch m.state {
	case stateKicked:
		head = "Signed in elsewhere"
		text = []string{
			"Your user id " + m.user + " just logged in from another place, so the server logged this session out. A call that was up here has ended.",
			"To take calls here again, quit (q) and start softphone again; that logs the other place out.",
		}
	case stateSigExpired:
		head = "Login ticket expired"
		text = []string{
			"The login ticket (userSig) of " + m.user + " expired, so the server no longer accepts this session.",
			"Quit (q) and start softphone again with a new ticket: mint one with `softphone usersig --user " + m.user + "`, or start with --secret-key-file to mint it automatically.",
		}
	default:
		head = "The phone engine stopped"
		text = []string{"The engine behind this screen closed; a call that was up has ended. Quit (q) and start softphone again."}
		if m.logPath != "" {
			text = append(text, "The log file says why: "+m.logPath)
		}
	}
	lines := []string{" " + st.Error.Render("✗ "+head), ""}
	for i, p := range text {
		if i > 0 {
			lines = append(lines, "")
		}
		for _, l := range wrap(p, w-2) {
			lines = append(lines, " "+l)
		}
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	return lines
}

// helpView is the full help: every key, then the log file's path.
func (m *Model) helpView(w, h int) []string {
	st := &m.styles
	lines := []string{" " + st.Heading.Render("Keys"), ""}
	groups := m.keys.FullHelp()
	if w >= compactWidth {
		var cols []string
		for i, g := range groups {
			if i > 0 {
				cols = append(cols, "      ")
			}
			cols = append(cols, helpColumn(g, keyWidth(g), st))
		}
		lines = append(lines, indentBy(lipgloss.JoinHorizontal(lipgloss.Top, cols...), 3)...)
	} else {
		kw := keyWidth(slices.Concat(groups...))
		for _, g := range groups {
			lines = append(lines, indentBy(helpColumn(g, kw, st), 3)...)
		}
	}
	lines = append(lines, "")
	for _, l := range wrap("In the dial prompt, enter calls, tab picks voice or video, esc cancels. While a call is up, q asks first, then hangs up and quits.", w-2) {
		lines = append(lines, " "+st.Dim.Render(l))
	}
	lines = append(lines, "")
	if m.sound.Help != "" {
		for _, para := range strings.Split(m.sound.Help, "\n") {
			for _, l := range wrap(para, w-2) {
				lines = append(lines, " "+l)
			}
		}
		lines = append(lines, "")
	}
	// What cleans the microphone, with the log file: two facts about this
	// phone's set-up, after the keys and the sound's whereabouts.
	if v := voiceLong(m.voice); v != "" {
		for _, l := range wrap(v, w-2) {
			lines = append(lines, " "+l)
		}
	}
	logPath := m.logPath
	if logPath == "" {
		logPath = "(none)"
	}
	for _, l := range wrapHard("Log file: "+logPath, w-2) {
		lines = append(lines, " "+l)
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	return lines
}

// keyWidth is the widest key name of g.
func keyWidth(g []key.Binding) int {
	kw := 0
	for _, b := range g {
		kw = max(kw, ansi.StringWidth(b.Help().Key))
	}
	return kw
}

// helpColumn lists one group of keys, one per line, key names kw wide.
func helpColumn(g []key.Binding, kw int, st *Styles) string {
	var out []string
	for _, b := range g {
		out = append(out, st.Help.FullKey.Render(pad(b.Help().Key, kw))+"  "+st.Help.FullDesc.Render(b.Help().Desc))
	}
	return strings.Join(out, "\n")
}

// wrapHard breaks text that has no spaces to break at (a file path) every
// width cells, so it can be read whole instead of cut.
func wrapHard(s string, width int) []string { return wrap(s, width) }

// statusView is the line above the help bar: the quit question, leaving
// progress, or the last message.
func (m *Model) statusView(w int) string {
	st := &m.styles
	switch {
	case m.confirm:
		q := "Hang up and quit?"
		if m.state == stateIncoming {
			q = "Reject the call and quit?"
		} else if m.state == stateOutgoing {
			q = "Cancel the call and quit?"
		}
		return fit(" "+st.Warning.Render(q+" (y/n)"), w)
	case m.status.text == "":
		return ""
	}
	style := st.Info
	mark := ""
	switch m.status.level {
	case levelWarn:
		style, mark = st.Warning, "! "
	case levelError:
		style, mark = st.Error, "✗ "
	}
	return fit(" "+style.Render(mark+m.status.text), w)
}

func (m *Model) helpBar(w int) string {
	hm := m.help
	hm.SetWidth(w - 1)
	return " " + hm.ShortHelpView(m.activeKeys().ShortHelp())
}
