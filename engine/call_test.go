package engine_test

import (
	"slices"
	"testing"
	"time"

	. "softphone/engine"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

func TestOneToOneCallWithAudio(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice := s.Engine("alice", nil)
	bob := s.Engine("bob", nil)
	time.Sleep(100 * time.Millisecond) // let the logins settle
	idle := testenv.Running()

	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{UserData: "hi"}))
	rec := calltest.Expect(bob, func(CallReceived) bool { return true })
	if rec.CallerID != "alice" || !slices.Equal(rec.CalleeIDList, []string{"bob"}) || rec.UserData != "hi" || rec.CallMediaType != MediaVoice || rec.CallID == "" {
		t.Fatalf("onCallReceived %+v", rec)
	}
	calltest.Must(t, "accept", bob.Accept(calltest.Ctx(t)))
	ab := calltest.Expect(alice, func(CallBegin) bool { return true })
	bb := calltest.Expect(bob, func(CallBegin) bool { return true })
	if ab.CallRole != RoleCaller || bb.CallRole != RoleCalled || ab.RoomID != bb.RoomID || ab.RoomID.StrRoomID == "" {
		t.Fatalf("onCallBegin alice %+v bob %+v", ab, bb)
	}
	// Audio flows both ways: each hears the other's tone.
	alice.VolumeOf("bob", 5)
	bob.VolumeOf("alice", 5)
	alice.WaitHas("onUserAudioAvailable(bob,true)")
	bob.WaitHas("onUserAudioAvailable(alice,true)")
	q := calltest.Expect(bob, func(v UserNetworkQualityChanged) bool { return v.NetworkQuality["alice"] != QualityUnknown })
	if q.NetworkQuality["alice"] > QualityGood {
		t.Errorf("loopback quality of alice at bob: %v", q.NetworkQuality["alice"])
	}

	time.Sleep(1100 * time.Millisecond) // a call of more than a second
	calltest.Must(t, "hangup", alice.Hangup(calltest.Ctx(t)))
	ae := calltest.Expect(alice, func(CallEnd) bool { return true })
	be := calltest.Expect(bob, func(CallEnd) bool { return true })
	if ae.CallRole != RoleCaller || be.CallRole != RoleCalled || ae.TotalTime < 1 || ae.RoomID != ab.RoomID {
		t.Fatalf("onCallEnd alice %+v bob %+v", ae, be)
	}
	bob.WaitHas("onUserLeave(alice)")
	for _, te := range []*calltest.Engine{alice, bob} {
		if n := te.Count("onCallEnd(caller)") + te.Count("onCallEnd(called)"); n != 1 {
			t.Errorf("%s: %d onCallEnd\n%s", te.UserID(), n, te.Dump())
		}
		if te.Has("onCallCancelled(alice)") || te.Has("onCallCancelled(bob)") {
			t.Errorf("%s: onCallCancelled in a call that began\n%s", te.UserID(), te.Dump())
		}
	}
	// Nothing of the call outlives it: peers, RTP loops, timers.
	idle.Check(t)
}

// A caller may ask for a room; both sides see it in onCallBegin and
// onCallEnd.
func TestRequestedRoomID(t *testing.T) {
	testenv.NoLeaks(t)
	s := calltest.NewServer(t, nil)
	alice, bob := s.Engine("alice", nil), s.Engine("bob", func(c *Config) { c.AutoAnswer = true })
	room := RoomID{IntRoomID: 424242, StrRoomID: "standup"}
	calltest.Must(t, "call", alice.Call(calltest.Ctx(t), []string{"bob"}, CallParams{RoomID: room, MediaType: MediaVideo}))
	for _, te := range []*calltest.Engine{alice, bob} {
		if b := calltest.Expect(te, func(CallBegin) bool { return true }); b.RoomID != room || b.CallMediaType != MediaVideo {
			t.Fatalf("%s: onCallBegin %+v", te.UserID(), b)
		}
	}
	calltest.Must(t, "hangup", bob.Hangup(calltest.Ctx(t)))
	for _, te := range []*calltest.Engine{alice, bob} {
		if e := calltest.Expect(te, func(CallEnd) bool { return true }); e.RoomID != room {
			t.Fatalf("%s: onCallEnd %+v", te.UserID(), e)
		}
	}
}
