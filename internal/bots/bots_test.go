package bots

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"softphone/audio"
	"softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
	"softphone/signaling"
)

// botConfig is the engine config of a bot logged in to s.
func botConfig(s *calltest.Server, user string) engine.Config {
	return engine.Config{
		ServerURL: s.URL,
		UserID:    user,
		UserSig:   s.Ticket(user, time.Hour),
		Logger:    calltest.DebugLog(),
	}
}

func startEcho(t *testing.T, s *calltest.Server, bots ...string) *Bot {
	t.Helper()
	b, err := StartEcho(calltest.Ctx(t), botConfig(s, "echo"), EchoParams{Bots: bots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { calltest.Must(t, "close echo", b.Close()) })
	return b
}

func startCaller(t *testing.T, s *calltest.Server, p CallerParams) *Bot {
	t.Helper()
	b, err := StartCaller(calltest.Ctx(t), botConfig(s, "alice"), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { calltest.Must(t, "close alice", b.Close()) })
	return b
}

// readFrames reads a WAV recording as 20 ms frames.
func readFrames(t *testing.T, path string) [][]int16 {
	t.Helper()
	pcm := calltest.ReadWAV(t, path)
	var out [][]int16
	for i := 0; i+audio.FrameSamples <= len(pcm); i += audio.FrameSamples {
		out = append(out, pcm[i:i+audio.FrameSamples])
	}
	return out
}

// toneOnly reports whether frame is loud and carries hz, and not the
// ringback (whose 480 Hz partner comes with its 440 Hz).
func toneOnly(frame []int16, hz float64) bool {
	if audio.Level(frame) < 20 {
		return false
	}
	p := testenv.TonePower(frame, hz)
	return p > 1e-3 && p > 10*testenv.TonePower(frame, 480) && p > 10*testenv.TonePower(frame, 330)
}

// TestEchoBotReturnsYourToneHalfASecondLater calls the echo bot with a
// 440 Hz tone as the microphone and a WAV file as the speaker: the tone
// comes back, and it starts about audio.EchoDelay after the bot first hears
// it. The start is found in the recording itself: the user's played-frame
// count when the bot's first packet from the user arrives is the recording
// position of "the bot starts hearing you".
func TestEchoBotReturnsYourToneHalfASecondLater(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	echo := startEcho(t, s)
	wav := filepath.Join(t.TempDir(), "me.wav")
	me := s.Engine("me", func(c *engine.Config) { c.Speaker = "wav:" + wav })

	calltest.Must(t, "call", me.Call(calltest.Ctx(t), []string{"echo"}, engine.CallParams{}))
	calltest.Expect(me, func(engine.CallBegin) bool { return true })
	beginFrame := me.AudioStats().FramesPlayed

	// The moment the bot receives the first packet of the tone.
	deadline := time.Now().Add(calltest.Wait)
	for echo.Engine().RemoteAudioStats()["me"].Received == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the echo bot never received audio from me")
		}
		time.Sleep(2 * time.Millisecond)
	}
	heardFrame := me.AudioStats().FramesPlayed

	me.VolumeOf("echo", 10) // the tone is back
	time.Sleep(time.Second) // a stretch of it to check
	// Frames either jitter buffer had to make up (packets late on a loaded
	// machine) are tone-less for reasons this test is not about; they are
	// counted, so each one excuses one frame without the tone below.
	madeUp := func(rs audio.RemoteStats) int { return int(rs.Concealed + rs.Inserted) }
	excused := madeUp(me.RemoteAudioStats()["echo"]) + madeUp(echo.Engine().RemoteAudioStats()["me"])
	calltest.Must(t, "hang up", me.Hangup(calltest.Ctx(t)))
	calltest.Expect(me, func(engine.CallEnd) bool { return true })
	me.End() // flushes the recording

	frames := readFrames(t, wav)
	first := -1
	for i := int(heardFrame); i < len(frames); i++ {
		if toneOnly(frames[i], 440) {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("no 440 Hz in the %d frames recorded after frame %d", len(frames), heardFrame)
	}
	delay := time.Duration(first-int(heardFrame)) * audio.FrameDuration
	sinceBegin := time.Duration(first-int(beginFrame)) * audio.FrameDuration
	t.Logf("echo arrived %v after the bot first heard me (%v after onCallBegin)", delay, sinceBegin)
	// 0.5 s in the bot plus two jitter buffers and the codec: ~0.55–0.65 s
	// here; the upper bound leaves room for a loaded machine.
	if delay < audio.EchoDelay-40*time.Millisecond || delay > time.Second {
		t.Errorf("echo delay %v, want about %v", delay, audio.EchoDelay)
	}
	// Once back, the tone stays: most of the next half second is 440 Hz.
	n := 0
	for i := first; i < min(first+25, len(frames)); i++ {
		if toneOnly(frames[i], 440) {
			n++
		}
	}
	if n+excused < 20 {
		t.Errorf("only %d of 25 frames after the echo began carry the tone (%d made up by the jitter buffers)", n, excused)
	}
	// Nothing of the tone before the echo could have come back.
	for i := int(heardFrame); i < first-2; i++ {
		if toneOnly(frames[i], 440) {
			t.Errorf("440 Hz at frame %d, before the echo began at %d", i, first)
			break
		}
	}
}

// TestCallerBotCallsAndCallsAgain: alice calls soon after she starts; a
// rejected call and a hung-up call are each followed by another one, no
// sooner than Again; her tone reaches the callee's meters.
func TestCallerBotCallsAndCallsAgain(t *testing.T) {
	testenv.NoLeaks(t)
	// The bot's own pause is under test, not the server's hold-off after a
	// reject (which the bot rides out by retrying; see the demo).
	s := calltest.NewServer(t, func(c *signaling.Config) { c.Invites.AfterReject = -1 })
	me := s.Engine("me", nil)
	const again = 1500 * time.Millisecond
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: 100 * time.Millisecond, Again: again, UserData: "hello"})

	got := calltest.Expect(me, func(engine.CallReceived) bool { return true })
	if got.CallerID != "alice" || got.UserData != "hello" {
		t.Fatalf("first call: %+v", got)
	}
	rejected := time.Now()
	calltest.Must(t, "reject", me.Reject(calltest.Ctx(t)))

	calltest.Expect(me, func(engine.CallReceived) bool { return true })
	if d := time.Since(rejected); d < again {
		t.Errorf("second call %v after the reject, want at least %v", d, again)
	}
	calltest.Must(t, "accept", me.Accept(calltest.Ctx(t)))
	calltest.Expect(me, func(engine.CallBegin) bool { return true })
	// Her voice rises and falls: the meter shows her loud and quiet.
	me.VolumeOf("alice", 40)
	calltest.Expect(me, func(v engine.UserVoiceVolumeChanged) bool { l, ok := v.VolumeMap["alice"]; return ok && l < 15 })
	me.VolumeOf("alice", 40)

	hungUp := time.Now()
	calltest.Must(t, "hang up", me.Hangup(calltest.Ctx(t)))
	calltest.Expect(me, func(engine.CallReceived) bool { return true })
	if d := time.Since(hungUp); d < again {
		t.Errorf("third call %v after the hang-up, want at least %v", d, again)
	}
}

// TestCallerBotWaitsForALateCallee: a callee who logs in after the bot's
// first call found them offline is called after Retry, not after Again.
func TestCallerBotWaitsForALateCallee(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: 50 * time.Millisecond, Again: time.Hour, Retry: 200 * time.Millisecond})
	// Let the first call (after 50 ms) find nobody. On a very slow machine
	// it may not have happened yet; the test then checks less, never fails
	// wrongly.
	time.Sleep(600 * time.Millisecond)
	me := s.Engine("me", nil)
	calltest.Expect(me, func(v engine.CallReceived) bool { return v.CallerID == "alice" })
}

// TestCallerBotAnswersAndWaitsDuringACall: the bot answers a call to it, and
// its own timer does not ring anyone while that call is up; after it, the
// next call comes Again later.
func TestCallerBotAnswersAndWaitsDuringACall(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	me := s.Engine("me", nil)
	const again = time.Second
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: 300 * time.Millisecond, Again: again})
	calltest.Must(t, "call alice", me.Call(calltest.Ctx(t), []string{"alice"}, engine.CallParams{}))
	calltest.Expect(me, func(engine.CallBegin) bool { return true })
	me.VolumeOf("alice", 10)
	time.Sleep(500 * time.Millisecond) // past FirstCall: the timer fired during the call
	if me.Has("onCallReceived(alice)") {
		t.Fatal("the bot rang me while we were talking")
	}
	hungUp := time.Now()
	calltest.Must(t, "hang up", me.Hangup(calltest.Ctx(t)))
	calltest.Expect(me, func(v engine.CallReceived) bool { return v.CallerID == "alice" })
	if d := time.Since(hungUp); d < again {
		t.Errorf("next call %v after the hang-up, want at least %v", d, again)
	}
}

func TestCallerBotNeedsACallee(t *testing.T) {
	s := calltest.NewServer(t, nil)
	for _, p := range []CallerParams{{}, {Callee: "alice"}} {
		if b, err := StartCaller(calltest.Ctx(t), botConfig(s, "alice"), p); err == nil {
			b.Close()
			t.Errorf("%+v: no error", p)
		}
	}
}

// TestBotCloseEndsItsCall: closing a bot mid-call ends the call for the
// other side, and Close may be called twice.
func TestBotCloseEndsItsCall(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	b, err := StartEcho(calltest.Ctx(t), botConfig(s, "echo"), EchoParams{})
	if err != nil {
		t.Fatal(err)
	}
	me := s.Engine("me", nil)
	calltest.Must(t, "call", me.Call(calltest.Ctx(t), []string{"echo"}, engine.CallParams{}))
	calltest.Expect(me, func(engine.CallBegin) bool { return true })
	calltest.Must(t, "close", b.Close())
	calltest.Must(t, "close again", b.Close())
	calltest.Expect(me, func(engine.CallEnd) bool { return true })
}

func TestBotLoginFailureLeavesNothing(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	cfg := botConfig(s, "echo")
	cfg.UserSig = "not-a-ticket"
	ctx, cancel := context.WithTimeout(context.Background(), calltest.Wait)
	defer cancel()
	if _, err := StartEcho(ctx, cfg, EchoParams{}); err == nil {
		t.Fatal("a bad ticket logged in")
	}
}

// TestBotVoiceRisesAndFalls: the caller bot's babble has loud syllables and
// quiet gaps, never clips, and is the same every time.
func TestBotVoiceRisesAndFalls(t *testing.T) {
	pcm := botVoicePCM(callerPitch)
	if len(pcm) != botVoiceLength*audio.SampleRate {
		t.Fatalf("%d samples", len(pcm))
	}
	var quiet, loud int
	for i := 0; i+audio.FrameSamples <= len(pcm); i += audio.FrameSamples {
		switch l := audio.Level(pcm[i : i+audio.FrameSamples]); {
		case l < 5:
			quiet++
		case l > 50:
			loud++
		}
	}
	frames := len(pcm) / audio.FrameSamples
	if quiet < frames/5 || loud < frames/5 {
		t.Errorf("of %d frames, %d quiet and %d loud: want plenty of both", frames, quiet, loud)
	}
	for i, v := range pcm {
		if v == math.MaxInt16 || v == math.MinInt16 {
			t.Fatalf("clipped at sample %d", i)
		}
	}
	if again := botVoicePCM(callerPitch); !slices.Equal(pcm, again) {
		t.Error("the babble differs between runs")
	}
}

// TestBotsLeaveACallOfBots: when the person in a group call with both bots
// hangs up, the bots do not stay on talking to each other: the call ends
// and echo can be called again.
func TestBotsLeaveACallOfBots(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	startEcho(t, s, "alice")
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: time.Hour, Bots: []string{"echo"}})
	me := s.Engine("me", nil)
	calltest.Must(t, "call alice", me.Call(calltest.Ctx(t), []string{"alice"}, engine.CallParams{}))
	calltest.Expect(me, func(engine.CallBegin) bool { return true })
	calltest.Must(t, "invite echo", me.Invite(calltest.Ctx(t), []string{"echo"}))
	calltest.Expect(me, func(v engine.UserJoin) bool { return v.UserID == "echo" })
	calltest.Must(t, "hang up", me.Hangup(calltest.Ctx(t)))
	calltest.Expect(me, func(engine.CallEnd) bool { return true })

	deadline := time.Now().Add(calltest.Wait)
	for s.Srv.Stats().Calls > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the bots' call goes on: %+v", s.Srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	calltest.Must(t, "call echo", me.Call(calltest.Ctx(t), []string{"echo"}, engine.CallParams{}))
	calltest.Expect(me, func(engine.CallBegin) bool { return true })
}
