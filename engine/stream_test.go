package engine

import (
	"testing"
	"time"

	"softphone/internal/testenv"
)

func TestStreamKeepsCallStateOrderAndCoalescesMeters(t *testing.T) {
	s := newEventStream()
	defer s.stop(time.Second)
	// Publish with nobody reading: call-state events queue, meters coalesce.
	s.publish(UserJoin{UserID: "a"})
	for i := 0; i < 100; i++ {
		s.publish(UserVoiceVolumeChanged{VolumeMap: map[string]int{"a": i}})
	}
	s.publish(UserLeave{UserID: "a"})
	s.publish(UserNetworkQualityChanged{NetworkQuality: map[string]NetworkQuality{"a": QualityGood}})

	var got []Event
	timeout := time.After(5 * time.Second)
	for len(got) < 4 {
		select {
		case e := <-s.out:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("got only %d events: %#v", len(got), got)
		}
	}
	// The pump may have picked up an early volume event before the rest were
	// published; what matters: joins/leaves in order, and the last volume
	// seen is the latest.
	var order []string
	lastVol := -1
	for _, e := range got {
		switch v := e.(type) {
		case UserJoin:
			order = append(order, "join")
		case UserLeave:
			order = append(order, "leave")
		case UserVoiceVolumeChanged:
			lastVol = v.VolumeMap["a"]
		}
	}
	if len(order) != 2 || order[0] != "join" || order[1] != "leave" {
		t.Fatalf("call-state order %v", order)
	}
	select {
	case e := <-s.out:
		if v, ok := e.(UserVoiceVolumeChanged); ok {
			lastVol = v.VolumeMap["a"]
		}
	case <-time.After(50 * time.Millisecond):
	}
	if lastVol != 99 {
		t.Fatalf("latest volume = %d, want 99", lastVol)
	}
}

func TestStreamDeliversQueuedCallStateAfterClose(t *testing.T) {
	s := newEventStream()
	s.publish(CallEnd{TotalTime: 3})
	s.publish(UserVoiceVolumeChanged{VolumeMap: map[string]int{"a": 1}})
	s.close()
	var got []Event
	for e := range s.out {
		got = append(got, e)
	}
	if len(got) < 1 {
		t.Fatal("no events after close")
	}
	if _, ok := got[0].(CallEnd); !ok {
		t.Fatalf("first event %#v, want CallEnd", got[0])
	}
	s.publish(UserJoin{}) // after close: ignored, no panic
}

func TestStreamStopWithoutReaderDoesNotLeak(t *testing.T) {
	testenv.NoLeaks(t)
	for i := 0; i < 20; i++ {
		s := newEventStream()
		s.publish(UserJoin{UserID: "x"})
		s.publish(UserLeave{UserID: "x"})
		s.stop(10 * time.Millisecond)
	}
}
