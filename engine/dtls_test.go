package engine

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"

	"softphone/internal/testenv"
)

// TestDTLSSkipsTheCookieRoundTrip: on the wire between two peers (a pion
// virtual network), the DTLS server answers the one ClientHello with its
// ServerHello: no HelloVerifyRequest and no second ClientHello, one round
// trip less for every call.
func TestDTLSSkipsTheCookieRoundTrip(t *testing.T) {
	lan := NewLossyLAN(t)
	var mu sync.Mutex
	var seen []byte // handshake message types in plaintext (epoch 0) records, in order
	lan.router.AddChunkFilter(func(c vnet.Chunk) bool {
		if c.Network() != "udp" {
			return true
		}
		b := c.UserData()
		// DTLS records: type, version (2), epoch (2), sequence (6), length
		// (2), then the body; a handshake body starts with its type.
		for len(b) >= 13 {
			n := int(binary.BigEndian.Uint16(b[11:13]))
			if b[0] == 22 && b[3] == 0 && b[4] == 0 && n > 0 && len(b) > 13 {
				mu.Lock()
				seen = append(seen, b[13])
				mu.Unlock()
			}
			if 13+n > len(b) {
				break
			}
			b = b[13+n:]
		}
		return true
	})
	cfgA, cfgB := testMediaConfig(), testMediaConfig()
	cfgA.Net, cfgB.Net = lan.NetA, lan.NetB
	pp := newPeerPairNets(t, cfgA, cfgB)
	defer pp.close()
	testenv.WaitFor(t, "audio both ways", 20*time.Second, func() bool { return pp.gotA.Load() > 5 && pp.gotB.Load() > 5 })

	const clientHello, serverHello, helloVerifyRequest = 1, 2, 3
	mu.Lock()
	defer mu.Unlock()
	count := map[byte]int{}
	for _, h := range seen {
		count[h]++
	}
	if count[clientHello] == 0 || count[serverHello] == 0 {
		t.Fatalf("handshake messages on the wire %v: the test saw no ClientHello or ServerHello", seen)
	}
	if count[helloVerifyRequest] > 0 || count[clientHello] > 1 {
		t.Errorf("handshake messages on the wire %v: want one ClientHello answered by a ServerHello, no HelloVerifyRequest (3)", seen)
	}
}
