package audio

import (
	"fmt"
	"time"
)

// watchdogPeriod is how often the run loop checks the health of running
// devices when they are quiet. Device wakeups check it too; this catches a
// device that stopped calling back altogether, within deviceStallTimeout
// plus this.
const watchdogPeriod = 500 * time.Millisecond

// runState is the run loop's view of what it drives.
type runState struct {
	// capOn and playOn: the side runs in the current mode.
	capOn, playOn bool
	// capDev and playDev are the side's devices (nil: none). A capture
	// device may be open while capOn is false (ModeDialing).
	capDev, playDev *device
	// call is the call the capture side last started for (modeWant.call).
	call uint64
	// capClock and playClock: the side runs on the pipeline clock, because
	// it has no device or its device stopped delivering.
	capClock, playClock bool
	// clock counts frames for every side on the pipeline clock: one ticker
	// drives both, so two clocked sides cost one wakeup per frame.
	clock    frameClock
	ticking  bool
	watching bool
	// rephase: a clocked capture side just started for a call; its first
	// frame goes out now, not on the beat of a clock that was already
	// running (for the ringtone), up to 20 ms later.
	rephase bool
}

type clockChange int

const (
	clockKeep clockChange = iota
	clockStart
	clockStop
)

// updateClock starts the pipeline clock when a side needs it, stops it when
// none does, and starts it afresh when a clocked capture side just started
// for a call (rephase). It says what the ticker must do.
func (rs *runState) updateClock(now time.Time) clockChange {
	needClock := (rs.capOn && rs.capClock) || (rs.playOn && rs.playClock)
	rephase := rs.rephase
	rs.rephase = false
	switch {
	case needClock && (!rs.ticking || rephase):
		rs.clock = frameClock{start: now}
		rs.ticking = true
		return clockStart
	case !needClock && rs.ticking:
		rs.ticking = false
		return clockStop
	}
	return clockKeep
}

// run is the pipeline's one audio goroutine. Each wakeup — a device callback
// that completed or needs a frame, the 20 ms ticker of the clocked sides,
// the device watchdog, a new activeSet — does every step that is due: a
// capture device's full frames are encoded, the playback ring is topped up,
// and the clocked sides produce the frames their clock says are due. In
// ModeIdle nothing is selected but done and runCh, so it sleeps.
func (p *Pipeline) run() {
	defer p.wg.Done()
	ticker := time.NewTicker(FrameDuration)
	ticker.Stop()
	defer ticker.Stop()
	watch := time.NewTicker(watchdogPeriod)
	watch.Stop()
	defer watch.Stop()
	src := p.src
	if src == nil {
		src = silenceSource{} // a device microphone that stopped
	}
	var rs runState
	for {
		var tickC, watchC <-chan time.Time
		var capWake, playWake chan struct{}
		if rs.ticking {
			tickC = ticker.C
		}
		if rs.watching {
			watchC = watch.C
		}
		if rs.capOn && rs.capDev != nil {
			capWake = rs.capDev.wake
		}
		if rs.playOn && rs.playDev != nil {
			playWake = rs.playDev.wake
		}
		select {
		case <-p.done:
			return
		case <-p.runCh:
			p.follow(&rs, time.Now())
		case <-capWake:
		case <-playWake:
		case <-tickC:
		case <-watchC:
		}
		p.wakeups.Add(1)
		now := time.Now()
		p.checkDevices(&rs, now)

		switch rs.updateClock(now) {
		case clockStart:
			ticker.Reset(FrameDuration)
		case clockStop:
			ticker.Stop()
		}
		needWatch := (rs.capOn && rs.capDev != nil) || (rs.playOn && rs.playDev != nil)
		switch {
		case needWatch && !rs.watching:
			watch.Reset(watchdogPeriod)
			rs.watching = true
		case !needWatch && rs.watching:
			watch.Stop()
			rs.watching = false
		}

		if rs.ticking {
			n, skipped := rs.clock.due(now)
			if rs.capOn && rs.capClock {
				p.cs.dropped += skipped
				for range n {
					src.read(p.cs.frame[:])
					if p.src == nil {
						// A microphone device that stopped: silence,
						// still through the processing's delay.
						p.voice.processClocked(p.cs.frame[:])
					}
					p.sendFrame()
				}
			}
			if rs.playOn && rs.playClock {
				for range n {
					p.playClocked()
				}
			}
		}
		// The speaker first: after a stall the microphone has several
		// frames waiting, and the echo canceller pairs each with a frame
		// the speaker played; topping the speaker up first keeps that
		// pairing from running dry.
		if rs.playOn && !rs.playClock {
			p.playDevice(rs.playDev)
		}
		if rs.capOn && !rs.capClock {
			p.captureDevice(rs.capDev)
		}
	}
}

// follow takes the activeSet manageDevices published last and starts or
// stops each side accordingly.
func (p *Pipeline) follow(rs *runState, now time.Time) {
	a := p.active.Load()
	if a == nil {
		return
	}
	capOn := a.mode.sends()
	if capOn && (!rs.capOn || a.capture != rs.capDev || a.call != rs.call) {
		// The capture side starts, for a new call (even if this loop
		// never saw the last one end), or its device was reopened.
		if rs.capOn && a.call != rs.call {
			// The last call ended unseen: what its voice processing
			// found is logged before it is forgotten.
			p.voice.logCall(p.logger)
		}
		rs.call = a.call
		rs.capClock = a.capture == nil
		rs.rephase = rs.capClock
		p.cs.dropped = 0
		if d := a.capture; d != nil {
			// Audio from before the call (a device kept open from an
			// earlier call) is not this call's.
			d.ring.Discard(d.ring.Len())
			p.cs.ringDropped = d.ring.dropped.Load()
		}
		// The last call's audio must not come back: not from the
		// encoder's memory, nor from the echo line.
		if err := p.enc.Reset(); err != nil {
			p.logger.Warn("audio: resetting the encoder", "err", err)
		}
		if p.echo != nil {
			p.echo.reset()
		}
		// Nor its echo path, noise or level: the devices were opened
		// afresh.
		p.voice.reset()
	}
	if !capOn && rs.capOn {
		p.localLevel.Store(0)
		p.voice.logCall(p.logger)
	}
	rs.capOn, rs.capDev = capOn, a.capture

	playOn := a.mode.plays()
	if playOn && (!rs.playOn || a.playback != rs.playDev) {
		// The playout starts (or its device was reopened).
		rs.playClock = a.playback == nil
		if !rs.playOn {
			p.fillRecording(now)
		}
	}
	if a.playback != p.voicePlay || !playOn {
		// A fresh speaker device counts its positions from zero: the
		// voice chain pairs anew.
		p.voicePlay = nil
		if playOn {
			p.voicePlay = a.playback
		}
		p.voice.restart()
	}
	rs.playOn, rs.playDev = playOn, a.playback
}

// checkDevices moves a side whose device stopped delivering onto the
// pipeline clock, and back when the device calls back again.
func (p *Pipeline) checkDevices(rs *runState, now time.Time) {
	if dev := rs.capDev; rs.capOn && dev != nil {
		if p.checkDevice(dev, &rs.capClock, now, issueMic, "capture",
			fmt.Sprintf("The microphone %q stopped (unplugged?): sending silence.", dev.name)) {
			dev.ring.Discard(dev.ring.Len()) // stale audio from before the gap
		}
	}
	if dev := rs.playDev; rs.playOn && dev != nil {
		p.checkDevice(dev, &rs.playClock, now, issueSpeaker, "playback",
			fmt.Sprintf("The speaker %q stopped (unplugged?): you will not hear the others.", dev.name))
	}
}

// checkDevice moves one side onto the pipeline clock (*onClock) when its
// device stops calling back, with warning as the user-visible issue, and
// off it when the device is back; it reports the latter.
func (p *Pipeline) checkDevice(dev *device, onClock *bool, now time.Time, issue int, side, warning string) (back bool) {
	switch ok := dev.healthy(now); {
	case *onClock && ok:
		*onClock = false
		p.logger.Info("audio: "+side+" device is back", "device", dev.name)
		p.setIssue(issue, "")
		return true
	case !*onClock && !ok:
		*onClock = true
		p.logger.Warn("audio: "+side+" device stopped calling back", "device", dev.name)
		p.setIssue(issue, warning)
	}
	return false
}

// playClocked produces one frame on the pipeline clock: to the recording,
// or nowhere (a none speaker, a speaker that stopped).
func (p *Pipeline) playClocked() {
	p.mixFrame(time.Now())
	if p.wav != nil && p.wav.Err() == nil {
		if err := p.wav.Write(p.ps.out[:]); err != nil {
			p.recordingFailed(err)
		}
	}
	p.wavFrames++
	p.framePlayed()
}

// fillRecording brings a wav: recording up to now with silence. The
// playout does not run while the pipeline is idle, but the recording keeps
// the wall clock's timeline: its sample n is n/48000 s after Open, as when
// it recorded every frame, so a test can line a recording up with a log.
// The silence costs no wakeups: it is written when the playout starts
// again, and at Close.
func (p *Pipeline) fillRecording(now time.Time) {
	if p.wav == nil || p.wav.Err() != nil {
		return
	}
	gap := int64(now.Sub(p.wavStart)/FrameDuration) - p.wavFrames
	if gap <= 0 {
		return
	}
	if err := p.wav.WriteSilence(gap * FrameSamples); err != nil {
		p.recordingFailed(err)
		return
	}
	p.wavFrames += gap
	p.framesPlayed.Add(uint64(gap))
}

func (p *Pipeline) recordingFailed(err error) {
	p.logger.Error("audio: recording failed", "err", err)
	p.setIssue(issueRecording, fmt.Sprintf("Recording stopped: %v.", err))
}
