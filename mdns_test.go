package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"softphone/signaling"
)

// TestBrowserMDNSCandidatesOnALAN: a browser hides its addresses behind
// mDNS names (candidates like "1f0c….local"); a phone on the same LAN
// resolves them and connects directly. Two namespaces make the LAN (a
// veth between 192.168.7.1, with the server and alice's phone, and
// 192.168.7.2); the "browser" is pion with mDNS candidates, as Chrome
// sends them, run as this test binary in the second namespace and
// speaking the relay payloads of PROTOCOL.md.
//
// Alice's machine has a stateful firewall, as most desktops do: UDP comes
// in only as the answer to UDP she sent (and mDNS). So the browser's
// connectivity checks cannot open the path by themselves: it opens only
// when alice sends to the browser's address, which she learns only by
// resolving its .local name. A phone that dropped mDNS candidates would
// never connect here.
func TestBrowserMDNSCandidatesOnALAN(t *testing.T) {
	needNATLab(t)
	bin := softphoneBinary(t)
	lab := newLab(t, "lana", "lanb")
	lab.in("lana", "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", lab.ns("lanb"))
	for _, h := range []struct{ ns, addr string }{{"lana", "192.168.7.1/24"}, {"lanb", "192.168.7.2/24"}} {
		lab.in(h.ns, "ip", "addr", "add", h.addr, "dev", "eth0")
		lab.in(h.ns, "ip", "link", "set", "eth0", "up")
	}
	lab.nft("lana", `table inet fw {
	chain in {
		type filter hook input priority filter; policy accept;
		iifname "eth0" ct state established,related accept
		iifname "eth0" udp dport 5353 accept
		iifname "eth0" udp sport 5353 accept
		iifname "eth0" meta l4proto udp drop
	}
}
`)
	lab.serveIn("lana", bin)
	url := "ws://192.168.7.1:7880/ws"
	alice := lab.phoneIn("lana", url, bin, "alice", 440)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	browser := lab.start("lanb", []string{browserPeerEnv + "=1", "BROWSER_URL=" + url, "BROWSER_SIG=" + lab.ticket(bin, "web")},
		self, "-test.run", "^$")
	browser.waitOutput(t, "logged in")

	fmt.Fprintln(alice.stdin, "call web")
	alice.wait(t, "onCallBegin")
	path := alice.pathTo(t, "web")
	browser.waitOutput(t, "ice connected")
	out := browser.out.String()
	if !strings.Contains(out, "candidate: ") || strings.Contains(out, "candidate: 192.168.7.2") {
		t.Fatalf("the browser's candidates are not mDNS names:\n%s", out)
	}
	if path.Type != "direct" || path.Local != "host" {
		t.Fatalf("alice's path to the browser: %v, want direct between host candidates\nbrowser:\n%s", path, out)
	}
	t.Logf("alice's path to the browser: %v", path)
	fmt.Fprintln(alice.stdin, "hangup")
	alice.wait(t, "onCallEnd")
}

const browserPeerEnv = "SOFTPHONE_TEST_BROWSER_PEER"

// The test binary started with SOFTPHONE_TEST_BROWSER_PEER=1 is the
// browser: it never runs the tests.
func init() {
	if os.Getenv(browserPeerEnv) == "" {
		return
	}
	if err := browserPeer(os.Getenv("BROWSER_URL"), os.Getenv("BROWSER_SIG")); err != nil {
		fmt.Println("browser peer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// browserPeer logs in as "web", answers the first call, and answers the
// caller's offers as a browser does, with mDNS host candidates. It prints
// its candidates and ICE states.
func browserPeer(url, sig string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := signaling.Dial(ctx, signaling.ClientConfig{URL: url, UserID: "web", UserSig: sig})
	if err != nil {
		return err
	}
	defer cl.Close()
	fmt.Println("logged in")

	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	var callID, from string
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := cl.Relay(ctx, callID, from, b); err != nil {
			fmt.Println("relay:", err)
		}
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		fmt.Println("candidate:", c.Address)
		init := c.ToJSON()
		send(map[string]any{"kind": "candidate", "candidate": init})
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) { fmt.Println("ice", s) })

	for ev := range cl.Events() {
		switch v := ev.(type) {
		case signaling.IncomingCall:
			callID, from = v.CallID, v.CallerID
			if _, err := cl.Accept(ctx, v.CallID); err != nil {
				return err
			}
		case signaling.CallEnded, signaling.CallCancelled:
			return nil
		case signaling.Relayed:
			var msg struct {
				Kind      string                   `json:"kind"`
				SDP       string                   `json:"sdp"`
				Seq       int                      `json:"seq"`
				Candidate *webrtc.ICECandidateInit `json:"candidate"`
			}
			if json.Unmarshal(v.Payload, &msg) != nil {
				continue
			}
			switch msg.Kind {
			case "offer":
				if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: msg.SDP}); err != nil {
					return err
				}
				answer, err := pc.CreateAnswer(nil)
				if err != nil {
					return err
				}
				send(map[string]any{"kind": "answer", "sdp": answer.SDP, "seq": msg.Seq})
				if err := pc.SetLocalDescription(answer); err != nil {
					return err
				}
			case "candidate":
				if msg.Candidate != nil {
					if err := pc.AddICECandidate(*msg.Candidate); err != nil {
						fmt.Println("add candidate:", err)
					}
				}
			}
		}
	}
	return nil
}
