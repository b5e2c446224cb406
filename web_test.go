package main

import (
	"fmt"
	"strings"
	"testing"
)

// login opens the web phone logged in as user with a link from softphone
// link (extra flags such as --call go to it).
func (e *webEnv) login(user string, linkArgs ...string) *tab {
	e.t.Helper()
	link := e.link(append([]string{"--user", user}, linkArgs...)...)
	b := e.open(user, link)
	b.waitJS("logged in as "+user, `TUICallKit.connection() === "connected"`)
	return b
}

// link runs softphone link against the test's server.
func (e *webEnv) link(args ...string) string {
	e.t.Helper()
	cmd := e.command(e.bin, append([]string{"link", "--server", e.webURL, "--secret-key-file", e.key}, args...)...)
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("softphone link %q: %v: %s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// TestWebCallsHeadless: the browser calls a headless softphone, which
// answers; both hear the other's tone, and both see meters and quality for
// both; the browser hangs up.
func TestWebCallsHeadless(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	alice := e.phone("alice", 440)
	b := e.login("guest")
	from := alice.mark()
	b.eval(`TUICallKit.call(["alice"]).then(() => true)`, nil)
	alice.event(from, "onCallReceived", map[string]any{"callerId": "guest"})
	alice.ok("accept")
	alice.event(from, "onCallBegin", map[string]any{"callRole": 2})
	b.waitEvent("onCallBegin", map[string]any{"callRole": 1})
	b.waitEvent("onUserAudioAvailable", map[string]any{"userId": "alice", "isAudioAvailable": true})
	alice.event(from, "onUserAudioAvailable", map[string]any{"userId": "guest", "isAudioAvailable": true})

	// Meters on both sides: the browser's page and the softphone's events.
	b.waitJS("alice's meter moves on the page", `+document.querySelector('.tile[data-user="alice"] .meter')?.dataset.volume > 30`)
	b.waitJS("guest's own meter moves", `+document.querySelector('.tile[data-user="guest"] .meter')?.dataset.volume > 30`)
	alice.wait(from, "guest's volume > 30", func(m map[string]any) bool {
		vm, ok := m["volumeMap"].(map[string]any)
		return ok && m["event"] == "onUserVoiceVolumeChanged" && vm["guest"] != nil && vm["guest"].(float64) > 30
	})
	b.waitJS("alice's network quality is known", `+document.querySelector('.tile[data-user="alice"] .quality')?.dataset.quality >= 1`)

	if hz := b.toneOf("alice"); !near(hz, 440) {
		t.Errorf("the browser hears %v Hz from alice, want 440", hz)
	}
	b.eval(`TUICallKit.hangup().then(() => true)`, nil)
	b.waitEvent("onCallEnd", nil)
	alice.event(from, "onUserLeave", map[string]any{"userId": "guest"})
	alice.event(from, "onCallEnd", nil)
	if share := alice.heard(browserToneHz, 440, 400, 450, 480); share < 0.8 {
		t.Errorf("alice heard the browser's %d Hz in %.0f%% of her loud frames, want >= 80%%", browserToneHz, 100*share)
	}
	fmt.Println(b.events())
}
