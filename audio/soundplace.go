package audio

import (
	"fmt"
	"strings"
)

// PulseServerEnv is the variable libpulse (and so miniaudio's PulseAudio
// backend, which passes no server name of its own) reads for the sound
// server to connect to, such as tcp:127.0.0.1:24713.
const PulseServerEnv = "PULSE_SERVER"

// Sound-over-SSH instructions, the standard way: PulseAudio's (or
// PipeWire's) native protocol through an SSH reverse tunnel. 127.0.0.1, not
// localhost: localhost may resolve to ::1, which auth-ip-acl=127.0.0.1
// refuses.
const (
	DeskLoadModule  = "pactl load-module module-native-protocol-tcp port=4713 auth-ip-acl=127.0.0.1"
	TunnelPort      = 24713
	DeskPulseServer = "tcp:127.0.0.1:24713"
)

// SoundPlace says where the phone's microphone and speaker are: on this
// machine, on this machine while the user is elsewhere (an SSH session), or
// on a PulseAudio server named by PULSE_SERVER (typically the user's desk
// through an SSH tunnel).
type SoundPlace struct {
	// Host is this machine's name.
	Host string
	// OverSSH is set when the phone runs inside an SSH session
	// (SSH_CONNECTION is set).
	OverSSH bool
	// PulseServer is PULSE_SERVER's value, "" when unset (libpulse then
	// uses this machine's own server).
	PulseServer string
}

// FindSoundPlace reads the environment through getenv.
func FindSoundPlace(getenv func(string) string, host string) SoundPlace {
	return SoundPlace{
		Host:        host,
		OverSSH:     getenv("SSH_CONNECTION") != "",
		PulseServer: strings.TrimSpace(getenv(PulseServerEnv)),
	}
}

// Notable reports whether the place is worth showing: sound that is not
// simply this machine's own, or a user who is not sitting at it.
func (p SoundPlace) Notable() bool { return p.OverSSH || p.PulseServer != "" }

// Short is the header's words: "sound: on devbox" or "sound: via
// tcp:127.0.0.1:24713". It is "" when the sound is simply this machine's.
func (p SoundPlace) Short() string {
	switch {
	case p.PulseServer != "":
		return "sound: via " + p.PulseServer
	case p.OverSSH:
		return "sound: on " + p.hostName()
	}
	return ""
}

func (p SoundPlace) hostName() string {
	if p.Host == "" {
		return "this machine"
	}
	return p.Host
}

// Explain is the longer text for help screens and `softphone devices`:
// where the sound is, and over SSH how to bring it to the user's desk. Each
// command is on a line of its own.
func (p SoundPlace) Explain() string {
	var b strings.Builder
	switch {
	case p.PulseServer != "":
		fmt.Fprintf(&b, "Sound goes to the PulseAudio server %s (from %s).\n", p.PulseServer, PulseServerEnv)
		if p.OverSSH {
			b.WriteString("If it is your desk's server through an SSH tunnel, you hear the call at your desk.\n")
		}
		b.WriteString("If no sound device works, check that the server answers: pactl info.")
		return b.String()
	case !p.OverSSH:
		return "Sound uses this machine's own devices."
	}
	host := p.hostName()
	fmt.Fprintf(&b, "This phone runs on %s over SSH: its microphone and speaker are %s's, not your desk's. To talk through your own:\n", host, host)
	fmt.Fprintf(&b, "  on your desk:  %s\n", DeskLoadModule)
	fmt.Fprintf(&b, "  connect:       ssh -R %d:127.0.0.1:4713 %s\n", TunnelPort, host)
	fmt.Fprintf(&b, "  run:           %s=%s softphone ...", PulseServerEnv, DeskPulseServer)
	return b.String()
}
