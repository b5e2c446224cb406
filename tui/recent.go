package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// recentList is the idle screen's list of this session's calls, newest first.
type recentList struct {
	calls  []recentCall // oldest first, as recorded
	styles *Styles
}

// View draws at most height lines (a heading, then one line per call) of at
// most width cells.
func (r recentList) View(width, height int) string {
	st := r.styles
	if height <= 0 {
		return ""
	}
	lines := []string{st.Heading.Render("Recent calls")}
	if len(r.calls) == 0 {
		lines = append(lines, st.Dim.Render("  none yet this session"))
	}
	compact := width < compactWidth
	for i := len(r.calls) - 1; i >= 0 && len(lines) < height; i-- {
		lines = append(lines, fit(r.row(r.calls[i], width, compact), width))
	}
	if len(lines) > height {
		lines = lines[:height]
	}
	return strings.Join(lines, "\n")
}

func (r recentList) row(c recentCall, width int, compact bool) string {
	st := r.styles
	arrow, dir := "→", "→ out"
	if c.dir == dirIncoming {
		arrow, dir = "←", "← in "
	}
	dur := "-"
	if c.duration > 0 {
		dur = clock(c.duration)
	}
	outStyle := st.Bad
	switch c.outcome {
	case outcomeCompleted:
		outStyle = st.Good
	case outcomeCancelled:
		outStyle = st.Dim
	}
	at := st.Dim.Render(c.at.Format("15:04"))
	// The columns around the names are fixed; the names get what is left.
	gap, durW := "  ", 7
	before := "  " + at + gap + dir + gap
	if compact {
		gap, durW = " ", 5
		before = "  " + at + gap + arrow + gap
	}
	after := gap + pad(c.media.String(), 5) + gap + outStyle.Render(pad(c.outcome.String(), 9)) + gap + padLeft(dur, durW)
	whoW := min(max(width-ansi.StringWidth(before)-ansi.StringWidth(after), 4), 30)
	return before + pad(joinList(c.peers), whoW) + after
}

// joinList lists ids compactly: "bob, carol".
func joinList(ids []string) string { return strings.Join(ids, ", ") }
