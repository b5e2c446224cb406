package tui

import "charm.land/bubbles/v2/key"

// KeyMap holds every key of the phone. The main keys are exactly the ones of
// the issue (c a/enter r h/esc m i v ? q/ctrl+c); the prompt and confirm keys
// only act while a prompt or the quit question is open. Which keys act depends
// on the call state: forState returns a copy with the others disabled, so
// key.Matches and the help bar agree by construction.
type KeyMap struct {
	Call   key.Binding // c: open the dial prompt
	Accept key.Binding // a, enter: accept the incoming call
	Reject key.Binding // r: reject the incoming call
	Hangup key.Binding // h, esc: hang up, cancel an outgoing call, decline
	Mute   key.Binding // m: mute / unmute the microphone
	Invite key.Binding // i: invite more people into the current call
	Media  key.Binding // v: switch voice <-> video
	Help   key.Binding // ?: full help
	Quit   key.Binding // q, ctrl+c: quit (confirms while a call is up)

	Submit      key.Binding // enter in a prompt: place the call / send invites
	Cancel      key.Binding // esc in a prompt: close it
	ToggleMedia key.Binding // tab in the dial prompt: voice or video
	ForceQuit   key.Binding // ctrl+c in a prompt: q is a letter there

	Yes key.Binding // y (or q, ctrl+c again): confirm quitting
	No  key.Binding // n, esc: stay
}

// DefaultKeyMap returns the phone's keys with their help texts.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Call:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "call")),
		Accept: key.NewBinding(key.WithKeys("a", "enter"), key.WithHelp("a/enter", "accept")),
		Reject: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reject")),
		Hangup: key.NewBinding(key.WithKeys("h", "esc"), key.WithHelp("h/esc", "hang up / cancel")),
		Mute:   key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "mute / unmute")),
		Invite: key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "invite more")),
		Media:  key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "voice ↔ video")),
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:   key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),

		Submit:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "call")),
		Cancel:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		ToggleMedia: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "voice/video")),
		ForceQuit:   key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),

		Yes: key.NewBinding(key.WithKeys("y", "q", "ctrl+c"), key.WithHelp("y", "yes")),
		No:  key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),
	}
}

// ShortHelp is the one-line help bar: the enabled keys that have help text.
func (k KeyMap) ShortHelp() []key.Binding {
	all := []key.Binding{
		k.Submit, k.ToggleMedia, k.Cancel, k.Yes, k.No,
		k.Call, k.Accept, k.Reject, k.Hangup, k.Mute, k.Invite, k.Media, k.Help, k.Quit, k.ForceQuit,
	}
	out := make([]key.Binding, 0, len(all))
	for _, b := range all {
		if b.Enabled() && b.Help().Key != "" {
			out = append(out, b)
		}
	}
	return out
}

// FullHelp is the help screen: every main key, grouped by when it acts.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Call, k.Accept, k.Reject, k.Hangup},
		{k.Mute, k.Invite, k.Media},
		{k.Help, k.Quit},
	}
}

// keyMode is the input mode that, together with the call state, decides
// which keys act.
type keyMode int

const (
	modeNormal  keyMode = iota
	modePrompt          // the dial or invite prompt has the keyboard
	modeConfirm         // "hang up and quit?" is asked
	modeHelp            // the full help is open: esc closes it instead of hanging up
)

// forState returns a copy of k in which only the keys that act in this state
// and mode are enabled, with help texts that say what they do right now.
func (k KeyMap) forState(s callState, mode keyMode, muted bool, media mediaLabel, inviting bool) KeyMap {
	out := k
	for _, b := range []*key.Binding{
		&out.Call, &out.Accept, &out.Reject, &out.Hangup, &out.Mute, &out.Invite, &out.Media,
		&out.Help, &out.Quit, &out.Submit, &out.Cancel, &out.ToggleMedia, &out.ForceQuit, &out.Yes, &out.No,
	} {
		b.SetEnabled(false)
	}
	switch mode {
	case modePrompt:
		out.Submit.SetEnabled(true)
		out.Cancel.SetEnabled(true)
		out.ForceQuit.SetEnabled(true)
		if inviting {
			out.Submit.SetHelp("enter", "invite")
		} else {
			out.ToggleMedia.SetEnabled(true)
		}
		return out
	case modeConfirm:
		out.Yes.SetEnabled(true)
		out.No.SetEnabled(true)
		return out
	}
	out.Help.SetEnabled(true)
	out.Quit.SetEnabled(true)
	if !s.terminal() {
		out.Mute.SetEnabled(true)
		if muted {
			out.Mute.SetHelp("m", "unmute")
		} else {
			out.Mute.SetHelp("m", "mute")
		}
	}
	switch s {
	case stateIdle:
		out.Call.SetEnabled(true)
	case stateIncoming:
		out.Accept.SetEnabled(true)
		out.Reject.SetEnabled(true)
		// h/esc also decline a ringing call; the bar shows r for it once.
		out.Hangup.SetEnabled(true)
		out.Hangup.SetHelp("", "")
	case stateOutgoing:
		out.Hangup.SetEnabled(true)
		out.Hangup.SetHelp("h/esc", "cancel")
	case stateInCall:
		out.Hangup.SetEnabled(true)
		out.Hangup.SetHelp("h", "hang up")
		out.Invite.SetEnabled(true)
		out.Invite.SetHelp("i", "invite")
		out.Media.SetEnabled(true)
		out.Media.SetHelp("v", string(media))
	}
	if mode == modeHelp {
		// esc closes the help screen; hanging up stays on h.
		out.Help.SetHelp("?/esc", "close help")
		out.Hangup.SetKeys("h")
		if h := out.Hangup.Help(); h.Key != "" {
			out.Hangup.SetHelp("h", h.Desc)
		}
		out.Cancel.SetEnabled(true)
		out.Cancel.SetHelp("", "")
	}
	return out
}

// mediaLabel is the help text of v: what pressing it switches to.
type mediaLabel string
