package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// parseDial reads what the user typed into the dial or invite prompt with
// the engine's one parser (engine.ParseDial): user ids separated by spaces
// or commas, plus --video or --voice as on the command line. self is the
// user's own id; maxCallSize is the server's limit.
func parseDial(text, self string, maxCallSize int) (engine.Dial, error) {
	return engine.ParseDial([]string{text}, self, maxCallSize)
}

// promptKind tells the dial prompt (new call) from the invite prompt (more
// people into the current call).
type promptKind int

const (
	promptDial promptKind = iota
	promptInvite
)

// prompt is the line editor of the dial and invite prompts.
type prompt struct {
	kind  promptKind
	input textinput.Model
	media engine.MediaType
	err   string
}

func newPrompt(kind promptKind, value string, media engine.MediaType) *prompt {
	in := textinput.New()
	in.Prompt = "> "
	in.CharLimit = 400
	if kind == promptDial {
		in.Placeholder = "bob   or   bob, carol   (add --video for video)"
	} else {
		in.Placeholder = "dave, erin"
	}
	// The clipboard shortcut would shell out to xclip; terminal paste
	// (bracketed paste) still works.
	in.KeyMap.Paste = key.NewBinding(key.WithDisabled())
	styles := textinput.DefaultDarkStyles()
	styles.Cursor.Blink = false // a blinking cursor would redraw twice a second
	in.SetStyles(styles)
	in.SetValue(value)
	in.Focus()
	return &prompt{kind: kind, input: in, media: media}
}

// update feeds a key or paste to the line editor; editing clears the error.
func (p *prompt) update(msg tea.Msg) tea.Cmd {
	before := p.input.Value()
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	if p.input.Value() != before {
		p.err = ""
	}
	return cmd
}

func (p *prompt) toggleMedia() {
	if p.media == engine.MediaVideo {
		p.media = engine.MediaVoice
	} else {
		p.media = engine.MediaVideo
	}
}

// View draws the prompt block in at most width cells per line.
func (p *prompt) View(width int, st *Styles) string {
	compact := width < compactWidth
	var lines []string
	switch {
	case p.kind == promptInvite && compact:
		lines = append(lines, st.Heading.Render("Invite who?")+st.Dim.Render(" ids, space/comma separated"))
	case p.kind == promptInvite:
		lines = append(lines, st.Heading.Render("Invite who into this call?")+
			st.Dim.Render(" user ids, separated by spaces or commas"))
	case compact:
		lines = append(lines, st.Heading.Render("Call who?")+st.Dim.Render(" ids; several = group call"))
	default:
		lines = append(lines, st.Heading.Render("Call who?")+
			st.Dim.Render(" user ids, separated by spaces or commas; several make a group call"))
	}
	p.input.SetWidth(max(width-len(p.input.Prompt)-2, 1))
	lines = append(lines, p.input.View())
	if p.kind == promptDial {
		voice, video := "( ) voice", "( ) video"
		if p.media == engine.MediaVideo {
			video = st.Selected.Render("(•) video")
		} else {
			voice = st.Selected.Render("(•) voice")
		}
		lines = append(lines, st.Dim.Render("media: ")+voice+"  "+video+st.Dim.Render("   tab switches"))
	}
	if p.err != "" {
		lines = append(lines, st.Error.Render("✗ "+p.err))
	}
	for i, l := range lines {
		lines[i] = fit(l, width)
	}
	return strings.Join(lines, "\n")
}
