package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/audio"
	"softphone/internal/calltest"
	"softphone/internal/procstat"
	"softphone/internal/rtpsniff"
	"softphone/internal/testenv"
)

func TestSplitLines(t *testing.T) {
	sc := bufio.NewScanner(strings.NewReader("ready\r[0:00:01] audio=32400/32389 (bit/s)\r[0:00:02] x\nlast"))
	sc.Split(splitLines)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	want := []string{"ready", "[0:00:01] audio=32400/32389 (bit/s)", "[0:00:02] x", "last"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseBaresipRates(t *testing.T) {
	tx, rx, ok := parseBaresipRates("    [0:00:12] audio=32400/32389 (bit/s)    ")
	if !ok || tx != 32400 || rx != 32389 {
		t.Fatalf("got %d %d %v", tx, rx, ok)
	}
	for _, l := range []string{"baresip is ready.", "audio=/ (bit/s)", "audio=12"} {
		if _, _, ok := parseBaresipRates(l); ok {
			t.Errorf("%q parsed", l)
		}
	}
}

func TestCheckStreams(t *testing.T) {
	const w = 10 * time.Second // 500 packets a stream; 450 needed
	before := []rtpsniff.Stream{{SSRC: 1, Packets: 100}, {SSRC: 2, Packets: 90}}
	if err := checkStreams(before, []rtpsniff.Stream{{SSRC: 1, Packets: 600}, {SSRC: 2, Packets: 590}}, w); err != nil {
		t.Fatal(err)
	}
	for name, after := range map[string][]rtpsniff.Stream{
		"one way":          {{SSRC: 1, Packets: 600}, {SSRC: 2, Packets: 90}},
		"one stream":       {{SSRC: 1, Packets: 600}},
		"a third stream":   {{SSRC: 1, Packets: 600}, {SSRC: 2, Packets: 590}, {SSRC: 3, Packets: 500}},
		"gaps in a stream": {{SSRC: 1, Packets: 600}, {SSRC: 2, Packets: 400}},
	} {
		if err := checkStreams(before, after, w); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCompare(t *testing.T) {
	r := func(cpu, user float64, sw float64, threads int, mb float64, dial time.Duration) roundResult {
		x := procstat.Rates{CPU: cpu, User: user, System: cpu - user, SwitchesPerSec: sw, Threads: threads, RSS: int64(mb * (1 << 20))}
		return roundResult{caller: x, callee: x, dialToRTP: dial}
	}
	bs := []roundResult{r(1.8, 1.4, 300, 2, 12, 28*time.Millisecond), r(2.0, 1.6, 320, 2, 12, 30*time.Millisecond)}
	good := []roundResult{r(1.5, 1, 350, 5, 14, 10*time.Millisecond), r(1.7, 1, 390, 5, 14, 11*time.Millisecond)}
	two := func(sp []roundResult) []*side {
		return []*side{{name: "softphone", rounds: sp}, {name: "baresip", baresip: true, rounds: bs}}
	}
	if tab := compare(two(good)); tab.bad != 0 {
		t.Fatalf("%d missed: %v", tab.bad, tab.rows)
	}
	var out strings.Builder
	tab := compare(two(good))
	tab.print(&out)
	for _, want := range []string{"1.60 (1.50–1.70)", "1.90 (1.80–2)", "0.8×", "370 (350–390)", "10.5 (10–11)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// Every target missed: CPU above baresip's, switches, RSS, dial.
	bad := []roundResult{r(2.5, 1, 900, 9, 22, 22*time.Millisecond)}
	if tab := compare(two(bad)); tab.bad != 4 {
		t.Fatalf("%d missed, want 4: %v", tab.bad, tab.rows)
	}
	// A call that failed is a miss, and its figures are left out.
	failed := append([]roundResult{{err: fmt.Errorf("no media")}}, good...)
	if tab := compare(two(failed)); tab.bad != 1 {
		t.Fatalf("%d missed, want 1: %v", tab.bad, tab.rows)
	}
	if tab := compare(two(nil)); tab.bad == 0 {
		t.Fatal("no softphone rounds, no miss")
	}
	// A before column sits between ours and baresip's; the targets and the
	// ratio stay ours against baresip's.
	three := []*side{{name: "softphone", rounds: good}, {name: "before", rounds: bad}, {name: "baresip", baresip: true, rounds: bs}}
	out.Reset()
	tab = compare(three)
	tab.print(&out)
	if tab.bad != 0 || !strings.Contains(out.String(), "before") || !strings.Contains(out.String(), "2.50") || !strings.Contains(out.String(), "0.8×") {
		t.Fatalf("%d missed:\n%s", tab.bad, out.String())
	}
}

func TestWriteSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tone.wav")
	if err := writeSource(path, "", time.Second); err != nil {
		t.Fatal(err)
	}
	pcm := calltest.ReadWAV(t, path) // fails unless 48 kHz
	if len(pcm) != audio.SampleRate {
		t.Fatalf("%d samples, want %d", len(pcm), audio.SampleRate)
	}
	peak := 0
	for _, s := range pcm {
		peak = max(peak, int(s))
	}
	if want := int(math.Round(audio.DefaultToneAmplitude * 32767)); peak < want-2 || peak > want+2 {
		t.Fatalf("peak %d, want %d", peak, want)
	}

	// A recording at another rate, in stereo: converted to 48 kHz mono
	// and repeated to the length asked for.
	rec := filepath.Join(dir, "rec.wav")
	// 1.5 s and 10 samples at 16 kHz (a ramp on the left, silence on the
	// right): cut to whole 20 ms frames, 1.5 s, when it repeats.
	frames := 24010
	var stereo []int16
	for i := range frames {
		stereo = append(stereo, int16(i), 0)
	}
	writeStereo16k(t, rec, stereo)
	out := filepath.Join(dir, "out.wav")
	if err := writeSource(out, rec, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	pcm = calltest.ReadWAV(t, out)
	if len(pcm) != 4*audio.SampleRate {
		t.Fatalf("%d samples, want %d", len(pcm), 4*audio.SampleRate)
	}
	// The ramp's top, halved by the mix to mono, at the end of each 1.5 s
	// repetition; the ramp's start right after it.
	for _, rep := range []int{1, 2} {
		end := rep * 72000
		if top := pcm[end-1]; top < 11000 || top > 12500 {
			t.Errorf("repetition %d ends at %d, want ≈ %d", rep, top, 24000/2)
		}
		if start := pcm[end]; start > 100 {
			t.Errorf("repetition %d restarts at %d, want ≈ 0", rep+1, start)
		}
	}
	// Cut to loopLimit (12 s → 10 s), once with d 0: the loop file the
	// softphones get.
	for i := range 7 * frames {
		stereo = append(stereo, int16(i%7), 0)
	}
	long := filepath.Join(dir, "long.wav")
	writeStereo16k(t, long, stereo) // 12 s
	if err := writeSource(out, long, 0); err != nil {
		t.Fatal(err)
	}
	if pcm = calltest.ReadWAV(t, out); len(pcm) != 10*audio.SampleRate {
		t.Fatalf("once: %d samples, want %d", len(pcm), 10*audio.SampleRate)
	}
	if err := writeSource(out, filepath.Join(dir, "missing.wav"), time.Second); err == nil {
		t.Error("a missing -wav file gave no error")
	}
	if err := os.WriteFile(rec, []byte("not a wav"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeSource(out, rec, time.Second); err == nil || !strings.Contains(err.Error(), "-wav") {
		t.Errorf("a bad -wav file: %v", err)
	}
}

// writeStereo16k writes interleaved stereo samples as a 16 kHz 16-bit WAV
// file: a format the phones do not send, to be converted.
func writeStereo16k(t *testing.T, path string, stereo []int16) {
	t.Helper()
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*len(stereo)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))                 // fmt chunk size
	le([]uint16{1, 2})             // PCM, 2 channels
	le([]uint32{16000, 16000 * 4}) // rate, bytes a second
	le([]uint16{4, 16})            // bytes a frame, bits
	b.WriteString("data")
	le(uint32(2 * len(stereo)))
	le(stereo)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBaresipConfig(t *testing.T) {
	c := baresipConfig(15062, "/tmp/x.wav")
	for _, want := range []string{"sip_listen 127.0.0.1:15062\n", "audio_source aufile,/tmp/x.wav\n", "module dtls_srtp.so\n", "audio_channels 1\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	if a := baresipAccount("bob", 15062); a != "<sip:bob@127.0.0.1:15062;transport=udp>;regint=0;answermode=auto;mediaenc=dtls_srtp\n" {
		t.Errorf("account %q", a)
	}
}

// TestProcInNetns starts a real process in a namespace made by makeNetns:
// its output arrives line by line (\r too), its pid is the program's own
// (ip netns exec execs it), and stop ends it.
func TestProcInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "network namespaces need root")
	}
	ns := fmt.Sprintf("leanvs-%d", os.Getpid())
	if err := makeNetns(ns); err != nil {
		t.Fatal(err)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	b := &bench{ns: ns}
	p, err := b.start("sh", "sh", "-c", `printf 'one\rtwo\n'; ip -o -4 addr show vs0; exec sleep 30`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, want := range []string{"one", "two", "10.199.0.1/24"} {
		if err := p.waitLine(ctx, 5*time.Second, want, func(l string) bool { return strings.Contains(l, want) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.waitLine(ctx, 200*time.Millisecond, "nothing", func(string) bool { return true }); err == nil {
		t.Fatal("a line from nowhere")
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.cmd.Process.Pid))
	if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
		t.Fatalf("the child's pid is %q (%v), want the program's", comm, err)
	}
	start := time.Now()
	p.stop()
	if time.Since(start) > 4*time.Second {
		t.Fatal("stop waited for SIGKILL")
	}
	if err := p.waitLine(ctx, time.Second, "exit", func(string) bool { return false }); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("after stop: %v", err)
	}
}

// TestRoundOrder: over 6 rounds of 3 sides, each side runs once in each
// of the 6 orders, so each is in each place twice and follows each other
// side twice; every round runs every side once.
func TestRoundOrder(t *testing.T) {
	const n, rounds = 3, 6
	orders := map[[n]int]int{}
	place := map[[2]int]int{}   // side, place
	follows := map[[2]int]int{} // side, the side just before it
	for r := range rounds {
		o := roundOrder(n, r)
		if len(o) != n {
			t.Fatalf("round %d: order %v", r, o)
		}
		var key [n]int
		copy(key[:], o)
		orders[key]++
		seen := map[int]bool{}
		for i, s := range o {
			if s < 0 || s >= n || seen[s] {
				t.Fatalf("round %d: order %v is not every side once", r, o)
			}
			seen[s] = true
			place[[2]int{s, i}]++
			if i > 0 {
				follows[[2]int{s, o[i-1]}]++
			}
		}
	}
	if len(orders) != 6 {
		t.Errorf("%d distinct orders in %d rounds, want all 6: %v", len(orders), rounds, orders)
	}
	for s := range n {
		for i := range n {
			if place[[2]int{s, i}] != 2 {
				t.Errorf("side %d in place %d %d times, want 2", s, i, place[[2]int{s, i}])
			}
		}
		for p := range n {
			if p != s && follows[[2]int{s, p}] != 2 {
				t.Errorf("side %d right after side %d %d times, want 2", s, p, follows[[2]int{s, p}])
			}
		}
	}
}
