package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"softphone/audio"
	"softphone/internal/calltest"
	"softphone/internal/testenv"
)

// TestSSHSoundAtTheDesk is the README's "Over SSH" recipe, for real: a
// "desk" PulseAudio daemon with the native protocol on TCP port 4713
// (auth-ip-acl=127.0.0.1), a real sshd, and the phone started inside an SSH
// session whose reverse tunnel (-R 24713:127.0.0.1:4713) carries the desk's
// sound server, with PULSE_SERVER=tcp:127.0.0.1:24713 and the default
// devices. The other party, bob, sends a 1000 Hz tone and records what he
// hears; the desk's microphone hears a 440 Hz tone. Both must cross: bob's
// tone lands on the desk's speaker and the desk's tone reaches bob. The
// devices list and the TUI's header over the same SSH link say where the
// sound is.
//
// Everything runs in a network namespace of its own (only its loopback
// exists), so the fixed ports of the recipe are free and no packet leaves.
func TestSSHSoundAtTheDesk(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the SSH test runs sshd and a network namespace: it needs root")
	}
	for _, tool := range []string{"/usr/sbin/sshd", "ssh", "ssh-keygen", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (apt-get install openssh-server openssh-client iproute2)", tool)
		}
	}
	bin := softphoneBinary(t)
	ns := newNetns(t, "sp-ssh")
	in := []string{"ip", "netns", "exec", ns}
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // the SSH session reads the binary and the key from here

	desk := testenv.NeedPulse(t, in, "module-native-protocol-tcp port=4713 auth-ip-acl=127.0.0.1")
	desk.Play(t, "mic", 440)
	deskHeard := desk.Record(t, "spk.monitor")

	ssh := startSSHD(t, dir, in)
	key := writeKey(t)
	url := serveProcess(t, bin, key, in...)

	bobWAV := filepath.Join(dir, "bob.wav")
	bob := startHeadless(t, in, bin, "--headless", "--server", url, "--user", "bob", "--secret-key-file", key,
		"--mic", "tone:1000", "--speaker", "wav:"+bobWAV, "--auto-answer", "--log-file", filepath.Join(dir, "bob.log"))
	bob.wait(t, "login")

	// What `softphone devices` says inside the SSH session.
	devices := ssh.run(t, "PULSE_SERVER="+audio.DeskPulseServer+" "+bin+" devices")
	for _, want := range []string{
		"PulseAudio (server tcp:127.0.0.1:24713, from PULSE_SERVER):",
		"Monitor of Null Output",
		"Sound goes to the PulseAudio server tcp:127.0.0.1:24713",
		"you hear the call at your desk",
	} {
		if !strings.Contains(devices, want) {
			t.Errorf("softphone devices over SSH lacks %q:\n%s", want, devices)
		}
	}

	// The phone in the SSH session, on the desk's default devices. Voice
	// processing is off: noise suppression and gain control would take the
	// desk's steady test tone for a fan, and the echo canceller, with no
	// echo path here (the desk's microphone and speaker are separate
	// sinks) and a steady tone at each end, attenuated the desk's tone by
	// ~17 dB, muted it for 0.6 s and once added a burst of bob's own tone
	// (about 1 run in 20): tone against tone is where it is weakest (its
	// delay estimator ignores tones). This test is about the sound's way
	// over SSH; the canceller is tested with speech in audio/voice.
	alice := startHeadless(t, nil, ssh.command(false, "PULSE_SERVER="+audio.DeskPulseServer+" exec "+bin+" --headless --server "+url+
		" --user alice --secret-key-file "+key+" --aec off --ns off --agc off --log-file "+filepath.Join(dir, "alice.log"))...)
	alice.wait(t, "login")
	fmt.Fprintln(alice.stdin, "call bob")
	alice.wait(t, "onCallBegin")
	devs := alice.wait(t, "onAudioDeviceChanged")
	if w, _ := devs["warning"].(string); w != "" || !strings.Contains(fmt.Sprint(devs), "Null Output") {
		t.Errorf("the SSH phone did not open the desk's devices: %v", devs)
	}

	// Three seconds of call, then both directions must carry their tone.
	time.Sleep(3 * time.Second)
	heard := deskHeard()
	if !hasTone(heard, 1000) {
		t.Errorf("the desk's speaker did not play bob's 1000 Hz (%d samples, level %d); desk log:\n%s", len(heard), audio.Level(lastSecond(heard)), desk.Log())
	}
	fmt.Fprintln(alice.stdin, "hangup")
	alice.wait(t, "onCallEnd")
	bob.wait(t, "onCallEnd")
	if pcm := calltest.ReadWAV(t, bobWAV); !hasTone(pcm, 440) {
		t.Errorf("bob did not hear the desk microphone's 440 Hz (level %d; %s)", audio.Level(lastSecond(pcm)), tonePowers(pcm, 440, 1000))
	}
	fmt.Fprintln(alice.stdin, "quit")

	// The TUI's header over SSH: where the sound is, without and with the
	// forwarded server.
	host, _ := os.Hostname()
	x := newTmux(t)
	for _, tc := range []struct{ env, want, help string }{
		{"", "sound: on " + host, "runs on " + host + " over SSH"},
		{"PULSE_SERVER=" + audio.DeskPulseServer + " ", "sound: via tcp:127.0.0.1:24713", "through an SSH tunnel"},
	} {
		argv := ssh.command(true, tc.env+"exec "+strings.Join(clientArgs(bin, url, key, "carol", "default", filepath.Join(dir, "carol.log")), " "))
		p := x.start(fmt.Sprintf("tui%d", len(tc.env)), filepath.Join(dir, "carol.log"), nil, argv...)
		p.waitFor("● connected", tc.want)
		p.press("?")
		p.waitFor(tc.help)
		p.press("q")
		if code := p.waitExit(); code != 0 {
			t.Errorf("the phone over SSH exited with %d:\n%s", code, p.screen())
		}
	}
}

// newNetns makes a network namespace with only its loopback, up, and
// removes it when the test ends.
func newNetns(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		// Processes still in it would keep it; the test's own cleanups
		// ran first (they were registered later).
		exec.Command("ip", "netns", "del", name).Run()
	})
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", name, err, out)
	}
	return name
}

// sshd is a real OpenSSH server on 127.0.0.1:2222 of a namespace, letting
// root in with a key made for the test.
type sshd struct {
	wrap          []string
	clientKey, kh string
}

func startSSHD(t *testing.T, dir string, wrap []string) *sshd {
	t.Helper()
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sshd_config")
	conf := strings.Join([]string{
		"Port 2222", "ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(dir, "host"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + auth,
		"PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
		"UsePAM no", "StrictModes no", "AllowTcpForwarding yes", "LogLevel ERROR",
	}, "\n") + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	argv := append(append([]string(nil), wrap...), "/usr/sbin/sshd", "-D", "-e", "-f", cfg)
	cmd := exec.Command(argv[0], argv[1:]...)
	log := &testenv.Buffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd's log:\n%s", log.String())
		}
	})
	s := &sshd{wrap: wrap, clientKey: filepath.Join(dir, "client"), kh: filepath.Join(dir, "known_hosts")}
	deadline := time.Now().Add(e2eWait)
	for {
		argv := s.command(false, "true")
		if err := exec.Command(argv[0], argv[1:]...).Run(); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not let us in; its log:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// command is the argv that runs remote (a shell command line) in an SSH
// session with the desk's sound server tunnelled to port 24713, from inside
// the namespace; tty asks for a terminal (ssh -t), as a user's session has.
// HOME is private, so libpulse's cookie stays out of root's.
func (s *sshd) command(tty bool, remote string) []string {
	argv := append([]string(nil), s.wrap...)
	if tty {
		argv = append(argv, "ssh", "-t")
	} else {
		argv = append(argv, "ssh", "-T")
	}
	return append(argv, "-F", "/dev/null", "-p", "2222", "-i", s.clientKey,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile="+s.kh, "-o", "BatchMode=yes",
		"-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
		"-R", fmt.Sprintf("%d:127.0.0.1:4713", audio.TunnelPort),
		"root@127.0.0.1", "HOME="+filepath.Dir(s.clientKey)+" "+remote)
}

// run runs remote in an SSH session and returns its output.
func (s *sshd) run(t *testing.T, remote string) string {
	t.Helper()
	argv := s.command(false, remote)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %s: %v\n%s", remote, err, out)
	}
	return string(out)
}

// lineTime is the key of the time a line arrived, added to each line.
const lineTime = "_arrived"

// headlessProc is a `softphone --headless` process (maybe behind ssh): its
// stdin, and its JSON lines as they come.
type headlessProc struct {
	stdin io.WriteCloser
	lines chan map[string]any
	seen  []map[string]any // lines read but not yet waited for
}

func startHeadless(t testing.TB, wrap []string, argv ...string) *headlessProc {
	t.Helper()
	argv = append(append([]string(nil), wrap...), argv...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	// If the test process dies before its cleanups, so does the phone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &headlessProc{stdin: stdin, lines: make(chan map[string]any, 1000)}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				m[lineTime] = time.Now()
				h.lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && stderr.String() != "" {
			t.Logf("%s stderr:\n%s", argv[0], stderr.String())
		}
	})
	return h
}

// wait returns the first line named name (an event or a response) not
// returned before, also one that came while waiting for another; it fails
// on an error response or after e2eWait.
func (h *headlessProc) wait(t testing.TB, name string) map[string]any {
	t.Helper()
	match := func(m map[string]any) bool { return m["event"] == name || m["response"] == name }
	timeout := time.After(e2eWait)
	for i := 0; ; i++ {
		if i == len(h.seen) {
			select {
			case m, ok := <-h.lines:
				if !ok {
					t.Fatalf("the phone exited before %s", name)
				}
				h.seen = append(h.seen, m)
			case <-timeout:
				t.Fatalf("no %s within %v", name, e2eWait)
			}
		}
		if m := h.seen[i]; match(m) {
			h.seen = append(h.seen[:i], h.seen[i+1:]...)
			if m["ok"] == false {
				t.Fatalf("%s failed: %v", name, m)
			}
			return m
		}
	}
}

// lastSecond is the last second of pcm (all of it if shorter).
func lastSecond(pcm []int16) []int16 { return pcm[max(0, len(pcm)-audio.SampleRate):] }

// tonePowers says, for a failure message, how strong hz, its two
// neighbours hasTone compares it with, and other are in pcm's last second.
func tonePowers(pcm []int16, hz, other float64) string {
	s := lastSecond(pcm)
	return fmt.Sprintf("power at %.0f Hz %.3g, at %.0f Hz %.3g, at %.0f Hz %.3g, at %.0f Hz %.3g",
		hz, testenv.TonePower(s, hz), hz/1.41, testenv.TonePower(s, hz/1.41), hz*1.41, testenv.TonePower(s, hz*1.41), other, testenv.TonePower(s, other))
}

// hasTone reports whether the last second of pcm is a clear tone of hz:
// loud enough and ten times stronger at hz than half an octave either side.
func hasTone(pcm []int16, hz float64) bool {
	s := lastSecond(pcm)
	if len(s) < audio.SampleRate/2 || audio.Level(s) < 30 {
		return false
	}
	p := testenv.TonePower(s, hz)
	return p > 10*testenv.TonePower(s, hz/1.41) && p > 10*testenv.TonePower(s, hz*1.41)
}
