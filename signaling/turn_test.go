package signaling

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"softphone/internal/testenv"
)

// The TURN tests run the real server on a loopback port with real pion/turn
// clients: the address told to clients is 127.0.0.1, so a relay reaching
// another relay reaches 127.0.0.1 too, which the peer filter must allow
// (and nothing else on this machine).

// freeRelayPorts finds a run of n UDP ports on 127.0.0.1 that are free right
// now, so tests running at once on this machine rarely collide.
func freeRelayPorts(t *testing.T, n int) (int, int) {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if base+n > 65000 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	t.Fatal("no run of free UDP ports")
	return 0, 0
}

const turnTestSecret = "turn-test-secret"

func startTestTURN(t *testing.T, edit func(*TURNConfig)) (*TURNServer, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	lo, hi := freeRelayPorts(t, 8)
	cfg := TURNConfig{
		Listen:  "127.0.0.1:0",
		MinPort: lo, MaxPort: hi,
		Secret: turnTestSecret,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := StartTURN(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, logs
}

// turnClient is a pion TURN client over UDP, or over TCP with tcp set.
func turnClient(t *testing.T, srv *TURNServer, user, pass string, tcp bool) *turn.Client {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(srv.Port())
	var conn net.PacketConn
	if tcp {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "softphone", RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	return cl
}

func credsFor(user string, life time.Duration) (string, string) {
	return TURNCredentials(turnTestSecret, user, time.Now().Add(life))
}

// allocate makes a relay for user with fresh credentials.
func allocate(t *testing.T, srv *TURNServer, user string, tcp bool) net.PacketConn {
	t.Helper()
	name, pass := credsFor(user, time.Hour)
	relay, err := turnClient(t, srv, name, pass, tcp).Allocate()
	if err != nil {
		t.Fatalf("allocate for %s (tcp %v): %v", user, tcp, err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

// relayed sends msg from a to b's relay address and reports whether b got
// it. b first sends to a: a relay takes packets only from peers it has a
// permission for, and it gets one by sending to them (as ICE's checks do).
func relayed(t *testing.T, from, to net.PacketConn, msg []byte) bool {
	t.Helper()
	if _, err := to.WriteTo([]byte("permission"), from.LocalAddr()); err != nil {
		t.Fatalf("create a permission: %v", err)
	}
	if _, err := from.WriteTo(msg, to.LocalAddr()); err != nil {
		t.Fatalf("write through the relay: %v", err)
	}
	buf := make([]byte, 1500)
	to.SetReadDeadline(time.Now().Add(3 * time.Second))
	defer to.SetReadDeadline(time.Time{})
	for {
		n, _, err := to.ReadFrom(buf)
		if err != nil {
			return false
		}
		if bytes.Equal(buf[:n], msg) {
			return true
		}
	}
}

func TestTURNRelaysBetweenUsersOverUDPAndTCP(t *testing.T) {
	srv, _ := startTestTURN(t, nil)
	if srv.PublicIP() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("public IP %v, want the listen address", srv.PublicIP())
	}
	a := allocate(t, srv, "alice", false)
	b := allocate(t, srv, "bob", true) // TURN over TCP, relay over UDP
	if !relayed(t, a, b, []byte("hello bob")) || !relayed(t, b, a, []byte("hello alice")) {
		t.Fatal("relay to relay did not carry the packets both ways")
	}
	if st := srv.Stats(); st.Allocations != 2 || st.RelayedBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	// A STUN binding needs no credentials and tells the mapped address.
	cl := turnClient(t, srv, "", "", false)
	mapped, err := cl.SendBindingRequest()
	if err != nil || !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
		t.Fatalf("STUN binding: %v %v", mapped, err)
	}
}

func TestTURNRefusesExpiredAndForgedCredentials(t *testing.T) {
	srv, logs := startTestTURN(t, nil)
	cases := []struct{ name, user, pass string }{
		{"expired", "", ""},
		{"forged password", "", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"other secret", "", ""},
		{"not ours", "alice", "whatever"},
	}
	cases[0].user, cases[0].pass = credsFor("alice", -time.Minute)
	cases[1].user, _ = credsFor("alice", time.Hour)
	cases[2].user, cases[2].pass = TURNCredentials("another-servers-secret", "alice", time.Now().Add(time.Hour))
	for _, c := range cases {
		for _, tcp := range []bool{false, true} {
			_, err := turnClient(t, srv, c.user, c.pass, tcp).Allocate()
			if err == nil {
				t.Fatalf("%s (tcp %v): allocation succeeded", c.name, tcp)
			}
		}
	}
	if st := srv.Stats(); st.Allocations != 0 || st.RefusedAuth < 4 {
		t.Fatalf("stats %+v", st)
	}
	for _, want := range []string{"credentials expired", "wrong credentials", "not a softphone TURN username"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %q in:\n%s", want, logs)
		}
	}
}

func TestTURNRefusesPrivatePeersByDefault(t *testing.T) {
	srv, logs := startTestTURN(t, nil)
	relay := allocate(t, srv, "alice", false)
	for _, peer := range []string{"10.1.2.3:5000", "192.168.1.20:5000", "172.20.0.1:5000", "169.254.169.254:80", "127.0.0.53:53", "224.0.0.251:5353"} {
		addr, _ := net.ResolveUDPAddr("udp4", peer)
		if _, err := relay.WriteTo([]byte("x"), addr); err == nil {
			t.Errorf("relay to %s was permitted", peer)
		}
	}
	if !strings.Contains(logs.String(), "TURN permission refused") {
		t.Errorf("no log line about the refusal:\n%s", logs)
	}

	// This server's own address is allowed at relay ports only: a UDP
	// service on 127.0.0.1 outside the range hears nothing.
	victim, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	relay.WriteTo([]byte("probe"), victim.LocalAddr())
	victim.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := victim.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("a relay reached a service on the server's own address (%d bytes)", n)
	}
	if srv.Stats().DroppedPacket == 0 {
		t.Fatal("the packet to the server's own port was not counted as dropped")
	}
}

func TestTURNAllowPrivate(t *testing.T) {
	srv, _ := startTestTURN(t, func(c *TURNConfig) { c.AllowPrivate = true })
	relay := allocate(t, srv, "alice", false)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo([]byte("to a local service"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := peer.ReadFrom(make([]byte, 100)); err != nil {
		t.Fatalf("with --turn-allow-private the relay should reach 127.0.0.1: %v", err)
	}
}

func TestTURNUserQuotas(t *testing.T) {
	srv, logs := startTestTURN(t, func(c *TURNConfig) {
		c.UserAllocations = 2
		c.UserBitrate = 80_000 // 10 KB/s, a burst of 10 KB
	})
	a := allocate(t, srv, "alice", false)
	allocate(t, srv, "alice", true)
	name, pass := credsFor("alice", time.Hour)
	_, err := turnClient(t, srv, name, pass, false).Allocate()
	if err == nil {
		t.Fatal("a third relay for alice was allowed with a quota of 2")
	}
	if !strings.Contains(logs.String(), "the user holds the most relays allowed") {
		t.Errorf("no log line about the allocation quota:\n%s", logs)
	}
	b := allocate(t, srv, "bob", false) // other users are not affected

	// 40 KB at once through alice's relay: about the 10 KB burst passes.
	msg := bytes.Repeat([]byte("x"), 1000)
	if !relayed(t, a, b, msg) { // also creates the permission
		t.Fatal("first packet not relayed")
	}
	for i := 0; i < 40; i++ {
		a.WriteTo(msg, b.LocalAddr())
	}
	got := 0
	buf := make([]byte, 1500)
	b.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := b.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	if got > 15 {
		t.Fatalf("%d of 40 KB arrived at once, with a bandwidth quota of 10 KB/s", got)
	}
	if srv.Stats().DroppedPacket == 0 || !strings.Contains(logs.String(), "over the bandwidth quota") {
		t.Fatalf("drops not counted or logged: %+v\n%s", srv.Stats(), logs)
	}
	// The quota frees up when a relay closes.
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := turnClient(t, srv, name, pass, false).Allocate(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("alice's quota did not free up after a relay closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTURNConfigErrors(t *testing.T) {
	if _, err := StartTURN(TURNConfig{}); err == nil {
		t.Fatal("no secret accepted")
	}
	if _, err := StartTURN(TURNConfig{Secret: "s", Listen: "127.0.0.1:0", MinPort: 5000, MaxPort: 4000}); err == nil {
		t.Fatal("bad port range accepted")
	}
	if _, err := StartTURN(TURNConfig{Secret: "s", Listen: "127.0.0.1:0", PublicIP: net.ParseIP("::1")}); err == nil {
		t.Fatal("IPv6 public IP accepted")
	}
	srv, _ := startTestTURN(t, nil)
	_, err := StartTURN(TURNConfig{Secret: "s", Listen: "127.0.0.1:" + strconv.Itoa(srv.Port())})
	if err == nil || !strings.Contains(err.Error(), "--turn off") {
		t.Fatalf("a taken port: %v", err)
	}
}

func TestDeniedPeers(t *testing.T) {
	for ip, denied := range map[string]bool{
		"10.0.0.1": true, "127.0.0.1": true, "192.168.0.1": true, "172.31.255.255": true,
		"169.254.169.254": true, "100.64.0.1": true, "0.0.0.0": true, "255.255.255.255": true,
		"::1": true, "fe80::1": true, "fd00::1": true, "::ffff:10.0.0.1": true, "224.0.0.251": true,
		"8.8.8.8": false, "100.128.0.1": false, "172.32.0.1": false, "2a00:1450::1": false, "::ffff:8.8.8.8": false,
	} {
		if got := deniedPeer(netip.MustParseAddr(ip)); got != denied {
			t.Errorf("%s: denied %v, want %v", ip, got, denied)
		}
	}
}

func TestTURNCredentialsMatchPionsScheme(t *testing.T) {
	// pion's own generator and ours make the same password for the same
	// username, so pion's auth handler accepts ours.
	name, pass, err := turn.GenerateLongTermTURNRESTCredentials("s3cret", "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := strconv.ParseInt(strings.Split(name, ":")[0], 10, 64)
	n2, p2 := TURNCredentials("s3cret", "alice", time.Unix(exp, 0))
	if n2 != name || p2 != pass {
		t.Fatalf("ours %q %q, pion's %q %q", n2, p2, name, pass)
	}
	if TURNSecret("k1") == TURNSecret("k2") || TURNSecret("k1") == "k1" || len(TURNSecret("k1")) != 64 {
		t.Fatal("TURNSecret is not a keyed digest of the server key")
	}
}

// FuzzTURNUsername: whatever username a TURN client sends, the server's
// check never panics and never accepts one that is not EXPIRY:USERID
// with a valid user id and a future expiry.
func FuzzTURNUsername(f *testing.F) {
	name, _ := credsFor("alice", time.Hour)
	for _, s := range []string{name, "", ":", "1:", ":alice", "99999999999999999999:alice", "-1:alice", "1700000000:al ice", "1:2:3"} {
		f.Add(s)
	}
	srv := &TURNServer{log: slog.New(slog.DiscardHandler)}
	srv.limited = rateLimitedLog{logger: srv.log, every: time.Minute}
	accept := func(*turn.RequestAttributes) (string, []byte, bool) { return "x", []byte("k"), true }
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}
	f.Fuzz(func(t *testing.T, username string) {
		_, _, ok := srv.authenticate(&turn.RequestAttributes{Username: username, SrcAddr: src}, accept)
		if !ok {
			return
		}
		exp, user, found := strings.Cut(username, ":")
		sec, err := strconv.ParseInt(exp, 10, 64)
		if !found || err != nil || !ValidUserID(user) || time.Unix(sec, 0).Before(time.Now()) {
			t.Fatalf("accepted %q", username)
		}
	})
}
