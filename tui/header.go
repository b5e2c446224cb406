package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"softphone/engine"
)

// header is the top of every screen: who I am, the server, the connection,
// the microphone, and the audio devices in use (or the warning that none was
// found).
type header struct {
	user, server string
	conn         engine.ConnState
	muted        bool
	mic, speaker string
	warning      string
	devicesKnown bool
	voice        engine.VoiceProcessing
	sound        string // where the sound is, when not simply here
	styles       *Styles
}

// connView is the connection state as glyph and word.
func (h header) connView() string {
	st := h.styles
	switch h.conn {
	case engine.ConnConnected:
		return st.ConnOK.Render("● connected")
	case engine.ConnConnecting:
		return st.ConnWarn.Render("◌ connecting…")
	case engine.ConnReconnecting:
		return st.ConnWarn.Render("◌ reconnecting…")
	}
	return st.ConnBad.Render("○ offline")
}

func (h header) micView() string {
	if h.muted {
		return h.styles.MicMuted.Render("MIC MUTED")
	}
	return h.styles.MicOn.Render("mic on")
}

// devicesView is the audio device line: names, the no-device warning, or
// that the engine has not said yet.
func (h header) devicesView(short bool) string {
	st := h.styles
	switch {
	case h.warning != "" && short:
		return st.Dim.Render(" · ") + st.Warning.Render("⚠ "+h.warning)
	case h.warning != "":
		return st.Warning.Render("⚠ " + h.warning)
	case !h.devicesKnown && short:
		return ""
	case !h.devicesKnown:
		return st.Dim.Render("audio devices: waiting for the engine…")
	case short:
		return st.Dim.Render(" (" + h.mic + ")")
	}
	line := st.Dim.Render("mic: ") + h.mic + st.Dim.Render(" · speaker: ") + h.speaker
	if v := voiceShort(h.voice); v != "" {
		line += st.Dim.Render(" · " + v)
	}
	return line
}

// voiceShort names the voice processing that runs, for the header:
// "AEC NS:high AGC", "NS:low", or "no AEC/NS/AGC"; "" when the engine has
// not said.
func voiceShort(v engine.VoiceProcessing) string {
	if v == (engine.VoiceProcessing{}) {
		return ""
	}
	var on []string
	if v.AEC == "on" {
		on = append(on, "AEC")
	}
	if v.NS == "low" || v.NS == "high" {
		on = append(on, "NS:"+v.NS)
	}
	if v.AGC == "on" {
		on = append(on, "AGC")
	}
	if len(on) == 0 {
		return "no AEC/NS/AGC"
	}
	return strings.Join(on, " ")
}

// voiceLong says what the voice processing does, for the help screen.
func voiceLong(v engine.VoiceProcessing) string {
	const test = "off (test source)"
	switch {
	case v == (engine.VoiceProcessing{}):
		return ""
	case v.AEC == test && v.NS == test && v.AGC == test:
		return "Voice processing: off, the microphone is a test source (tone:, wav:), sent as it is."
	}
	return "Voice processing: AEC " + v.AEC + " · NS " + v.NS + " · AGC " + v.AGC + " (set with --aec, --ns, --agc)"
}

// View draws the header in two lines of at most width cells.
func (h header) View(width int) string {
	st := h.styles
	if width < compactWidth {
		l1 := " " + st.Me.Render(h.user) + st.Dim.Render(" @ "+h.server)
		l2 := " " + h.connView() + st.Dim.Render(" · ") + h.micView() + h.soundView(true) + h.devicesView(true)
		return fit(l1, width) + "\n" + fit(l2, width)
	}
	left := " " + st.AppName.Render("softphone") + "  " + st.Me.Render(h.user) + st.Dim.Render(" @ "+h.server)
	right := h.connView() + "  " + h.micView() + " "
	gap := width - ansi.StringWidth(left) - ansi.StringWidth(right)
	var l1 string
	if gap >= 2 {
		l1 = left + strings.Repeat(" ", gap) + right
	} else {
		// A long server URL gives way to the state, which matters more.
		l1 = fit(left, max(width-ansi.StringWidth(right)-2, 0)) + "  " + right
	}
	l2 := " " + h.soundView(false) + h.devicesView(false)
	return fit(l1, width) + "\n" + fit(l2, width)
}

// soundView says where the sound is (an SSH session's machine, a forwarded
// PulseAudio server) ahead of the device names: over SSH it matters more
// than which device.
func (h header) soundView(short bool) string {
	switch {
	case h.sound == "":
		return ""
	case short:
		return h.styles.Dim.Render(" · ") + h.styles.Warning.Render(h.sound)
	}
	return h.styles.Warning.Render(h.sound) + h.styles.Dim.Render(" · ")
}
