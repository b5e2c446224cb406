package loadtest

import (
	"context"
	"time"

	"softphone/audio"
	"softphone/engine"
)

// mediaCall runs one call between two engines: Call → onCallReceived →
// Accept → onCallBegin at both → audio arriving at both → (hold) → the
// receivers' audio statistics → Hangup → onCallEnd at both.
func (r *loadRun) mediaCall(caller, callee *loadUser) callResult {
	var res callResult
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	t0 := time.Now()
	err := res.timed("invite", func() error {
		return caller.eng.Call(ctx, []string{callee.id}, engine.CallParams{Timeout: r.cfg.CallTimeout})
	})
	if err != nil {
		return res.fail("invite", err)
	}
	ev, err := callee.await(ctx, func(ev engine.Event) bool { _, ok := ev.(engine.CallReceived); return ok })
	if err != nil {
		return res.fail("onCallReceived", err)
	}
	res.callID = ev.(engine.CallReceived).CallID
	if err := res.timed("accept", func() error { return callee.eng.Accept(ctx) }); err != nil {
		return res.fail("accept", err)
	}
	began := func(ev engine.Event) bool { b, ok := ev.(engine.CallBegin); return ok && b.CallID == res.callID }
	if _, err := callee.await(ctx, began); err != nil {
		return res.fail("callee onCallBegin", err)
	}
	if _, err := caller.await(ctx, began); err != nil {
		return res.fail("caller onCallBegin", err)
	}
	res.setup = time.Since(t0)
	if err := awaitAudio(ctx, caller, callee); err != nil {
		res.audio = &AudioHealth{CallsWithoutAudio: 1}
		return res.fail("audio", err)
	}
	res.audioSetup = time.Since(t0)
	cancel()

	time.Sleep(r.cfg.Hold)
	// The statistics go with the call: take them before hanging up.
	res.audio = &AudioHealth{Calls: 1}
	for _, pair := range [][2]*loadUser{{caller, callee}, {callee, caller}} {
		st, ok := pair[0].eng.RemoteAudioStats()[pair[1].id]
		if !ok {
			res.audio.CallsWithoutAudio = 1
			continue
		}
		res.audio.add(st)
		r.log.Debug("receiver audio", "receiver", pair[0].id, "from", pair[1].id, "received", st.Received,
			"late", st.Late, "concealed", st.Concealed, "lost", st.Lost, "resyncs", st.Resyncs, "target", st.TargetDelay, "jitter", st.Jitter)
	}
	ctx, cancel = context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	if err := res.timed("hangup", func() error { return caller.eng.Hangup(ctx) }); err != nil {
		return res.fail("hangup", err)
	}
	ended := func(ev engine.Event) bool { e, ok := ev.(engine.CallEnd); return ok && e.CallID == res.callID }
	if _, err := caller.await(ctx, ended); err != nil {
		return res.fail("caller onCallEnd", err)
	}
	if _, err := callee.await(ctx, ended); err != nil {
		return res.fail("callee onCallEnd", err)
	}
	return res
}

func (a *AudioHealth) add(st audio.RemoteStats) {
	a.Received += st.Received
	a.Lost += st.Lost
	a.FECRecovered += st.FECRecovered
	a.Late += st.Late
	a.Concealed += st.Concealed
	a.DecodeErrors += st.DecodeErrors
}

// await reads the user's call-state events until want matches one. The call
// ending another way, or the session ending, fails.
func (u *loadUser) await(ctx context.Context, want func(engine.Event) bool) (engine.Event, error) {
	for {
		select {
		case ev, ok := <-u.evs:
			if !ok {
				return nil, loadError("engine closed")
			}
			if want(ev) {
				return ev, nil
			}
			// Connection changes are not failures by themselves: the
			// engine reconnects and resumes, and a session that ends
			// says so with its own event.
			switch ev.(type) {
			case engine.CallCancelled:
				return nil, loadError("onCallCancelled")
			case engine.CallEnd:
				return nil, loadError("onCallEnd before its time")
			case engine.KickedOffline:
				return nil, loadError("onKickedOffline")
			case engine.UserSigExpired:
				return nil, loadError("onUserSigExpired")
			}
		case <-ctx.Done():
			return nil, loadError("nothing within the call timeout")
		}
	}
}

// audioPoll is how often awaitAudio looks at the receive statistics: a
// small part of the 20 ms packet interval, so the audio setup time it
// measures is close to the true one.
const audioPoll = 2 * time.Millisecond

// awaitAudio waits until each of a and b has received audio from the other.
func awaitAudio(ctx context.Context, a, b *loadUser) error {
	t := time.NewTicker(audioPoll)
	defer t.Stop()
	for {
		if a.eng.RemoteAudioStats()[b.id].Received > 0 && b.eng.RemoteAudioStats()[a.id].Received > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return loadError("no audio arrived within the call timeout")
		case <-t.C:
		}
	}
}
