package tui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"

	"softphone/engine"
)

// Styles is every style the phone draws with. Views take colours only from
// here. DefaultStyles uses the 16 basic ANSI colours, so a 16-colour terminal
// shows exactly what was meant and the user's palette decides the shades;
// with NO_COLOR the renderer drops the colours and bold/reverse remain. State
// is always spelled out in words or glyphs as well, never by colour alone.
type Styles struct {
	AppName lipgloss.Style // "softphone" in the header
	Me      lipgloss.Style // this user's id
	Dim     lipgloss.Style // secondary text: server, timestamps, column heads
	Rule    lipgloss.Style // horizontal separators
	Heading lipgloss.Style // the first line of a screen ("In call · voice · 01:23")
	Name    lipgloss.Style // a user id in the body
	Key     lipgloss.Style // a key named in running text ("press c")

	ConnOK   lipgloss.Style // connected
	ConnWarn lipgloss.Style // connecting, reconnecting
	ConnBad  lipgloss.Style // offline

	MicOn    lipgloss.Style
	MicMuted lipgloss.Style

	Info    lipgloss.Style // status line, neutral
	Warning lipgloss.Style // no audio device, ticket about to matter
	Error   lipgloss.Style // failed actions, error events

	MeterFill  lipgloss.Style
	MeterEmpty lipgloss.Style
	Speaking   lipgloss.Style // the name of someone whose volume is above 10

	// Quality is indexed by engine.NetworkQuality (0 Unknown … 6 Down).
	Quality [7]lipgloss.Style

	Good lipgloss.Style // accepted, audio on, completed
	Bad  lipgloss.Style // rejected, busy, offline, failed
	Wait lipgloss.Style // ringing, calling

	Selected lipgloss.Style // the chosen option in the dial prompt

	Help help.Styles
}

// DefaultStyles returns the phone's styles.
func DefaultStyles() Styles {
	fg := func(c color.Color) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }
	s := Styles{
		AppName: fg(lipgloss.Cyan).Bold(true),
		Me:      lipgloss.NewStyle().Bold(true),
		Dim:     fg(lipgloss.BrightBlack),
		Rule:    fg(lipgloss.BrightBlack),
		Heading: lipgloss.NewStyle().Bold(true),
		Name:    lipgloss.NewStyle(),
		Key:     fg(lipgloss.Cyan).Bold(true),

		ConnOK:   fg(lipgloss.Green),
		ConnWarn: fg(lipgloss.Yellow),
		ConnBad:  fg(lipgloss.Red).Bold(true),

		MicOn:    fg(lipgloss.Green),
		MicMuted: fg(lipgloss.Red).Bold(true).Reverse(true),

		Info:    lipgloss.NewStyle(),
		Warning: fg(lipgloss.Yellow).Bold(true),
		Error:   fg(lipgloss.Red).Bold(true),

		MeterFill:  fg(lipgloss.Green),
		MeterEmpty: fg(lipgloss.BrightBlack),
		Speaking:   lipgloss.NewStyle().Bold(true),

		Good: fg(lipgloss.Green),
		Bad:  fg(lipgloss.Red),
		Wait: fg(lipgloss.Yellow),

		Selected: lipgloss.NewStyle().Bold(true).Underline(true),
	}
	s.Quality[engine.QualityUnknown] = fg(lipgloss.BrightBlack)
	s.Quality[engine.QualityExcellent] = fg(lipgloss.Green)
	s.Quality[engine.QualityGood] = fg(lipgloss.Green)
	s.Quality[engine.QualityPoor] = fg(lipgloss.Yellow)
	s.Quality[engine.QualityBad] = fg(lipgloss.Red)
	s.Quality[engine.QualityVbad] = fg(lipgloss.Red)
	s.Quality[engine.QualityDown] = fg(lipgloss.Red).Bold(true)
	s.Help = help.Styles{
		ShortKey:       fg(lipgloss.Cyan).Bold(true),
		ShortDesc:      lipgloss.NewStyle(),
		ShortSeparator: fg(lipgloss.BrightBlack),
		Ellipsis:       fg(lipgloss.BrightBlack),
		FullKey:        fg(lipgloss.Cyan).Bold(true),
		FullDesc:       lipgloss.NewStyle(),
		FullSeparator:  fg(lipgloss.BrightBlack),
	}
	return s
}

// quality returns the style of a quality level; out-of-range values draw as
// Unknown.
func (s *Styles) quality(q engine.NetworkQuality) lipgloss.Style {
	if q < 0 || int(q) >= len(s.Quality) {
		return s.Quality[engine.QualityUnknown]
	}
	return s.Quality[q]
}
