package engine

import (
	"sync"
	"time"
)

// eventStream is the engine's one ordered event stream with two delivery
// classes (as in crush's pubsub broker): call-state events are queued without
// bound and delivered in order, never dropped; periodic events (volume,
// network quality) sit in one slot per type where the latest wins, so a slow
// consumer sees fresh meters instead of a backlog.
type eventStream struct {
	out chan Event

	mu      sync.Mutex
	queue   []Event // call-state events, in order
	volume  *UserVoiceVolumeChanged
	quality *UserNetworkQualityChanged
	closed  bool

	wake  chan struct{} // capacity 1: something was published or the stream closed
	abort chan struct{} // closed to make the pump give up on an absent reader
	done  chan struct{} // closed by the pump when it has closed out
}

func newEventStream() *eventStream {
	s := &eventStream{
		out:   make(chan Event),
		wake:  make(chan struct{}, 1),
		abort: make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.pump()
	return s
}

// publish adds an event. It never blocks; after close it is a no-op.
func (s *eventStream) publish(e Event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	switch v := e.(type) {
	case UserVoiceVolumeChanged:
		s.volume = &v
	case UserNetworkQualityChanged:
		s.quality = &v
	default:
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *eventStream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next takes the next event to deliver: call-state events first, in order,
// then the latest quality and volume.
func (s *eventStream) next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(s.queue) > 0:
		e := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // let the backing array go
		}
		return e, true
	case s.quality != nil:
		e := *s.quality
		s.quality = nil
		return e, true
	case s.volume != nil:
		e := *s.volume
		s.volume = nil
		return e, true
	}
	return nil, false
}

// pump moves events to out until close; then it delivers what call-state
// events remain (so a final onCallEnd is not lost) and closes out. If the
// reader has gone away, stop's abort ends it.
func (s *eventStream) pump() {
	defer close(s.done)
	defer close(s.out)
	for {
		e, ok := s.next()
		if !ok {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			<-s.wake
			continue
		}
		if IsLossy(e) {
			// A meter update must not hold up close.
			select {
			case s.out <- e:
			case <-s.wake:
				s.requeueLossy(e)
			case <-s.abort:
				return
			}
			continue
		}
		select {
		case s.out <- e:
		case <-s.abort:
			return
		}
	}
}

// requeueLossy puts back a lossy event the pump could not deliver, unless a
// newer one has arrived meanwhile.
func (s *eventStream) requeueLossy(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	switch v := e.(type) {
	case UserVoiceVolumeChanged:
		if s.volume == nil {
			s.volume = &v
		}
	case UserNetworkQualityChanged:
		if s.quality == nil {
			s.quality = &v
		}
	}
}

// stop closes the stream and waits up to grace for a reader to take the
// remaining call-state events; then it abandons them, so no goroutine
// outlives the engine even if nobody reads Events.
func (s *eventStream) stop(grace time.Duration) {
	s.close()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		close(s.abort)
		<-s.done
	}
}

// close stops accepting events. Queued call-state events are still delivered
// to a reader; out is closed after the last one. Lossy events are dropped.
func (s *eventStream) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.volume, s.quality = nil, nil
	s.mu.Unlock()
	s.signal()
}
