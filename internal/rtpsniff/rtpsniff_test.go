package rtpsniff

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pion/rtp"

	"softphone/internal/testenv"
)

// netns makes a network namespace with lo up for the test and removes it at
// the end.
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "packet sockets and network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Missing(t, "no ip command (iproute2)")
	}
	name := fmt.Sprintf("leansniff-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	return name
}

func rtpPacket(t *testing.T, ssrc uint32, seq uint16, marker bool) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq,
		Timestamp: uint32(seq) * 960, SSRC: ssrc, Marker: marker}, Payload: []byte{0xfc, 1, 2, 3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSniffer sends real datagrams between two sockets inside a namespace:
// RTP of two streams, and STUN, DTLS and RTCP that must not count.
func TestSniffer(t *testing.T) {
	ns := netns(t)
	s, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var a, b *net.UDPConn
	if err := InNetns(ns, func() error {
		var err error
		if a, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
		b, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	// An RTP packet in this process's own namespace must not show.
	if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err == nil {
		c.WriteTo(rtpPacket(t, 0xbad, 1, false), c.LocalAddr())
		c.Close()
	}

	sentAt := time.Now()
	a.WriteTo(rtpPacket(t, 0x1111, 1, false), a.LocalAddr())
	first, err := s.WaitStreams(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if first.Before(sentAt) || first.Sub(sentAt) > time.Second {
		t.Errorf("first packet seen at %v, sent at %v", first, sentAt)
	}
	if _, err := s.WaitStreams(2, 100*time.Millisecond); err == nil {
		t.Fatal("a second stream before one was sent")
	}
	for i := range 9 {
		a.WriteTo(rtpPacket(t, 0x1111, uint16(i+2), i == 0), a.LocalAddr())
	}
	for i := range 5 {
		b.WriteTo(rtpPacket(t, 0x2222, uint16(i), false), b.LocalAddr())
	}
	stun := make([]byte, 20)
	binary.BigEndian.PutUint16(stun, 0x0001)
	binary.BigEndian.PutUint32(stun[4:], 0x2112A442)
	dtls := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0x33, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, p := range [][]byte{stun, dtls, rtcp} {
		a.WriteTo(p, a.LocalAddr())
	}
	if _, err := s.WaitStreams(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Wait for the rest of the packets (a loaded machine delays the
	// reader), then a little more for any that should not count.
	got := map[uint32]int{}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = map[uint32]int{}
		for _, st := range s.Streams() {
			got[st.SSRC] = st.Packets
		}
		if got[0x1111] >= 10 && got[0x2222] >= 5 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	got = map[uint32]int{}
	for _, st := range s.Streams() {
		got[st.SSRC] = st.Packets
		if st.PayloadType != 111 {
			t.Errorf("stream %x: payload type %d", st.SSRC, st.PayloadType)
		}
	}
	if len(got) != 2 || got[0x1111] != 10 || got[0x2222] != 5 {
		t.Fatalf("streams seen %v, want 0x1111: 10, 0x2222: 5", got)
	}
	s.Reset()
	if n := len(s.Streams()); n != 0 {
		t.Fatalf("%d streams after Reset", n)
	}
}

func TestClassify(t *testing.T) {
	payload := rtpPacket(t, 0xabcdef01, 7, true)
	ipv4 := func(proto byte, frag uint16, p []byte) []byte {
		f := make([]byte, 14+20+8, 14+20+8+len(p))
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		f[14] = 0x45
		binary.BigEndian.PutUint16(f[14+6:], frag)
		f[14+9] = proto
		return append(f, p...)
	}
	if ssrc, pt, ok := Classify(ipv4(17, 0, payload)); !ok || ssrc != 0xabcdef01 || pt != 111 {
		t.Fatalf("RTP over IPv4: %x %d %v", ssrc, pt, ok)
	}
	for name, f := range map[string][]byte{
		"TCP":            ipv4(6, 0, payload),
		"later fragment": ipv4(17, 100, payload),
		"short":          ipv4(17, 0, payload[:11]),
		"RTCP":           ipv4(17, 0, []byte{0x81, 201, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}),
		"STUN":           ipv4(17, 0, append([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...)),
		"ARP":            append(append(make([]byte, 12), 0x08, 0x06), make([]byte, 40)...),
		"empty":          nil,
	} {
		if _, _, ok := Classify(f); ok {
			t.Errorf("%s classified as RTP", name)
		}
	}
}

// FuzzClassify: any frame is RTP or not, never a panic.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0x45})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd, 0x60})
	f.Fuzz(func(t *testing.T, b []byte) { Classify(b) })
}
