package signaling

import (
	"strings"
	"testing"
	"time"
)

var testICE = &ICEService{
	STUN:   []string{"stun:192.0.2.1:3478"},
	TURN:   []string{"turn:192.0.2.1:3478?transport=udp", "turn:192.0.2.1:3478?transport=tcp"},
	Secret: "ice-secret",
}

// checkICEServers checks a login reply's or push's servers: STUN, then TURN
// with credentials for user that expire at exp.
func checkICEServers(t *testing.T, got []ICEServer, user string, exp time.Time) {
	t.Helper()
	if len(got) != 2 || len(got[0].URLs) != 1 || got[0].Username != "" || len(got[1].URLs) != 2 {
		t.Fatalf("ice servers %+v", got)
	}
	name, pass := TURNCredentials("ice-secret", user, exp)
	if got[1].Username != name || got[1].Credential != pass || got[1].Expires != exp.Unix() {
		t.Fatalf("TURN credentials %+v, want %s / %s expiring %v", got[1], name, pass, exp)
	}
}

func TestLoginReplyCarriesICEServers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ICE = testICE; c.IdleTimeout = 1000 * time.Hour })
	c := h.dial("alice")
	// A 2-hour ticket: the credentials last as long as the ticket.
	r := c.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: "alice", UserSig: h.ticket("alice", 2*time.Hour)})
	checkICEServers(t, r.ICEServers, "alice", testStart.Add(2*time.Hour))
	// No renewal is armed: the session ends with the ticket.
	h.clock.Advance(2*time.Hour - time.Second)
	c.quiet()

	// A week-long ticket: day-long credentials, renewed 10 minutes
	// before they expire, again and again while the user is online.
	b := h.dial("bob")
	r = b.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: "bob", UserSig: h.ticket("bob", 7*24*time.Hour)})
	start := h.clock.Now()
	checkICEServers(t, r.ICEServers, "bob", start.Add(24*time.Hour))
	h.clock.Advance(24*time.Hour - 10*time.Minute - time.Second)
	b.quiet()
	h.clock.Advance(time.Second)
	p := b.expect(TypeICEServers)
	checkICEServers(t, p.ICEServers, "bob", start.Add(48*time.Hour-10*time.Minute))
	h.clock.Advance(24 * time.Hour)
	checkICEServers(t, b.expect(TypeICEServers).ICEServers, "bob", start.Add(72*time.Hour-20*time.Minute))

	// Logging in again (here: resuming a session held for a call) gets
	// credentials fresh from that moment.
	carol := h.login("carol")
	h.connect(b, carol)
	b.drop()
	b2 := h.dial("bob")
	r = b2.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: "bob", UserSig: h.ticket("bob", 7*24*time.Hour), Resume: r.Token})
	if !r.Resumed {
		t.Fatalf("not resumed: %+v", r)
	}
	checkICEServers(t, r.ICEServers, "bob", h.clock.Now().Add(24*time.Hour))
}

func TestICEServersThroughTheClient(t *testing.T) {
	ice := *testICE
	ice.MaxLifetime = time.Hour
	h := newHarness(t, func(c *Config) { c.ICE = &ice })
	ctx, cancel := testCtx()
	defer cancel()
	cl, err := Dial(ctx, ClientConfig{URL: h.url, UserID: "alice", UserSig: h.ticket("alice", 24*time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ev := (<-cl.Events()).(ConnEvent)
	checkICEServers(t, ev.ICEServers, "alice", testStart.Add(time.Hour))
	checkICEServers(t, cl.Session().ICEServers, "alice", testStart.Add(time.Hour))

	h.clock.Advance(50 * time.Minute)
	got := (<-cl.Events()).(ICEServersChanged)
	checkICEServers(t, got.Servers, "alice", testStart.Add(110*time.Minute))
	if !strings.HasPrefix(got.Servers[1].URLs[0], "turn:") {
		t.Fatalf("%+v", got)
	}
}

func TestNoICEServersWithoutAService(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login("alice")
	r := c.req(Frame{Type: TypeSync})
	if len(r.ICEServers) != 0 {
		t.Fatalf("%+v", r)
	}
	c2 := h.dial("bob")
	r = c2.req(Frame{Type: TypeLogin, Version: ProtocolVersion, UserID: "bob", UserSig: h.ticket("bob", time.Hour)})
	if r.ICEServers != nil {
		t.Fatalf("ice servers without a service: %+v", r.ICEServers)
	}
}
