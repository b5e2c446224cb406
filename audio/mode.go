package audio

import "fmt"

// Mode is what the pipeline runs, set by the engine as a call comes and
// goes (Pipeline.SetMode). A softphone spends most of its life between
// calls: then nothing runs at all, no goroutine wakes up and no device is
// open, so an idle client costs no CPU, leaves the sound card to other
// programs and does not hold the microphone open (users rightly expect a
// phone that is not in a call not to listen).
//
// What each mode runs:
//
//	mode          speaker (playout)   microphone
//	ModeIdle      closed              closed
//	ModeRinging   plays (ringtone)    closed
//	ModeDialing   plays (ringback)    open, audio discarded
//	ModeCall      plays               open, encoded and sent
//
// ModeDialing opens the microphone device while an outgoing call rings, so
// it is already delivering audio when the call connects: a sound card can
// take from a few milliseconds (PulseAudio here) to a few hundred (a
// suspended USB headset) to start, and the first words of a call must not
// be lost to that. What it captures before the call begins is dropped in
// the device callback, never encoded or sent. An incoming call rings in
// ModeRinging, with the microphone closed until the user accepts: the
// device then starts while the call's media connects (ICE and DTLS take
// longer than a PulseAudio microphone needs).
//
// Generator microphones (tone:, wav:, silence, echo) and the wav: and none
// speakers have no device: they simply start and stop with the mode.
type Mode int

const (
	// ModeIdle runs nothing: no call. The zero value, so a pipeline opens
	// idle unless Config.Mode says otherwise.
	ModeIdle Mode = iota
	// ModeRinging plays the speaker (the ringtone) with the microphone
	// closed: an incoming call rings.
	ModeRinging
	// ModeDialing plays the speaker (the ringback) and opens the
	// microphone without sending it: an outgoing call rings, or this user
	// waits in a call for the others.
	ModeDialing
	// ModeCall runs both sides: the microphone is encoded for the packet
	// handler, remotes are decoded, mixed and played.
	ModeCall
)

func (m Mode) String() string {
	switch m {
	case ModeIdle:
		return "idle"
	case ModeRinging:
		return "ringing"
	case ModeDialing:
		return "dialing"
	case ModeCall:
		return "call"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// valid reports whether m is one of the modes above.
func (m Mode) valid() bool { return m >= ModeIdle && m <= ModeCall }

// plays reports whether the speaker side runs in m.
func (m Mode) plays() bool { return m != ModeIdle }

// opensMic reports whether the microphone device is open in m.
func (m Mode) opensMic() bool { return m == ModeDialing || m == ModeCall }

// sends reports whether the microphone is captured and encoded in m.
func (m Mode) sends() bool { return m == ModeCall }
