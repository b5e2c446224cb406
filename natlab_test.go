package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// The NAT lab: network namespaces joined by veth pairs, with NAT routers
// made of nftables rules, in which the real binary runs: `softphone serve`
// on a "public" network, and one `softphone --headless` phone in each of
// two homes, each home behind a NAT router of its own.
//
//	  home1 192.168.1.2 ── nat1 ── wan 100.128.0.1 ─┐
//	                                                 ├─ inet (a bridge) ── srv 100.128.0.10
//	  home2  10.0.2.2   ── nat2 ── wan 100.128.0.2 ─┘
//
// No route joins the homes except through the public side: the routers
// know their LAN and the public /24, nothing else, so a packet from one
// home to the other's private address dies at its own router. The public
// addresses are outside every block the TURN server refuses to relay to
// (100.128/16 lies just past carrier-grade NAT's 100.64/10): in these
// namespaces they lead nowhere else. Every namespace is named
// turn-PID-N-ROLE, so labs of test runs at the same time on this machine
// never meet, and a lab left by a killed run is removed by the next.

// natKind is how a home's router translates.
type natKind int

const (
	// natPortRestricted is Linux masquerade: the port is kept when free,
	// and only hosts the phone has sent to may answer (port-restricted
	// cone, mostly; conntrack may re-map a port when both sides send at
	// once).
	natPortRestricted natKind = iota
	// natSymmetric maps every new destination to a new random port
	// (endpoint-dependent mapping): what a STUN server saw is useless to
	// anyone else, so only a relay gets through to a port-restricted NAT.
	natSymmetric
	// natEndpointIndependent is a static 1:1 port mapping (SNAT out, DNAT
	// in for every UDP port): the port a STUN server sees works for
	// everyone, both ways, even when both sides send at once.
	natEndpointIndependent
	// natNoUDP is masquerade with all UDP from the home dropped: only TCP
	// (TURN over TCP) gets out.
	natNoUDP
)

const (
	labServerIP = "100.128.0.10"
	labSignal   = "ws://" + labServerIP + ":7880/ws"
)

var labSeq atomic.Int64

// natLab is one topology, removed with everything in it when the test
// ends.
type natLab struct {
	t      testing.TB
	prefix string
	roles  []string // its namespaces
	config string   // XDG_CONFIG_HOME of the server and usersig: the key lives there
	dir    string
}

// needNATLab fails (under make test) or skips without root, ip or nft.
func needNATLab(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the NAT tests make network namespaces: they need root")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (apt-get install iproute2 nftables; make test installs them)", tool)
		}
	}
}

// newNATLab builds the topology with the given NATs in front of home1 and
// home2.
func newNATLab(t testing.TB, home1, home2 natKind) *natLab {
	t.Helper()
	needNATLab(t)
	l := newLab(t, "inet", "srv", "nat1", "nat2", "home1", "home2")
	l.in("inet", "ip", "link", "add", "br0", "type", "bridge")
	l.in("inet", "ip", "link", "set", "br0", "up")
	for _, h := range []struct{ ns, dev, addr string }{
		{"srv", "eth0", labServerIP + "/24"},
		{"nat1", "wan0", "100.128.0.1/24"},
		{"nat2", "wan0", "100.128.0.2/24"},
	} {
		l.in("inet", "ip", "link", "add", "p-"+h.ns, "type", "veth", "peer", "name", h.dev, "netns", l.ns(h.ns))
		l.in("inet", "ip", "link", "set", "p-"+h.ns, "master", "br0", "up")
		l.in(h.ns, "ip", "addr", "add", h.addr, "dev", h.dev)
		l.in(h.ns, "ip", "link", "set", h.dev, "up")
	}
	for i, kind := range []natKind{home1, home2} {
		router, home := fmt.Sprintf("nat%d", i+1), fmt.Sprintf("home%d", i+1)
		lan, host, gw := l.homeNet(i + 1)
		l.in(router, "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", l.ns(home))
		l.in(router, "ip", "addr", "add", gw+"/24", "dev", "lan0")
		l.in(router, "ip", "link", "set", "lan0", "up")
		l.in(home, "ip", "addr", "add", host+"/24", "dev", "eth0")
		l.in(home, "ip", "link", "set", "eth0", "up")
		l.in(home, "ip", "route", "add", "default", "via", gw)
		l.in(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		l.nft(router, natRules(kind, lan, host, fmt.Sprintf("100.128.0.%d", i+1)))
	}
	return l
}

// newLab makes the namespaces of a lab, each with its loopback up.
func newLab(t testing.TB, roles ...string) *natLab {
	t.Helper()
	removeStaleLabs()
	l := &natLab{t: t, prefix: fmt.Sprintf("turn-%d-%d", os.Getpid(), labSeq.Add(1)), roles: roles, dir: t.TempDir()}
	l.config = filepath.Join(l.dir, "config")
	t.Cleanup(l.remove)
	for _, n := range roles {
		l.run("ip", "netns", "add", l.ns(n))
		l.in(n, "ip", "link", "set", "lo", "up")
	}
	return l
}

// homeNet is a home's LAN, its phone's address and its router's.
func (l *natLab) homeNet(home int) (lan, host, gw string) {
	if home == 1 {
		return "192.168.1.0/24", "192.168.1.2", "192.168.1.1"
	}
	return "10.0.2.0/24", "10.0.2.2", "10.0.2.1"
}

// natRules is the router's nftables ruleset.
func natRules(kind natKind, lan, host, wan string) string {
	post := `oifname "wan0" masquerade`
	var pre, filter string
	switch kind {
	case natSymmetric:
		post = `oifname "wan0" masquerade fully-random`
	case natEndpointIndependent:
		post = `oifname "wan0" ip saddr ` + lan + ` snat to ` + wan
		pre = `iifname "wan0" meta l4proto udp dnat to ` + host
	case natNoUDP:
		filter = `iifname "lan0" meta l4proto udp drop`
	}
	return fmt.Sprintf(`table ip lab {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		%s
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		%s
	}
	chain filt {
		type filter hook forward priority filter; policy accept;
		%s
	}
}
`, pre, post, filter)
}

// blockRelays makes both routers drop the server's relay traffic (UDP to
// and from its relay ports): what still connects, connects without it.
func (l *natLab) blockRelays() {
	l.t.Helper()
	for _, r := range []string{"nat1", "nat2"} {
		l.in(r, "nft", "add", "rule", "ip", "lab", "filt", "ip", "daddr", labServerIP, "udp", "dport", "49160-49200", "drop")
		l.in(r, "nft", "add", "rule", "ip", "lab", "filt", "ip", "saddr", labServerIP, "udp", "sport", "49160-49200", "drop")
	}
}

func (l *natLab) ns(role string) string { return l.prefix + "-" + role }

// wrap is the prefix that runs a command in role's namespace.
func (l *natLab) wrap(role string) []string { return []string{"ip", "netns", "exec", l.ns(role)} }

func (l *natLab) run(argv ...string) string {
	l.t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func (l *natLab) in(role string, argv ...string) string {
	l.t.Helper()
	return l.run(append(l.wrap(role), argv...)...)
}

func (l *natLab) nft(role, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.ns(role), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v: %s\n%s", role, err, out, rules)
	}
}

// remove deletes the lab's namespaces (with their veths and rules). The
// processes in them were stopped by their own cleanups, registered later
// and so run first.
func (l *natLab) remove() {
	for _, n := range l.roles {
		exec.Command("ip", "netns", "del", l.ns(n)).Run()
	}
}

// removeStaleLabs deletes the namespaces of labs whose test process is
// gone (killed before its cleanups ran).
func removeStaleLabs() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	re := regexp.MustCompile(`^turn-(\d+)-\d+-\w+`)
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			exec.Command("ip", "netns", "del", m[0]).Run()
		}
	}
}

// serve starts `softphone serve --listen :7880` in the server's namespace:
// nothing else, so the STUN/TURN server runs with its defaults, and the
// secret key is generated in the lab's config directory.
func (l *natLab) serve(bin string) *labProcess {
	l.t.Helper()
	return l.serveIn("srv", bin)
}

func (l *natLab) serveIn(role, bin string) *labProcess {
	l.t.Helper()
	p := l.start(role, []string{"XDG_CONFIG_HOME=" + l.config}, bin, "serve", "--listen", ":7880")
	p.waitOutput(l.t, "listening on")
	return p
}

// ticket mints a login ticket with the server's generated key.
func (l *natLab) ticket(bin, user string) string {
	l.t.Helper()
	cmd := exec.Command(bin, "usersig", "--user", user)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+l.config)
	out, err := cmd.Output()
	if err != nil {
		l.t.Fatalf("usersig: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// phone starts a headless phone in a home: a tone of hz for a microphone,
// a WAV file for a speaker, and flags added to --server and the login.
func (l *natLab) phone(bin string, home int, user string, hz int, extra ...string) *labPhone {
	l.t.Helper()
	return l.phoneIn(fmt.Sprintf("home%d", home), labSignal, bin, user, hz, extra...)
}

// phoneIn starts a headless phone in role's namespace, logged in to url.
func (l *natLab) phoneIn(role, url, bin, user string, hz int, extra ...string) *labPhone {
	l.t.Helper()
	wav := filepath.Join(l.dir, user+".wav")
	log := filepath.Join(l.dir, user+".log")
	args := append([]string{bin, "--headless", "--server", url, "--user", user, "--usersig", l.ticket(bin, user),
		"--mic", fmt.Sprintf("tone:%d", hz), "--speaker", "wav:" + wav, "--log-file", log, "--log-level", "debug"}, extra...)
	wrap := append(l.wrap(role), "env", "XDG_CONFIG_HOME="+l.config)
	h := startHeadless(l.t, wrap, args...)
	ph := &labPhone{headlessProc: h, user: user, wav: wav, log: log}
	ph.wait(l.t, "login")
	l.t.Cleanup(func() {
		if l.t.Failed() {
			l.t.Logf("%s's log (tail):\n%s", user, tail(log, 40))
		}
	})
	return ph
}

// labPhone is a headless phone in the lab.
type labPhone struct {
	*headlessProc
	user, wav, log string
}

// labProcess is a program running in a namespace, killed at the end.
type labProcess struct {
	cmd *exec.Cmd
	out *testenv.Buffer
}

func (l *natLab) start(role string, env []string, argv ...string) *labProcess {
	l.t.Helper()
	full := append(append(l.wrap(role), "env"), env...)
	full = append(full, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// If the test process dies without its cleanups, so does this.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	p := &labProcess{cmd: cmd, out: out}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	l.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if l.t.Failed() {
			l.t.Logf("%s output (tail):\n%s", argv[1], lastLines(out.String(), 40))
		}
	})
	return p
}

// waitOutput waits for s in the process's output.
func (p *labProcess) waitOutput(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%s", s, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// labPath is the media path a phone reported for another participant.
type labPath struct{ Type, Protocol, Local, Remote string }

func (p labPath) String() string {
	return fmt.Sprintf("%s over %s (%s → %s)", p.Type, p.Protocol, p.Local, p.Remote)
}

// pathTo waits for the phone's quality report to name its path to other.
func (p *labPhone) pathTo(t testing.TB, other string) labPath {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for time.Now().Before(deadline) {
		m := p.wait(t, "onUserNetworkQualityChanged")
		conn, _ := m["connection"].(map[string]any)
		if c, ok := conn[other].(map[string]any); ok {
			s := func(k string) string { v, _ := c[k].(string); return v }
			return labPath{s("type"), s("protocol"), s("local"), s("remote")}
		}
	}
	t.Fatalf("%s never reported a path to %s", p.user, other)
	return labPath{}
}

// hearing waits until the phone hears other (onUserAudioAvailable true)
// and returns when that line arrived.
func (p *labPhone) hearing(t testing.TB, other string) time.Time {
	t.Helper()
	for {
		m := p.wait(t, "onUserAudioAvailable")
		if m["userId"] == other && m["isAudioAvailable"] == true {
			return m[lineTime].(time.Time)
		}
	}
}

// labCall is one call from a to b (b answers by itself): the time from the
// call command until each hears the other.
func labCall(t testing.TB, a, b *labPhone) time.Duration {
	t.Helper()
	a.drain()
	b.drain()
	start := time.Now()
	fmt.Fprintln(a.stdin, "call "+b.user)
	a.wait(t, "call")
	ta, tb := a.hearing(t, b.user), b.hearing(t, a.user)
	if tb.After(ta) {
		ta = tb
	}
	return ta.Sub(start)
}

// drain forgets the lines read so far, so waits see only newer ones.
func (p *labPhone) drain() {
	p.seen = nil
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				return
			}
			_ = m
		default:
			return
		}
	}
}

// labHangup ends the call and waits for both ends to see it.
func labHangup(t testing.TB, a, b *labPhone) {
	t.Helper()
	fmt.Fprintln(a.stdin, "hangup")
	a.wait(t, "onCallEnd")
	b.wait(t, "onCallEnd")
}

// heard checks that the phone's recording ends with other's tone.
func (p *labPhone) heard(t *testing.T, hz float64, from string) {
	t.Helper()
	fileSizeSettled(p.wav)
	pcm := calltest.ReadWAV(t, p.wav)
	if !hasTone(pcm, hz) {
		t.Errorf("%s did not hear %s's %g Hz tone (%d samples)", p.user, from, hz, len(pcm))
	}
}
