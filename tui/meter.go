package tui

import "strings"

// meterEighths are the partial blocks for one cell, from 1/8 to 7/8 full, so a
// short bar still moves smoothly.
var meterEighths = [...]string{"▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// meter is a volume bar for a 0–100 level.
type meter struct {
	level  int
	styles *Styles
}

// View draws the bar in exactly width cells: full blocks, one partial block,
// then dim dots for the rest, so the level reads without colour.
func (m meter) View(width int) string {
	if width <= 0 {
		return ""
	}
	level := min(max(m.level, 0), 100)
	eighths := level * width * 8 / 100
	full, part := eighths/8, eighths%8
	var fill strings.Builder
	fill.WriteString(strings.Repeat("█", full))
	used := full
	if part > 0 && used < width {
		fill.WriteString(meterEighths[part-1])
		used++
	}
	empty := strings.Repeat("·", width-used)
	return m.styles.MeterFill.Render(fill.String()) + m.styles.MeterEmpty.Render(empty)
}
