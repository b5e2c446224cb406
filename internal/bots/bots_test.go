package engine

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"softphone/audio"
)

// botConfig is the engine config of a bot logged in to s.
func (s *testServer) botConfig(user string) Config {
	return Config{
		ServerURL: s.url,
		UserID:    user,
		UserSig:   s.ticket(user, time.Hour),
		Logger:    debugLog(),
	}
}

func startEcho(t *testing.T, s *testServer, bots ...string) *Bot {
	t.Helper()
	b, err := StartEchoBot(ctxT(t), s.botConfig("echo"), EchoParams{Bots: bots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { must(t, "close echo", b.Close()) })
	return b
}

func startCaller(t *testing.T, s *testServer, p CallerParams) *Bot {
	t.Helper()
	b, err := StartCallerBot(ctxT(t), s.botConfig("alice"), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { must(t, "close alice", b.Close()) })
	return b
}

// readFrames reads a WAV recording as 20 ms frames.
func readFrames(t *testing.T, path string) [][]int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, _, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
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
	p := goertzel(frame, hz)
	return p > 1e-3 && p > 10*goertzel(frame, 480) && p > 10*goertzel(frame, 330)
}

// TestEchoBotReturnsYourToneHalfASecondLater calls the echo bot with a
// 440 Hz tone as the microphone and a WAV file as the speaker: the tone
// comes back, and it starts about audio.EchoDelay after the bot first hears
// it. The start is found in the recording itself: the user's played-frame
// count when the bot's first packet from the user arrives is the recording
// position of "the bot starts hearing you".
func TestEchoBotReturnsYourToneHalfASecondLater(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	echo := startEcho(t, s)
	wav := filepath.Join(t.TempDir(), "me.wav")
	me := s.engine("me", func(c *Config) { c.Speaker = "wav:" + wav })

	must(t, "call", me.Call(ctxT(t), []string{"echo"}, CallParams{}))
	expect(me, func(CallBegin) bool { return true })
	beginFrame := me.AudioStats().FramesPlayed

	// The moment the bot receives the first packet of the tone.
	deadline := time.Now().Add(wait)
	for echo.Engine().RemoteAudioStats()["me"].Received == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the echo bot never received audio from me")
		}
		time.Sleep(2 * time.Millisecond)
	}
	heardFrame := me.AudioStats().FramesPlayed

	volumeOf(me, "echo", 10) // the tone is back
	time.Sleep(time.Second)  // a stretch of it to check
	must(t, "hang up", me.Hangup(ctxT(t)))
	expect(me, func(CallEnd) bool { return true })
	me.close() // flushes the recording

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
	if n < 20 {
		t.Errorf("only %d of 25 frames after the echo began carry the tone", n)
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
	leakCheck(t)
	s := newTestServer(t, nil)
	me := s.engine("me", nil)
	const again = 1500 * time.Millisecond
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: 100 * time.Millisecond, Again: again, UserData: "hello"})

	got := expect(me, func(CallReceived) bool { return true })
	if got.CallerID != "alice" || got.UserData != "hello" {
		t.Fatalf("first call: %+v", got)
	}
	rejected := time.Now()
	must(t, "reject", me.Reject(ctxT(t)))

	expect(me, func(CallReceived) bool { return true })
	if d := time.Since(rejected); d < again {
		t.Errorf("second call %v after the reject, want at least %v", d, again)
	}
	must(t, "accept", me.Accept(ctxT(t)))
	expect(me, func(CallBegin) bool { return true })
	// Her voice rises and falls: the meter shows her loud and quiet.
	volumeOf(me, "alice", 40)
	expect(me, func(v UserVoiceVolumeChanged) bool { l, ok := v.VolumeMap["alice"]; return ok && l < 15 })
	volumeOf(me, "alice", 40)

	hungUp := time.Now()
	must(t, "hang up", me.Hangup(ctxT(t)))
	expect(me, func(CallReceived) bool { return true })
	if d := time.Since(hungUp); d < again {
		t.Errorf("third call %v after the hang-up, want at least %v", d, again)
	}
}

// TestCallerBotWaitsForALateCallee: a callee who logs in after the bot's
// first call found them offline is called after Retry, not after Again.
func TestCallerBotWaitsForALateCallee(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: 50 * time.Millisecond, Again: time.Hour, Retry: 200 * time.Millisecond})
	// Let the first call (after 50 ms) find nobody. On a very slow machine
	// it may not have happened yet; the test then checks less, never fails
	// wrongly.
	time.Sleep(600 * time.Millisecond)
	me := s.engine("me", nil)
	expect(me, func(v CallReceived) bool { return v.CallerID == "alice" })
}

// TestCallerBotAnswersAndWaitsDuringACall: the bot answers a call to it, and
// its own timer does not ring anyone while that call is up; after it, the
// next call comes Again later.
func TestCallerBotAnswersAndWaitsDuringACall(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	me := s.engine("me", nil)
	const again = time.Second
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: 300 * time.Millisecond, Again: again})
	must(t, "call alice", me.Call(ctxT(t), []string{"alice"}, CallParams{}))
	expect(me, func(CallBegin) bool { return true })
	volumeOf(me, "alice", 10)
	time.Sleep(500 * time.Millisecond) // past FirstCall: the timer fired during the call
	if me.has("onCallReceived(alice)") {
		t.Fatal("the bot rang me while we were talking")
	}
	hungUp := time.Now()
	must(t, "hang up", me.Hangup(ctxT(t)))
	expect(me, func(v CallReceived) bool { return v.CallerID == "alice" })
	if d := time.Since(hungUp); d < again {
		t.Errorf("next call %v after the hang-up, want at least %v", d, again)
	}
}

func TestCallerBotNeedsACallee(t *testing.T) {
	s := newTestServer(t, nil)
	for _, p := range []CallerParams{{}, {Callee: "alice"}} {
		if b, err := StartCallerBot(ctxT(t), s.botConfig("alice"), p); err == nil {
			b.Close()
			t.Errorf("%+v: no error", p)
		}
	}
}

// TestBotCloseEndsItsCall: closing a bot mid-call ends the call for the
// other side, and Close may be called twice.
func TestBotCloseEndsItsCall(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	b, err := StartEchoBot(ctxT(t), s.botConfig("echo"), EchoParams{})
	if err != nil {
		t.Fatal(err)
	}
	me := s.engine("me", nil)
	must(t, "call", me.Call(ctxT(t), []string{"echo"}, CallParams{}))
	expect(me, func(CallBegin) bool { return true })
	must(t, "close", b.Close())
	must(t, "close again", b.Close())
	expect(me, func(CallEnd) bool { return true })
}

func TestBotLoginFailureLeavesNothing(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	cfg := s.botConfig("echo")
	cfg.UserSig = "not-a-ticket"
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := StartEchoBot(ctx, cfg, EchoParams{}); err == nil {
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
	leakCheck(t)
	s := newTestServer(t, nil)
	startEcho(t, s, "alice")
	startCaller(t, s, CallerParams{Callee: "me", FirstCall: time.Hour, Bots: []string{"echo"}})
	me := s.engine("me", nil)
	must(t, "call alice", me.Call(ctxT(t), []string{"alice"}, CallParams{}))
	expect(me, func(CallBegin) bool { return true })
	must(t, "invite echo", me.Invite(ctxT(t), []string{"echo"}))
	expect(me, func(v UserJoin) bool { return v.UserID == "echo" })
	must(t, "hang up", me.Hangup(ctxT(t)))
	expect(me, func(CallEnd) bool { return true })

	deadline := time.Now().Add(wait)
	for s.srv.Stats().Calls > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the bots' call goes on: %+v", s.srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, "call echo", me.Call(ctxT(t), []string{"echo"}, CallParams{}))
	expect(me, func(CallBegin) bool { return true })
}
