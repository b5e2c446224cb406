package audio

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gen2brain/malgo"
)

// BackendDevices is what one backend offers: its devices and whether its
// default devices open.
type BackendDevices struct {
	Backend Backend
	// Err is why the backend is not available at all (no server, library
	// not installed); the other fields are then empty.
	Err      error
	Capture  []DeviceInfo
	Playback []DeviceInfo
	// CaptureErr and PlaybackErr say why the default device of that kind
	// cannot be opened (nil: it opens).
	CaptureErr, PlaybackErr error
}

// ListDevices lists the capture and playback devices of every backend
// (DefaultBackends when nil) and tries to open each backend's default
// devices, so that the list says what `--mic default` and `--speaker
// default` would get. It prints nothing; logger (nil: discard) receives
// miniaudio's diagnostics.
func ListDevices(backends []Backend, logger *slog.Logger) []BackendDevices {
	if backends == nil {
		backends = DefaultBackends()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var out []BackendDevices
	for _, b := range backends {
		bd := BackendDevices{Backend: b}
		ctx, err := initContext(b, logger)
		if err != nil {
			bd.Err = err
			out = append(out, bd)
			continue
		}
		bd.Capture, err = listDevices(ctx, b, malgo.Capture)
		if err == nil {
			bd.Playback, err = listDevices(ctx, b, malgo.Playback)
		}
		if err != nil {
			bd.Err = fmt.Errorf("listing devices: %w", err)
		}
		for _, k := range []malgo.DeviceType{malgo.Capture, malgo.Playback} {
			d := newDevice(k, b, "probe")
			err := d.init(ctx, nil)
			if err == nil {
				err = d.start()
			}
			d.close()
			if k == malgo.Capture {
				bd.CaptureErr = err
			} else {
				bd.PlaybackErr = err
			}
		}
		freeContext(ctx)
		out = append(out, bd)
	}
	return out
}

// WriteDeviceList prints the result of ListDevices for people: per backend,
// the devices with their ids (a default is marked *), which PulseAudio
// server is used, then which devices the defaults resolve to and, when the
// sound is not simply this machine's (an SSH session, PULSE_SERVER), where
// it is.
func WriteDeviceList(w io.Writer, list []BackendDevices, place SoundPlace) error {
	var b strings.Builder
	var defCap, defPlay string
	for _, bd := range list {
		name := bd.Backend.String()
		if bd.Backend == BackendPulseAudio {
			if place.PulseServer != "" {
				name += " (server " + place.PulseServer + ", from " + PulseServerEnv + ")"
			} else {
				name += " (this machine's server)"
			}
		}
		if bd.Err != nil {
			fmt.Fprintf(&b, "%s: %v\n\n", name, shortErr(bd.Err, bd.Backend, place))
			continue
		}
		fmt.Fprintf(&b, "%s:\n", name)
		section := func(title string, devs []DeviceInfo, openErr error) {
			fmt.Fprintf(&b, "  %s:\n", title)
			if len(devs) == 0 {
				b.WriteString("    (none)\n")
			}
			width := 0
			for _, d := range devs {
				width = max(width, len(d.ID))
			}
			for _, d := range devs {
				mark := " "
				if d.Default {
					mark = "*"
				}
				fmt.Fprintf(&b, "  %s %-*s  %s\n", mark, width, d.ID, d.Name)
			}
			if openErr != nil {
				fmt.Fprintf(&b, "    the default %s device does not open (%v): no sound card, or another program holds it\n", title[:len(title)-len(" devices")], openErr)
			}
		}
		section("capture devices", bd.Capture, bd.CaptureErr)
		section("playback devices", bd.Playback, bd.PlaybackErr)
		b.WriteString("\n")
		if defCap == "" && bd.CaptureErr == nil {
			defCap = defaultName(bd.Capture, bd.Backend)
		}
		if defPlay == "" && bd.PlaybackErr == nil {
			defPlay = defaultName(bd.Playback, bd.Backend)
		}
	}
	none := defCap == "" && defPlay == ""
	if defCap == "" {
		defCap = "none works: the null device (the others hear silence)"
	}
	if defPlay == "" {
		defPlay = "none works: the null device (you hear nothing)"
	}
	fmt.Fprintf(&b, "--mic default:     %s\n--speaker default: %s\n", defCap, defPlay)
	b.WriteString("Pick a device with --mic NAME / --speaker NAME: any part of its name or id, case-insensitive.\n")
	if none {
		b.WriteString("No sound device works here (a server, or an SSH session?): calls still connect on the null device.\n")
	}
	if place.Notable() {
		b.WriteString("\n" + place.Explain() + "\n")
	} else if none {
		b.WriteString("See \"Over SSH\" in the README for bringing the sound to your desk.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func defaultName(devs []DeviceInfo, b Backend) string {
	for _, d := range devs {
		if d.Default {
			return fmt.Sprintf("%s (%v, id %s)", d.Name, b, d.ID)
		}
	}
	return fmt.Sprintf("the default device of %v", b)
}

// shortErr turns a context failure into a reason a user can act on.
func shortErr(err error, b Backend, place SoundPlace) string {
	switch {
	case b == BackendPulseAudio && place.PulseServer != "":
		return "not available (the server " + place.PulseServer + " does not answer: is the SSH tunnel up, and the desk's module-native-protocol-tcp loaded?)"
	case b == BackendPulseAudio:
		return "not available (no PulseAudio or PipeWire server is running for this user)"
	case b == BackendJACK:
		return "not available (no JACK server is running)"
	case b == BackendALSA:
		return "not available (ALSA library missing?): " + err.Error()
	}
	return "not available: " + err.Error()
}
