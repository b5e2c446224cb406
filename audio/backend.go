package audio

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/gen2brain/malgo"
)

// Backend is an audio system the pipeline can open devices on.
type Backend int

const (
	// BackendNone means no device is in use: the pipeline runs on
	// generators and files (tone, wav, silence, echo, none).
	BackendNone Backend = iota
	// BackendPulseAudio is PulseAudio, or PipeWire's PulseAudio server.
	BackendPulseAudio
	// BackendALSA is ALSA, the kernel's sound interface.
	BackendALSA
	// BackendJACK is the JACK audio server.
	BackendJACK
	// BackendNull is miniaudio's null device: real-time callbacks with
	// silent capture and discarded playback. It stands in when no device
	// works, so calls still connect.
	BackendNull
)

func (b Backend) String() string {
	switch b {
	case BackendNone:
		return "none"
	case BackendPulseAudio:
		return "PulseAudio"
	case BackendALSA:
		return "ALSA"
	case BackendJACK:
		return "JACK"
	case BackendNull:
		return "null"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// malgoNullBackend is miniaudio's null backend. malgo v0.11.24's
// malgo.BackendNull (13) is really ma_backend_custom, which fails with
// "No backend"; ma_backend_null comes right after it in miniaudio's enum.
const malgoNullBackend = malgo.Backend(14)

func (b Backend) malgo() (malgo.Backend, bool) {
	switch b {
	case BackendPulseAudio:
		return malgo.BackendPulseaudio, true
	case BackendALSA:
		return malgo.BackendAlsa, true
	case BackendJACK:
		return malgo.BackendJack, true
	case BackendNull:
		return malgoNullBackend, true
	}
	return 0, false
}

// DefaultBackends is the order devices are tried in: PulseAudio first
// (PipeWire desktops serve it too, and it mixes with other programs), then
// ALSA, then JACK. The null backend is the fallback, not part of the list.
func DefaultBackends() []Backend {
	return []Backend{BackendPulseAudio, BackendALSA, BackendJACK}
}

// initContext initializes one backend. miniaudio's diagnostics go to logger
// at debug level; nothing reaches stderr.
func initContext(b Backend, logger *slog.Logger) (*malgo.AllocatedContext, error) {
	mb, ok := b.malgo()
	if !ok {
		return nil, fmt.Errorf("%w: %v is not a device backend", ErrDevice, b)
	}
	silenceCLibraries()
	ctx, err := malgo.InitContext([]malgo.Backend{mb}, malgo.ContextConfig{}, func(msg string) {
		if msg = strings.TrimSpace(msg); msg != "" {
			logger.Debug("miniaudio", "backend", b.String(), "msg", msg)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%v not available: %w", b, err)
	}
	return ctx, nil
}

// freeContext uninitializes and frees a context.
func freeContext(ctx *malgo.AllocatedContext) {
	if ctx == nil {
		return
	}
	_ = ctx.Uninit()
	ctx.Free()
}

// DeviceInfo describes one capture or playback device.
type DeviceInfo struct {
	// Name is the human name, such as "Built-in Audio Analog Stereo".
	Name string
	// ID is the backend's id: a PulseAudio sink or source name, an ALSA
	// PCM name such as hw:0,0, a JACK port number.
	ID string
	// Default marks the backend's default device.
	Default bool

	id malgo.DeviceID
}

// listDevices returns a context's devices of one kind.
func listDevices(ctx *malgo.AllocatedContext, b Backend, kind malgo.DeviceType) ([]DeviceInfo, error) {
	infos, err := ctx.Devices(kind)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, 0, len(infos))
	for i := range infos {
		out = append(out, DeviceInfo{
			Name:    infos[i].Name(),
			ID:      deviceIDString(b, infos[i].ID),
			Default: infos[i].IsDefault != 0,
			id:      infos[i].ID,
		})
	}
	return out, nil
}

// deviceIDString renders a miniaudio device id: the text for backends whose
// ids are names (PulseAudio, ALSA), the number for JACK, hex otherwise.
func deviceIDString(b Backend, id malgo.DeviceID) string {
	n := 0
	for n < len(id) && id[n] != 0 {
		n++
	}
	printable := n > 0
	for _, c := range id[:n] {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	switch {
	case b == BackendJACK:
		return fmt.Sprint(int32(uint32(id[0]) | uint32(id[1])<<8 | uint32(id[2])<<16 | uint32(id[3])<<24))
	case printable:
		return string(id[:n])
	case n == 0:
		return ""
	}
	return id.String()
}

// matchDevice finds the device a NAME means: an exact id, else an exact name,
// else a name or id containing NAME, case-insensitively. More than one match
// at the deciding step is ambiguous.
func matchDevice(devs []DeviceInfo, name string) (DeviceInfo, error) {
	low := strings.ToLower(strings.TrimSpace(name))
	steps := []func(d DeviceInfo) bool{
		func(d DeviceInfo) bool { return strings.ToLower(d.ID) == low },
		func(d DeviceInfo) bool { return strings.ToLower(d.Name) == low },
		func(d DeviceInfo) bool {
			return strings.Contains(strings.ToLower(d.Name), low) || strings.Contains(strings.ToLower(d.ID), low)
		},
	}
	for _, match := range steps {
		var found []DeviceInfo
		for _, d := range devs {
			if match(d) {
				found = append(found, d)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		var names []string
		for _, d := range found {
			names = append(names, fmt.Sprintf("%q (id %s)", d.Name, d.ID))
		}
		return DeviceInfo{}, fmt.Errorf("%w: %q matches %s; give more of the name or the id", ErrAmbiguousDevice, name, strings.Join(names, ", "))
	}
	return DeviceInfo{}, fmt.Errorf("%w: nothing matches %q", ErrDeviceNotFound, name)
}
