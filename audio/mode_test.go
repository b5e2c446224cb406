package audio

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{
		ModeIdle: "idle", ModeRinging: "ringing", ModeDialing: "dialing", ModeCall: "call", Mode(9): "Mode(9)",
	} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
	if _, err := Open(Config{Mic: "silence", Speaker: "none", Mode: Mode(-1)}); err == nil {
		t.Error("Open accepted an unknown mode")
	}
}

// TestPipelineModes walks a pipeline with a tone microphone and a wav:
// speaker through a call's life: idle (nothing runs, not one wakeup),
// ringing (the ringtone plays, nothing is sent), a call (the tone is sent,
// and heard back through a remote), idle again. The recording keeps the
// wall clock's timeline: silence where the pipeline was idle.
func TestPipelineModes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "modes.wav")
		p := mustOpen(t, Config{Mic: "tone:440", Speaker: "wav:" + out})
		if m := p.Mode(); m != ModeIdle {
			t.Fatalf("a pipeline opens in %v, want idle", m)
		}
		var sent atomic.Int64
		r, _ := p.AddRemote("self")
		var seq uint16
		var ts uint32
		p.SetPacketHandler(func(pk Packet) {
			sent.Add(1)
			r.Push(seq, ts, 1, pk.Payload)
			seq++
			ts += FrameSamples
		})
		stats := func() PipelineStats { synctest.Wait(); return p.Stats() }

		time.Sleep(time.Second) // 0–1 s: idle
		st := stats()
		if st.Wakeups > 1 || st.FramesSent+st.FramesPlayed != 0 || p.LocalLevel() != 0 {
			t.Errorf("idle: %d wakeups, %d frames sent, %d played, level %d; want nothing at all", st.Wakeups, st.FramesSent, st.FramesPlayed, p.LocalLevel())
		}

		p.Ring(RingIncoming) // 1–2 s: ringing
		p.SetMode(ModeRinging)
		time.Sleep(time.Second)
		if st := stats(); sent.Load() != 0 || p.LocalLevel() != 0 || st.FramesPlayed < 99 || st.FramesPlayed > 101 {
			t.Errorf("ringing: %d packets sent, level %d, %d frames recorded (with the idle second); want 0, 0, 100", sent.Load(), p.LocalLevel(), st.FramesPlayed)
		}

		p.Ring(RingOff) // 2–3 s: in a call
		p.SetMode(ModeCall)
		ringing := stats()
		time.Sleep(time.Second)
		if n := sent.Load(); n < 49 || n > 51 || p.LocalLevel() != 80 {
			t.Errorf("call: %d packets in 1 s, level %d; want 50 and 80", n, p.LocalLevel())
		}
		if st := stats(); st.Wakeups-ringing.Wakeups > st.FramesPlayed-ringing.FramesPlayed+1 {
			t.Errorf("call: %d wakeups for %d frames each way: want one wakeup per frame for both directions", st.Wakeups-ringing.Wakeups, st.FramesPlayed-ringing.FramesPlayed)
		}

		p.SetMode(ModeIdle) // 3–4 s: idle again
		time.Sleep(10 * time.Millisecond)
		before, n := stats(), sent.Load()
		time.Sleep(990 * time.Millisecond)
		if st := stats(); st.Wakeups != before.Wakeups || sent.Load() != n || p.LocalLevel() != 0 {
			t.Errorf("idle after the call: %d wakeups, %d packets, level %d; want none and 0", st.Wakeups-before.Wakeups, sent.Load()-n, p.LocalLevel())
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}

		pcm := readWAVFile(t, out)
		if d := float64(len(pcm)) / SampleRate; d < 3.98 || d > 4.02 {
			t.Errorf("recorded %.2f s in 4 s", d)
		}
		checkLevels(t, pcm, []levelSpan{
			{"idle", 0, 1, 0, 0},
			{"first ring", 1.05, 1.35, 80, 86},
			{"gap between rings", 1.45, 1.55, 0, 0},
			{"own tone back", 2.1, 2.95, 75, 85},
			{"idle again", 3.05, 4, 0, 0},
		})
		wantFreq(t, "own tone", window(pcm, 2.1, 2.95), 440)
	})
}

// TestOneWakeupPerFrame: with a generator microphone and a none speaker,
// one ticker drives both directions, so a second of call costs 50 wakeups,
// not 100 (two loops) or 150.
func TestOneWakeupPerFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustOpen(t, Config{Mode: ModeCall, Mic: "tone:440", Speaker: "none", OnPacket: func(Packet) {}})
		defer p.Close()
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		before := p.Stats()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st := p.Stats()
		sent, played, wakes := st.FramesSent-before.FramesSent, st.FramesPlayed-before.FramesPlayed, st.Wakeups-before.Wakeups
		if sent != 100 || played != 100 || wakes != 100 {
			t.Errorf("2 s of call: %d frames sent, %d played, %d wakeups; want 100, 100, 100", sent, played, wakes)
		}
	})
}

// TestEchoStartsFreshEachCall: the echo bot's line is emptied between
// calls, so a new call does not hear the end of the last one, and the echo
// still comes back EchoDelay after the caller starts talking.
func TestEchoStartsFreshEachCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "me.wav")
		me := mustOpen(t, Config{Mic: "tone:660", Speaker: "wav:" + out})
		bot := mustOpen(t, Config{Mic: "echo", Speaker: "none"})
		call := func(ssrc uint32) {
			ra, _ := bot.AddRemote("me")
			rb, _ := me.AddRemote("bot")
			wire(me, ra, ssrc)
			wire(bot, rb, ssrc+1)
			me.SetMode(ModeCall)
			bot.SetMode(ModeCall)
		}
		hangUp := func() {
			me.SetMode(ModeIdle)
			bot.SetMode(ModeIdle)
			me.RemoveRemote("bot")
			bot.RemoveRemote("me")
		}
		call(1) // 0–1.5 s: the bot echoes the tone
		time.Sleep(1500 * time.Millisecond)
		hangUp() // 1.5–2 s: idle
		time.Sleep(500 * time.Millisecond)
		me.SetMuted(true) // 2–3 s: a second call, muted at first
		call(3)
		time.Sleep(time.Second)
		me.SetMuted(false) // 3–4.5 s: talking
		time.Sleep(1500 * time.Millisecond)
		me.Close()
		bot.Close()

		pcm := readWAVFile(t, out)
		if l := energy(pcm, 1, 1.5); l < 70 {
			t.Errorf("first call: echo level %d", l)
		}
		// Frame by frame: a leak is one or two quiet frames, which the
		// level of the whole 1.5 s would average away (a -45 dBFS frame
		// reads 0 over 75 frames).
		for i := 2 * SampleRate; i < 7*SampleRate/2; i += FrameSamples {
			if l := Level(pcm[i : i+FrameSamples]); l != 0 {
				t.Errorf("second call, before my voice can come back: level %d at %.2f s; the last call's audio leaked", l, float64(i)/SampleRate)
			}
		}
		onset := -1.0
		for i := 3 * SampleRate; i+FrameSamples <= len(pcm); i += FrameSamples {
			if Level(pcm[i:i+FrameSamples]) > 40 {
				onset = float64(i)/SampleRate - 3
				break
			}
		}
		if onset < 0.5 || onset > 0.62 {
			t.Errorf("second call: echo heard %.3f s after unmuting, want 0.5 s plus the path", onset)
		}
		wantFreq(t, "second call's echo", window(pcm, 3.7, 4.4), 660)
	})
}

// TestANewCallStartsFreshAfterAFastHangUp: a hang-up followed at once by the
// next call may reach the run loop as one change, from a call to a call
// (manageDevices and the run loop take only the latest): the new call still
// starts with an empty echo line and a fresh encoder. The run loop's steps
// are driven by hand, so the missed hang-up happens every time.
func TestANewCallStartsFreshAfterAFastHangUp(t *testing.T) {
	p, err := newPipeline(Config{Mic: "echo", Speaker: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var last []byte
	p.SetPacketHandler(func(pk Packet) { last = append(last[:0], pk.Payload...) })
	var rs runState
	apply := func() { // manageDevices, then the run loop, see the latest mode
		p.applyMode(*p.want.Load(), nil, nil)
		p.follow(&rs, time.Now())
	}
	// frame is one 20 ms step of the bot: what it hears goes into the
	// echo line (as mixFrame does), what the line gives back is sent.
	frame := func(heard []int16) {
		p.echo.ring.Write(heard)
		p.src.read(p.cs.frame[:])
		p.sendFrame()
	}

	p.SetMode(ModeCall)
	apply()
	for _, f := range toneFrames(t, 660, DefaultToneAmplitude, 50) { // the first call: a second of tone
		frame(f)
	}
	p.SetMode(ModeIdle)
	p.SetMode(ModeCall)
	apply()

	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, MaxPacketSamples)
	silence := make([]int16, FrameSamples)
	for i := range int(EchoDelay / FrameDuration) {
		frame(silence)
		n, err := dec.Decode(last, pcm)
		if err != nil {
			t.Fatal(err)
		}
		if l := Level(pcm[:n]); l != 0 {
			t.Errorf("new call, frame %d: level %d; the last call's audio came back", i, l)
		}
	}
}
