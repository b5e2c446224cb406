package audio

import (
	"fmt"

	"github.com/gen2brain/malgo"
)

// activeSet is what manageDevices set up for a mode: the mode and the
// devices started for it. A nil device means that side has no device (a
// generator microphone, a wav: or none speaker, or a device that failed to
// open) and runs on the pipeline's own clock.
type activeSet struct {
	mode              Mode
	call              uint64 // see modeWant
	capture, playback *device
}

// manageDevices opens and closes the devices as the mode changes, and hands
// the run loop each new activeSet. Opening and closing go through the sound
// server and may take milliseconds (or seconds, from a server in trouble):
// here they hold up neither the audio nor the engine, which calls SetMode
// with its lock held. Between mode changes it sleeps on a channel and costs
// nothing. When the pipeline closes it closes every device and frees the
// contexts, then closes p.released.
func (p *Pipeline) manageDevices() {
	defer close(p.released)
	// The devices Open initialized to check them: started if the first
	// mode needs them, closed if not.
	capDev, playDev := p.devs.capture, p.devs.playback
	p.devs.capture, p.devs.playback = nil, nil
	defer func() {
		capDev.close()
		playDev.close()
		p.devs.close()
	}()
	for {
		capDev, playDev = p.applyMode(*p.want.Load(), capDev, playDev)
		select {
		case <-p.done:
			return
		case <-p.modeCh:
		}
	}
}

// applyMode makes the devices match w's mode m: it starts or opens what m
// needs, publishes the new activeSet, then closes what m does not need. It
// returns the devices now open.
func (p *Pipeline) applyMode(w modeWant, capDev, playDev *device) (*device, *device) {
	m := w.mode
	var retire []*device
	// A device that stopped by itself (unplugged, its stream killed) is
	// reopened: the mode change is the chance to find it again.
	for _, d := range []**device{&capDev, &playDev} {
		if *d != nil && (*d).stopped.Load() {
			retire = append(retire, *d)
			*d = nil
		}
	}
	if slot := p.devs.playSlot; slot != nil && m.plays() {
		playDev = p.ensureDevice(slot, playDev, false)
	} else if playDev != nil {
		retire = append(retire, playDev)
		playDev = nil
	}
	if slot := p.devs.capSlot; slot != nil && m.opensMic() {
		// A microphone opened ahead of the call drops what it hears until
		// the call begins.
		capDev = p.ensureDevice(slot, capDev, !m.sends())
	} else if capDev != nil {
		retire = append(retire, capDev)
		capDev = nil
	}

	p.statsMu.Lock()
	for _, d := range retire {
		if d.started {
			if d.kind == malgo.Playback {
				p.retiredPlay = p.retiredPlay.add(d.ring.Stats())
			} else {
				p.retiredCap = p.retiredCap.add(d.ring.Stats())
			}
		}
	}
	p.active.Store(&activeSet{mode: m, call: w.call, capture: capDev, playback: playDev})
	p.statsMu.Unlock()
	select {
	case p.runCh <- struct{}{}:
	default:
	}

	// The run loop may still touch a retired device's ring for a moment:
	// harmless, the ring outlives the device.
	for _, d := range retire {
		d.close()
		p.logger.Debug("audio: device closed", "device", d.name, "mode", m)
	}
	return capDev, playDev
}

// ensureDevice returns a started device for slot: d itself if it is open
// (d may be one Open initialized and not yet started), else a freshly
// opened one. A device that fails to open leaves that side on the
// pipeline's clock, with a warning, until a later mode change opens it.
func (p *Pipeline) ensureDevice(slot *deviceSlot, d *device, discard bool) *device {
	issue, what := issueSpeaker, "speaker"
	effect := "you will not hear the others"
	if slot.kind != malgo.Playback {
		issue, what = issueMic, "microphone"
		effect = "sending silence"
	}
	if d != nil {
		d.discard.Store(discard)
		if d.started {
			return d
		}
		// Initialized by Open, never started.
		d.onPlayed = slot.onPlayed
		if err := d.start(); err == nil {
			p.logger.Debug("audio: device started", "device", d.name)
			return d
		}
		// A device can fail to start after it opened (another program
		// took it): fall through and open it afresh.
	}
	d, err := slot.open(discard)
	if err != nil {
		p.logger.Warn("audio: opening a device failed", "device", slot.name, "err", err)
		p.setIssue(issue, fmt.Sprintf("The %s %q could not be opened (%v): %s.", what, slot.name, err, effect))
		return nil
	}
	p.logger.Debug("audio: device opened", "device", d.name)
	p.setIssue(issue, "")
	return d
}
