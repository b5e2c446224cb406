package engine

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestOneToOneCallWithAudio(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice := s.engine("alice", nil)
	bob := s.engine("bob", nil)
	time.Sleep(100 * time.Millisecond) // let the logins settle
	idle := runtime.NumGoroutine()

	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{UserData: "hi"}))
	rec := expect(bob, func(CallReceived) bool { return true })
	if rec.CallerID != "alice" || !slices.Equal(rec.CalleeIDList, []string{"bob"}) || rec.UserData != "hi" || rec.CallMediaType != MediaVoice || rec.CallID == "" {
		t.Fatalf("onCallReceived %+v", rec)
	}
	must(t, "accept", bob.Accept(ctxT(t)))
	ab := expect(alice, func(CallBegin) bool { return true })
	bb := expect(bob, func(CallBegin) bool { return true })
	if ab.CallRole != RoleCaller || bb.CallRole != RoleCalled || ab.RoomID != bb.RoomID || ab.RoomID.StrRoomID == "" {
		t.Fatalf("onCallBegin alice %+v bob %+v", ab, bb)
	}
	// Audio flows both ways: each hears the other's tone.
	volumeOf(alice, "bob", 5)
	volumeOf(bob, "alice", 5)
	alice.waitHas("onUserAudioAvailable(bob,true)")
	bob.waitHas("onUserAudioAvailable(alice,true)")
	q := expect(bob, func(v UserNetworkQualityChanged) bool { return v.NetworkQuality["alice"] != QualityUnknown })
	if q.NetworkQuality["alice"] > QualityGood {
		t.Errorf("loopback quality of alice at bob: %v", q.NetworkQuality["alice"])
	}

	time.Sleep(1100 * time.Millisecond) // a call of more than a second
	must(t, "hangup", alice.Hangup(ctxT(t)))
	ae := expect(alice, func(CallEnd) bool { return true })
	be := expect(bob, func(CallEnd) bool { return true })
	if ae.CallRole != RoleCaller || be.CallRole != RoleCalled || ae.TotalTime < 1 || ae.RoomID != ab.RoomID {
		t.Fatalf("onCallEnd alice %+v bob %+v", ae, be)
	}
	bob.waitHas("onUserLeave(alice)")
	for _, te := range []*testEngine{alice, bob} {
		if n := te.count("onCallEnd(caller)") + te.count("onCallEnd(called)"); n != 1 {
			t.Errorf("%s: %d onCallEnd\n%s", te.UserID(), n, te.dump())
		}
		if te.has("onCallCancelled(alice)") || te.has("onCallCancelled(bob)") {
			t.Errorf("%s: onCallCancelled in a call that began\n%s", te.UserID(), te.dump())
		}
	}
	// Nothing of the call outlives it: peers, RTP loops, timers.
	waitGoroutines(t, idle+2)
}

// A caller may ask for a room; both sides see it in onCallBegin and
// onCallEnd.
func TestRequestedRoomID(t *testing.T) {
	leakCheck(t)
	s := newTestServer(t, nil)
	alice, bob := s.engine("alice", nil), s.engine("bob", func(c *Config) { c.AutoAnswer = true })
	room := RoomID{IntRoomID: 424242, StrRoomID: "standup"}
	must(t, "call", alice.Call(ctxT(t), []string{"bob"}, CallParams{RoomID: room, MediaType: MediaVideo}))
	for _, te := range []*testEngine{alice, bob} {
		if b := expect(te, func(CallBegin) bool { return true }); b.RoomID != room || b.CallMediaType != MediaVideo {
			t.Fatalf("%s: onCallBegin %+v", te.UserID(), b)
		}
	}
	must(t, "hangup", bob.Hangup(ctxT(t)))
	for _, te := range []*testEngine{alice, bob} {
		if e := expect(te, func(CallEnd) bool { return true }); e.RoomID != room {
			t.Fatalf("%s: onCallEnd %+v", te.UserID(), e)
		}
	}
}
