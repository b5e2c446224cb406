package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"softphone/signaling"
)

// maxLinkExpire caps a link's ticket: a link is for a visit, not an account
// (softphone usersig mints long tickets).
const maxLinkExpire = 24 * time.Hour

// cmdLink prints a link to the web phone that logs USER in with a fresh,
// short-lived ticket, and with --call rings someone at once. The ticket is
// in the URL's fragment (#...), which browsers never send to a server.
func cmdLink(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("link", "softphone link --user ID [--expire 1h] [--call USER] [--video] [--server URL]", stderr)
	user := fs.String("user", "", "who the link logs in (1-32 of A-Z a-z 0-9 _ -)")
	expire := fs.Duration("expire", time.Hour, "how long the link's ticket stays valid (at most 24h)")
	call := fs.String("call", "", "a user the page rings as soon as it is open (comma-separated for a group call)")
	video := fs.Bool("video", false, "with --call: a video call")
	server := fs.String("server", os.Getenv("SOFTPHONE_SERVER"), "the server's `URL`: http(s)://HOST:PORT or its ws(s)://HOST:PORT/ws (env SOFTPHONE_SERVER; default http://127.0.0.1:7880)")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID of the server")
	keyFile := fs.String("secret-key-file", "", "file holding the server's secret key (default: $"+signaling.SecretKeyEnv+", else the key that softphone serve generated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *user == "":
		fmt.Fprintln(stderr, "--user is required: who the link logs in")
		fs.Usage()
		return errUsage
	case !signaling.ValidUserID(*user):
		fmt.Fprintf(stderr, "bad --user %q: use 1 to 32 letters, digits, _ or -\n", *user)
		return errUsage
	case *expire < time.Minute || *expire > maxLinkExpire:
		fmt.Fprintf(stderr, "--expire %v: a link's ticket lives from 1m to %v (softphone usersig mints longer ones)\n", *expire, maxLinkExpire)
		return errUsage
	case *video && *call == "":
		fmt.Fprintln(stderr, "--video goes with --call")
		return errUsage
	}
	var callees []string
	for _, c := range strings.Split(*call, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if !signaling.ValidUserID(c) || c == *user {
			fmt.Fprintf(stderr, "bad --call %q: name other users (1 to 32 letters, digits, _ or -)\n", c)
			return errUsage
		}
		callees = append(callees, c)
	}
	base, err := webBaseURL(*server)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	sig, err := mintTicket(*keyFile, *appID, *user, *expire, stderr)
	if err != nil {
		return err
	}
	frag := url.Values{"user": {*user}, "sig": {sig}}
	if len(callees) > 0 {
		frag.Set("call", strings.Join(callees, ","))
		if *video {
			frag.Set("media", "video")
		}
	}
	base.Fragment = ""
	base.RawFragment = ""
	fmt.Fprintf(stdout, "%s#%s\n", base.String(), frag.Encode())
	fmt.Fprintf(stderr, "softphone: the link logs %s in until %s; anyone who has it can use it until then\n",
		*user, time.Now().Add(*expire).Format("15:04 Jan 2"))
	return nil
}

// webBaseURL turns the server's address, as a web (http, https) or
// WebSocket (ws, wss, with /ws) URL or a bare HOST:PORT, into the web
// phone's URL.
func webBaseURL(s string) (*url.URL, error) {
	if s == "" {
		s = "http://127.0.0.1:7880"
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad --server %q: want http(s)://HOST:PORT or ws(s)://HOST:PORT/ws", s)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return nil, fmt.Errorf("bad --server %q: the scheme must be http, https, ws or wss", s)
	}
	if u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("bad --server %q: no query or user info, please", s)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/ws"), "/") + "/"
	return u, nil
}
