// Package rtpsniff watches the RTP streams inside a network namespace from
// the outside, the same way for any phone: a packet socket sees every UDP
// datagram, and the RTP ones are told from STUN, DTLS and RTCP by their first
// bytes (RFC 7983, RFC 5761). SRTP leaves the RTP header in clear, so the
// streams of an encrypted call show too. The side-by-side bench uses it to
// time dial → RTP flowing both ways and to check that media flows both ways.
package rtpsniff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Stream is what was seen of one RTP stream (one SSRC).
type Stream struct {
	SSRC        uint32
	PayloadType uint8
	First, Last time.Time
	Packets     int
}

// Sniffer reads every packet of a network namespace from a packet socket.
type Sniffer struct {
	fd     int
	done   chan struct{} // closed by Close
	exited chan struct{} // closed by the reader when it has closed fd

	mu      sync.Mutex
	streams map[uint32]*Stream
	changed chan struct{} // closed and replaced when a new stream shows
	err     error
}

// InNetns runs fn on a thread that has entered the network namespace name
// (as `ip netns add` made it, under /var/run/netns). Sockets fn opens stay in
// that namespace whatever thread uses them later.
func InNetns(name string, fn func() error) error {
	ns, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", name, err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: the runtime ends it with the
		// goroutine, so no other goroutine runs in the namespace.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Open starts a Sniffer in the network namespace netns ("" for this
// process's own). It needs CAP_NET_RAW (root).
func Open(netns string) (*Sniffer, error) {
	fd := -1
	open := func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket (needs root): %w", err)
		}
		return nil
	}
	var err error
	if netns == "" {
		err = open()
	} else {
		err = InNetns(netns, open)
	}
	if err != nil {
		return nil, err
	}
	// A receive timeout lets Close end the reader.
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	s := &Sniffer{fd: fd, done: make(chan struct{}), exited: make(chan struct{}), streams: map[uint32]*Stream{}, changed: make(chan struct{})}
	go s.read()
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *Sniffer) read() {
	defer close(s.exited)
	defer unix.Close(s.fd)
	buf := make([]byte, 2048)
	for {
		select {
		case <-s.done:
			return
		default:
		}
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		// On loopback each packet shows twice, going out and coming in:
		// count it going out.
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING {
			continue
		}
		ssrc, pt, ok := Classify(buf[:n])
		if !ok {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		st := s.streams[ssrc]
		if st == nil {
			st = &Stream{SSRC: ssrc, PayloadType: pt, First: now}
			s.streams[ssrc] = st
			close(s.changed)
			s.changed = make(chan struct{})
		}
		st.Last = now
		st.Packets++
		s.mu.Unlock()
	}
}

// Classify reads an Ethernet frame (as a packet socket on lo or a veth gives
// it) and, if it carries an RTP packet in UDP over IPv4 or IPv6, returns its
// SSRC and payload type. STUN, DTLS, RTCP and anything else are not RTP.
func Classify(frame []byte) (ssrc uint32, pt uint8, ok bool) {
	if len(frame) < 14 {
		return 0, 0, false
	}
	var udp []byte
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800: // IPv4
		ip := frame[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_UDP {
			return 0, 0, false
		}
		if binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
			return 0, 0, false // a later fragment: no UDP header
		}
		hl := int(ip[0]&0x0f) * 4
		if hl < 20 || len(ip) < hl {
			return 0, 0, false
		}
		udp = ip[hl:]
	case 0x86dd: // IPv6, without extension headers
		ip := frame[14:]
		if len(ip) < 40 || ip[6] != unix.IPPROTO_UDP {
			return 0, 0, false
		}
		udp = ip[40:]
	default:
		return 0, 0, false
	}
	if len(udp) < 8 {
		return 0, 0, false
	}
	p := udp[8:]
	// RFC 7983: 128–191 is RTP or RTCP; RTP version 2 has 0b10 in the top
	// bits, and RFC 5761 keeps payload types 64–95 (with the marker bit:
	// 192–223, RTCP's range) away from RTP.
	if len(p) < 12 || p[0]>>6 != 2 {
		return 0, 0, false
	}
	if p[1] >= 192 && p[1] <= 223 {
		return 0, 0, false // RTCP
	}
	return binary.BigEndian.Uint32(p[8:12]), p[1] & 0x7f, true
}

// Reset forgets every stream seen so far.
func (s *Sniffer) Reset() {
	s.mu.Lock()
	s.streams = map[uint32]*Stream{}
	s.mu.Unlock()
}

// Streams returns the streams seen since the last Reset.
func (s *Sniffer) Streams() []Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Stream, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, *st)
	}
	return out
}

// WaitStreams waits until n streams have shown since the last Reset and
// returns when the n-th one's first packet was seen.
func (s *Sniffer) WaitStreams(n int, timeout time.Duration) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		err, changed := s.err, s.changed
		var last time.Time
		count := len(s.streams)
		for _, st := range s.streams {
			if st.First.After(last) {
				last = st.First
			}
		}
		s.mu.Unlock()
		if count >= n {
			return last, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		select {
		case <-changed:
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%d RTP stream(s) seen in %v, want %d", count, timeout, n)
		}
	}
}

// Close stops the sniffer and closes its socket.
func (s *Sniffer) Close() error {
	select {
	case <-s.done:
	default:
		close(s.done) // the reader sees it within its receive timeout
	}
	<-s.exited
	return nil
}
