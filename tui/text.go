package tui

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// maxShownText caps any one piece of outside text (userData, error messages)
// so a hostile or buggy peer cannot fill the screen.
const maxShownText = 200

// clean makes outside text (user ids, userData, engine error messages) safe to
// draw: control characters, escape sequences and invalid UTF-8 cannot reach
// the terminal, where they could move the cursor, retitle the window or
// garble the screen. Newlines and tabs become spaces; the result has at most
// maxShownText runes.
func clean(s string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case r == '\n' || r == '\t' || r == '\r':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) && r != '\u200d':
			// C0, DEL, C1 (which includes the 8-bit CSI) and invisible
			// format characters such as bidi overrides.
			continue
		}
		if n == maxShownText {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// cleanLines is clean for text of several lines (the demo's hint): each
// line is cleaned on its own and the line breaks stay.
func cleanLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = clean(l)
	}
	return strings.Join(lines, "\n")
}

// fit cuts a styled line to width cells, marking the cut with "…", so no line
// ever wraps in the terminal.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// pad fills a styled string with spaces to width cells (cutting it if longer).
func pad(s string, width int) string {
	s = fit(s, width)
	if w := ansi.StringWidth(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// padLeft right-aligns a styled string in width cells.
func padLeft(s string, width int) string {
	s = fit(s, width)
	if w := ansi.StringWidth(s); w < width {
		s = strings.Repeat(" ", width-w) + s
	}
	return s
}

// clock formats a call duration as m:ss under an hour, h:mm:ss above.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// joinIDs lists user ids for a sentence: "bob", "bob and carol",
// "bob, carol and dave".
func joinIDs(ids []string) string {
	switch len(ids) {
	case 0:
		return "nobody"
	case 1:
		return ids[0]
	}
	return strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
}
