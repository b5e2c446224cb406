package tui

import (
	"fmt"
	"strings"

	"softphone/engine"
)

// speakingLevel is the volume above which the reference interface counts a
// user as speaking.
const speakingLevel = 10

// qualityWord is the quality level as the word the row shows.
func qualityWord(q engine.NetworkQuality) string {
	switch q {
	case engine.QualityVbad:
		return "Very bad"
	case engine.QualityExcellent, engine.QualityGood, engine.QualityPoor,
		engine.QualityBad, engine.QualityDown:
		return q.String()
	}
	return "Unknown"
}

// pathWord is how a participant's media gets here, as the PATH column shows
// it: "direct UDP", "STUN UDP", "relay TCP"; compact: "direct", "STUN",
// "relay", and a letter with /TCP over TCP ("r/TCP"). Empty until ICE has
// chosen a path.
func pathWord(p engine.ConnectionPath, compact bool) string {
	if p.Type == "" {
		return ""
	}
	if !compact {
		return p.String()
	}
	if p.Protocol == "tcp" {
		return p.String()[:1] + "/TCP"
	}
	return strings.Fields(p.String())[0]
}

// rowLayout is the column plan shared by every row of the participant table
// at one width, so the columns line up.
type rowLayout struct {
	mark, name, bar, path int
	compact               bool
}

// Fixed column widths: volume number, quality word, audio and video words.
const (
	colNum     = 3
	colQuality = 9
	colAudio   = 5
	colVideo   = 5
)

func layoutRows(width int) rowLayout {
	l := rowLayout{mark: 2, name: 16, path: 10}
	gaps := 2 // between the text columns after the bar
	if width < compactWidth {
		l = rowLayout{mark: 2, name: 10, path: 6, compact: true}
		gaps = 1
	}
	fixed := l.mark + l.name + 1 + 1 + colNum + gaps + colQuality + gaps + l.path + gaps + colAudio + gaps + colVideo
	l.bar = min(max(width-fixed, 4), 30)
	return l
}

func (l rowLayout) gap() string {
	if l.compact {
		return " "
	}
	return "  "
}

// participantRow is one line of the in-call table.
type participantRow struct {
	name    string
	me      bool
	status  peerStatus
	volume  int
	quality engine.NetworkQuality
	path    engine.ConnectionPath
	audio   bool
	video   bool
	styles  *Styles
}

// header is the column heads of the table.
func (l rowLayout) header(st *Styles) string {
	g := l.gap()
	s := strings.Repeat(" ", l.mark) + pad("NAME", l.name) + " " + pad("VOLUME", l.bar+1+colNum) +
		g + pad("NETWORK", colQuality) + g + pad("PATH", l.path) + g + pad("AUDIO", colAudio) + g + "VIDEO"
	return st.Dim.Render(s)
}

// View draws the row in at most width cells.
func (r participantRow) View(width int) string {
	l := layoutRows(width)
	st := r.styles
	name := r.name
	if r.me {
		if full := r.name + " (you)"; len(full) <= l.name {
			name = full
		} else {
			name = "you"
		}
	}
	mark := strings.Repeat(" ", l.mark)
	nameStyle := st.Name
	if r.status == peerJoined && r.volume > speakingLevel {
		mark = pad("»", l.mark)
		nameStyle = st.Speaking
	}
	line := mark + nameStyle.Render(pad(name, l.name)) + " "
	if r.status != peerJoined {
		return fit(line+statusView(r.status, st), width)
	}
	g := l.gap()
	audio := st.Good.Render(pad("on", colAudio))
	if !r.audio {
		audio = st.Bad.Render(pad("muted", colAudio))
	}
	video := st.Dim.Render("off")
	if r.video {
		video = st.Good.Render("on")
	}
	line += meter{level: r.volume, styles: st}.View(l.bar) + " " +
		padLeft(fmt.Sprint(min(max(r.volume, 0), 100)), colNum) + g +
		st.quality(r.quality).Render(pad(qualityWord(r.quality), colQuality)) + g +
		st.Dim.Render(pad(pathWord(r.path, l.compact), l.path)) + g +
		audio + g + video
	return fit(line, width)
}
