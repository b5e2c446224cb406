package tui

import (
	"strings"
	"time"
)

// logLevel picks the style of an event log line.
type logLevel int

const (
	levelInfo logLevel = iota
	levelWarn
	levelError
)

// logEntry is one timestamped line of the event log pane.
type logEntry struct {
	at    time.Time
	level logLevel
	text  string
}

// maxLogEntries bounds the event log kept in memory; the pane shows the
// newest lines that fit.
const maxLogEntries = 500

// eventLog is the pane of timestamped call events: joins, leaves, rejects,
// no-answers, busy, media changes, errors.
type eventLog struct {
	entries []logEntry
}

func (l *eventLog) add(at time.Time, level logLevel, text string) {
	if len(l.entries) == maxLogEntries {
		copy(l.entries, l.entries[1:])
		l.entries = l.entries[:len(l.entries)-1]
	}
	l.entries = append(l.entries, logEntry{at: at, level: level, text: text})
}

// View draws the newest entries in at most height lines of width cells,
// oldest first, one entry per line (long ones are cut, never wrapped).
func (l eventLog) View(width, height int, st *Styles) string {
	if height <= 0 {
		return ""
	}
	entries := l.entries
	if len(entries) > height {
		entries = entries[len(entries)-height:]
	}
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		style := st.Info
		switch e.level {
		case levelWarn:
			style = st.Warning
		case levelError:
			style = st.Error
		}
		lines = append(lines, fit(st.Dim.Render(e.at.Format("15:04:05"))+" "+style.Render(e.text), width))
	}
	return strings.Join(lines, "\n")
}
