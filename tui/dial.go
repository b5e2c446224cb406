package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"softphone/engine"
)

// Limits from the reference call model: a user id is at most 32 bytes of
// [A-Za-z0-9_-], and a call holds at most 9 people, the caller included.
const (
	maxUserIDLen = 32
	maxCallSize  = 9
)

// validUserID reports whether id is a well-formed user id.
func validUserID(id string) bool {
	if id == "" || len(id) > maxUserIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// dialRequest is what the dial or invite prompt asks for.
type dialRequest struct {
	ids      []string
	media    engine.MediaType
	mediaSet bool // --video or --voice was typed
}

// parseDial reads what the user typed into the dial or invite prompt: user
// ids separated by spaces or commas, plus --video or --voice to choose the
// media type the way the command line does. Duplicates collapse; self is the
// user's own id, which cannot be called. Errors say what to fix.
func parseDial(text, self string) (dialRequest, error) {
	var req dialRequest
	fields := strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == ',' || r == ';' || r == '\t' || r == '\n' || r == '\r'
	})
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		switch f {
		case "--video", "-video":
			req.media, req.mediaSet = engine.MediaVideo, true
			continue
		case "--voice", "-voice", "--audio", "-audio":
			req.media, req.mediaSet = engine.MediaVoice, true
			continue
		}
		if !validUserID(f) {
			shown := fit(clean(f), maxUserIDLen+1)
			if len(f) > maxUserIDLen {
				return dialRequest{}, fmt.Errorf("%q is too long for a user id (at most %d characters)", shown, maxUserIDLen)
			}
			return dialRequest{}, fmt.Errorf("%q is not a valid user id: use letters, digits, _ and -", shown)
		}
		if f == self {
			return dialRequest{}, fmt.Errorf("%s is you: type someone else's user id", f)
		}
		if !seen[f] {
			seen[f] = true
			req.ids = append(req.ids, f)
		}
	}
	if len(req.ids) == 0 {
		return dialRequest{}, fmt.Errorf("type the user id of who to call, then enter")
	}
	if len(req.ids) > maxCallSize-1 {
		return dialRequest{}, fmt.Errorf("a call holds at most %d people: you and up to %d others", maxCallSize, maxCallSize-1)
	}
	return req, nil
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
