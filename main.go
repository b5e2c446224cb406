// Command softphone is a keyboard-driven voice calling app for the terminal,
// with its call server in the same binary.
//
// main only parses flags and wires packages together: signaling (protocol,
// server, client), audio (devices, codec, buffers), engine (calls) and tui.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"softphone/audio"
	"softphone/audio/voice"
	"softphone/engine"
	"softphone/signaling"
	"softphone/tui"
)

const usage = `softphone — voice calls in the terminal

Usage:
  softphone [client flags]          the terminal phone (TUI)
  softphone --headless [flags]      the same client driven by stdin/stdout JSON
  softphone serve [flags]           run the call server
  softphone usersig --user ID       mint a login ticket (userSig)
  softphone devices                 list audio capture and playback devices
  softphone demo                    server, two bots and the TUI in one command
  softphone loadtest [flags]        drive call cycles against a server
  softphone help                    this text

Run "softphone COMMAND -h" for the flags of a command, "softphone -h" for the
client flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code: 0 ok,
// 1 failure, 2 bad usage.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "help", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		err = cmdServe(rest, stdout, stderr)
	case "usersig":
		err = cmdUsersig(rest, stdout, stderr)
	case "devices":
		err = cmdDevices(rest, stdout, stderr)
	case "demo":
		err = cmdDemo(rest, stdin, stdout, stderr)
	case "loadtest":
		err = cmdLoadtest(rest, stdout, stderr)
	default:
		err = cmdClient(args, stdin, stdout, stderr)
	}
	return exitCode(err, stderr)
}

// errUsage marks a command-line mistake (exit code 2); the flag package has
// already printed what was wrong.
var errUsage = errors.New("usage")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "softphone:", err)
	return 1
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps flag errors to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// ---- serve -----------------------------------------------------------------

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "softphone serve [flags]", stderr)
	listen := fs.String("listen", "127.0.0.1:7880", "address to listen on (port 0 picks a free port)")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID that login tickets must carry")
	keyFile := fs.String("secret-key-file", "", "file holding the secret key (default: $"+signaling.SecretKeyEnv+", else a key generated on first start in the user config dir)")
	inviteTimeout := fs.Duration("invite-timeout", 30*time.Second, "how long an invitation rings unless the caller says otherwise (1s-600s)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key the server speaks wss://")
	tlsKey := fs.String("tls-key", "", "TLS private key file (PEM)")
	maxCallSize := fs.Int("max-call-size", 9, "most people in one call, the caller included")
	grace := fs.Duration("grace", 10*time.Second, "how long a dropped participant keeps its place in a call")
	logLevel := fs.String("log-level", "info", "log level on stderr: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "bad --log-level %q: want debug, info, warn or error\n", *logLevel)
		return errUsage
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(stderr, "--tls-cert and --tls-key go together: give both or neither")
		return errUsage
	}
	key, src, err := signaling.LoadSecretKey(*keyFile, os.Getenv, true)
	if err != nil {
		return err
	}
	if src.Generated {
		fmt.Fprintf(stderr, "softphone: generated a new secret key in %s (mode 0600); `softphone usersig` reads it from there\n", src.Path)
	}
	if src.Warning != "" {
		fmt.Fprintln(stderr, "softphone: warning:", src.Warning)
	}
	cfg := signaling.Config{
		SecretKey:     key,
		SDKAppID:      *appID,
		InviteTimeout: *inviteTimeout,
		MaxCallSize:   *maxCallSize,
		Grace:         *grace,
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("load the TLS certificate and key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := signaling.NewServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another server running? --listen 127.0.0.1:0 picks a free port)", *listen, err)
	}
	// Catch the signals before announcing: a script that reads the banner
	// and at once sends SIGTERM must get a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "softphone server listening on %s\n", signaling.WebSocketURL(ln.Addr(), cfg.TLS != nil))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down: telling clients")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	return err
}

// ---- usersig ---------------------------------------------------------------

func cmdUsersig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("usersig", "softphone usersig --user ID [flags]", stderr)
	user := fs.String("user", "", "user ID the ticket is for (1-32 of A-Z a-z 0-9 _ -)")
	expire := fs.Duration("expire", 168*time.Hour, "how long the ticket stays valid")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID of the server")
	keyFile := fs.String("secret-key-file", "", "file holding the secret key (default: $"+signaling.SecretKeyEnv+", else the key that softphone serve generated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" {
		fmt.Fprintln(stderr, "--user is required")
		fs.Usage()
		return errUsage
	}
	key, src, err := signaling.LoadSecretKey(*keyFile, os.Getenv, false)
	if err != nil {
		return err
	}
	if src.Warning != "" {
		fmt.Fprintln(stderr, "softphone: warning:", src.Warning)
	}
	sig, err := signaling.Sign(key, *appID, *user, *expire, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sig)
	return nil
}

// ---- devices ---------------------------------------------------------------

func cmdDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softphone devices", "softphone devices", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	host, _ := os.Hostname()
	return audio.WriteDeviceList(stdout, audio.ListDevices(nil, nil), audio.FindSoundPlace(os.Getenv, host))
}

// ---- demo ------------------------------------------------------------------

// The demo's bots: who they are and what alice says when she calls.
const (
	demoEcho     = "echo"
	demoAlice    = "alice"
	demoUserData = "Hi, I'm alice, the demo's caller: press a to answer, r to reject."
)

func cmdDemo(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "softphone demo [flags]", stderr)
	var cf clientFlags
	// The client flags that make sense here, with the client's help texts.
	all := flag.NewFlagSet("", flag.ContinueOnError)
	addClientFlags(all, &cf, false)
	for _, name := range []string{"mic", "speaker", "aec", "ns", "agc", "log-level"} {
		f := all.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	fs.StringVar(&cf.user, "user", "me", "your user `ID` in the demo (the bots are "+demoEcho+" and "+demoAlice+")")
	fs.StringVar(&cf.logFile, "log-file", "", "log of the phone, the server and the bots (default: demo.log beside the phone's log in ~/.local/state/softphone)")
	listen := fs.String("listen", "127.0.0.1:0", "address of the demo's call server (port 0 picks a free port); 0.0.0.0:7880 lets softphones on the network log in")
	aliceAfter := fs.Duration("alice-after", engine.DefaultFirstCall, "when alice first calls you")
	aliceAgain := fs.Duration("alice-again", engine.DefaultCallAgain, "how long after each call alice calls again")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case !signaling.ValidUserID(cf.user):
		fmt.Fprintf(stderr, "bad --user %q: use 1 to 32 letters, digits, _ or -\n", cf.user)
		return errUsage
	case cf.user == demoEcho || cf.user == demoAlice:
		fmt.Fprintf(stderr, "--user %s is taken by one of the demo's bots (%s, %s): pick another name\n", cf.user, demoEcho, demoAlice)
		return errUsage
	}
	level, err := parseLevel(cf.logLevel, stderr)
	if err != nil {
		return err
	}
	vc, err := cf.voiceConfig(stderr)
	if err != nil {
		return err
	}
	logPath := cf.logFile
	if logPath == "" {
		p, err := tui.DefaultLogPath()
		if err != nil {
			return err
		}
		logPath = filepath.Join(filepath.Dir(p), "demo.log")
	}
	// Everything logs to the file: the terminal belongs to the TUI.
	logger, logf, err := tui.OpenLog(logPath, level)
	if err != nil {
		return err
	}
	defer logf.Close()

	// A fresh key in a private directory, gone when the demo ends: tickets
	// for other softphones are minted from it with usersig.
	keyDir, err := os.MkdirTemp("", "softphone-demo-")
	if err != nil {
		return fmt.Errorf("create a directory for the demo's key: %w", err)
	}
	defer os.RemoveAll(keyDir)
	keyPath := filepath.Join(keyDir, "secret.key")
	key, err := signaling.GenerateKeyFile(keyPath)
	if err != nil {
		return err
	}

	srv, err := signaling.NewServer(signaling.Config{SecretKey: key, Logger: logger.With("component", "server")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is the port taken? --listen 127.0.0.1:0 picks a free one)", *listen, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Deferred calls run last-in first-out: the TUI and the user's engine
	// end first (in runTUI), then the bots, then the server.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	}()
	localURL, publicURL := demoURLs(ln.Addr())

	// SIGHUP too: a closed terminal or SSH session must still stop the
	// bots and the server and remove the key.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	config := func(user, mic, speaker string) (engine.Config, error) {
		sig, err := signaling.Sign(key, signaling.DefaultSDKAppID, user, 24*time.Hour, time.Now())
		return engine.Config{ServerURL: localURL, UserID: user, UserSig: sig, Mic: mic, Speaker: speaker, Logger: logger}, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg, err := config(demoEcho, "", "")
	if err != nil {
		return err
	}
	echo, err := engine.StartEchoBot(startCtx, cfg, engine.EchoParams{Bots: []string{demoAlice}})
	if err != nil {
		return err
	}
	defer echo.Close()
	if cfg, err = config(demoAlice, "", ""); err != nil {
		return err
	}
	alice, err := engine.StartCallerBot(startCtx, cfg, engine.CallerParams{
		Callee: cf.user, FirstCall: *aliceAfter, Again: *aliceAgain, UserData: demoUserData,
		Bots: []string{demoEcho},
	})
	if err != nil {
		return err
	}
	defer alice.Close()

	if cfg, err = config(cf.user, cf.mic, cf.speaker); err != nil {
		return err
	}
	cfg.Voice = vc
	fmt.Fprintf(stderr, "softphone demo: call server on %s with the bots %s and %s\n", publicURL, demoEcho, demoAlice)
	fmt.Fprintf(stderr, "softphone demo: its secret key is in %s (removed when the demo ends)\n", keyPath)
	fmt.Fprintf(stderr, "softphone demo: other softphones join with  softphone --server %s --secret-key-file %s --user NAME\n", publicURL, keyPath)
	fmt.Fprintf(stderr, "softphone demo:   or with a ticket from  softphone usersig --secret-key-file %s --user NAME\n", keyPath)
	fmt.Fprintf(stderr, "softphone demo: log in %s\n", logPath)
	when := "in a few seconds"
	if *aliceAfter > 10*time.Second {
		when = "in " + aliceAfter.String()
	}
	hint := "Alice calls you " + when + ": press a to answer, r to reject. " +
		"To test your audio, press c, type echo, enter: you hear yourself 0.5 s later.\n" +
		"Other softphones: --server " + publicURL + " --secret-key-file " + keyPath
	err = runTUI(ctx, cfg, logPath, hint, stdin, stdout, stderr)
	if errors.Is(err, context.Canceled) {
		return nil // a signal: a normal way to stop the demo
	}
	return err
}

// demoURLs are the server's URL for the demo's own clients (loopback when it
// listens on every interface) and the one to tell other softphones (the
// first address of this machine on a network, when it has one).
func demoURLs(addr net.Addr) (local, public string) {
	local = signaling.WebSocketURL(addr, false)
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return local, local
	}
	local = signaling.WebSocketURL(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: tcp.Port}, false)
	public = local
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				public = signaling.WebSocketURL(&net.TCPAddr{IP: n.IP, Port: tcp.Port}, false)
				break
			}
		}
	}
	return local, public
}

// ---- loadtest --------------------------------------------------------------

func cmdLoadtest(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadtest", "softphone loadtest --server URL [--users N] [--calls-per-sec R] [--duration D] [--media] [flags]", stderr)
	server := fs.String("server", os.Getenv("SOFTPHONE_SERVER"), "call server `URL`, ws://HOST:PORT/ws (env SOFTPHONE_SERVER); loopback only unless --allow-remote")
	keyFile := fs.String("secret-key-file", "", "the server's secret key file, to mint the users' tickets (default: $"+signaling.SecretKeyEnv+", else the key 'softphone serve' generated)")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID of the server")
	users := fs.Int("users", 100, "users to log in (paired; each pair calls back and forth)")
	rate := fs.Float64("calls-per-sec", 100, "new calls per second, all pairs together (open loop)")
	duration := fs.Duration("duration", 10*time.Second, "how long to place calls; the test then finishes the calls in progress and logs everyone out")
	hold := fs.Duration("hold", 0, "how long each call stays connected before the caller hangs up (with --media: after audio flows)")
	media := fs.Bool("media", false, fmt.Sprintf("set up real WebRTC audio in every call: each user is a whole engine (tone mic, no speaker, null audio backend); at most %d users", engine.MaxMediaUsers))
	allowRemote := fs.Bool("allow-remote", false, "allow a server that is not on a loopback address")
	callTimeout := fs.Duration("call-timeout", 10*time.Second, "how long each step of a call may take before the call counts as failed")
	serverPID := fs.Int("server-pid", 0, "process id of the server, when it runs on this machine: report its CPU and memory too")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	logLevel := fs.String("log-level", "info", "progress log level on stderr: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level, err := parseLevel(*logLevel, stderr)
	if err != nil {
		return err
	}
	if *server == "" {
		fmt.Fprintln(stderr, "--server is required (or SOFTPHONE_SERVER), e.g. --server ws://127.0.0.1:7880/ws")
		return errUsage
	}
	key, src, err := signaling.LoadSecretKey(*keyFile, os.Getenv, false)
	if err != nil {
		return fmt.Errorf("the load test mints its users' tickets with the server's secret key: %w", err)
	}
	if src.Warning != "" {
		fmt.Fprintln(stderr, "softphone: warning:", src.Warning)
	}
	if os.Getenv("GOGC") == "" && !*media {
		// Thousands of clients make a large heap whose collections would
		// show up as server latency in the tail of the measurements:
		// collect less often, trading memory (about 1.5 GB for 10,000
		// users) for quiet. Media runs have few users and a small heap.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := engine.RunLoad(ctx, engine.LoadConfig{
		ServerURL: *server, SecretKey: key, SDKAppID: *appID,
		Users: *users, CallsPerSec: *rate, Duration: *duration, Hold: *hold,
		Media: *media, AllowRemote: *allowRemote, ServerPID: *serverPID, CallTimeout: *callTimeout,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("loadtest: %s (see the report)", rep.Problems())
	}
	return nil
}

// ---- client (TUI and headless) ---------------------------------------------

// clientFlags are the flags every client mode shares (TUI, headless, demo).
type clientFlags struct {
	server, user, usersig, keyFile string
	appID                          int64
	mic, speaker                   string
	aec, ns, agc                   string
	autoAnswer                     bool
	ice                            stringList
	logFile, logLevel              string
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func addClientFlags(fs *flag.FlagSet, c *clientFlags, withServer bool) {
	if withServer {
		fs.StringVar(&c.server, "server", os.Getenv("SOFTPHONE_SERVER"), "call server `URL`, ws://HOST:PORT/ws or wss://... (env SOFTPHONE_SERVER)")
		fs.StringVar(&c.usersig, "usersig", os.Getenv("SOFTPHONE_USERSIG"), "login `ticket` from 'softphone usersig' (env SOFTPHONE_USERSIG)")
		fs.StringVar(&c.keyFile, "secret-key-file", "", "instead of --usersig, mint a ticket with this secret key file (also $"+signaling.SecretKeyEnv+", else the key 'softphone serve' generated)")
		fs.Int64Var(&c.appID, "sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID for tickets minted with the secret key")
	}
	fs.StringVar(&c.user, "user", os.Getenv("SOFTPHONE_USER"), "your user `ID`, 1-32 of A-Z a-z 0-9 _ - (env SOFTPHONE_USER)")
	// Backquotes in a usage string would become the flag's value name.
	fs.StringVar(&c.mic, "mic", "default", strings.ReplaceAll(audio.MicUsage, "`", "'"))
	fs.StringVar(&c.speaker, "speaker", "default", strings.ReplaceAll(audio.SpeakerUsage, "`", "'"))
	fs.StringVar(&c.aec, "aec", "on", "acoustic echo cancellation of what the speaker plays: on | off")
	fs.StringVar(&c.ns, "ns", "high", "noise suppression: off | low (up to 12 dB) | high (up to 20 dB)")
	fs.StringVar(&c.agc, "agc", "on", "automatic gain control of your voice to a steady level: on | off")
	fs.BoolVar(&c.autoAnswer, "auto-answer", false, "accept every incoming call")
	fs.Var(&c.ice, "ice-server", "STUN/TURN server, repeatable: stun:HOST:PORT or turn:USER:PASS@HOST:PORT (none needed on one host or a LAN)")
	fs.StringVar(&c.logFile, "log-file", "", "log file (default: the TUI logs to ~/.local/state/softphone/softphone.log, headless mode to stderr)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// engineConfig turns the flags into an engine configuration, minting a
// ticket from the secret key when no --usersig is given.
func (c *clientFlags) engineConfig(stderr io.Writer) (engine.Config, error) {
	if c.server == "" {
		fmt.Fprintln(stderr, "--server is required (or SOFTPHONE_SERVER), e.g. --server ws://127.0.0.1:7880/ws")
		return engine.Config{}, errUsage
	}
	if c.user == "" {
		fmt.Fprintln(stderr, "--user is required (or SOFTPHONE_USER)")
		return engine.Config{}, errUsage
	}
	sig := c.usersig
	if sig == "" {
		key, src, err := signaling.LoadSecretKey(c.keyFile, os.Getenv, false)
		if err != nil {
			return engine.Config{}, fmt.Errorf("no --usersig given, and no secret key to mint one: %w", err)
		}
		if src.Warning != "" {
			fmt.Fprintln(stderr, "softphone: warning:", src.Warning)
		}
		if sig, err = signaling.Sign(key, c.appID, c.user, 24*time.Hour, time.Now()); err != nil {
			return engine.Config{}, err
		}
	}
	vc, err := c.voiceConfig(stderr)
	if err != nil {
		return engine.Config{}, err
	}
	cfg := engine.Config{
		ServerURL:  c.server,
		UserID:     c.user,
		UserSig:    sig,
		Mic:        c.mic,
		Speaker:    c.speaker,
		Voice:      vc,
		AutoAnswer: c.autoAnswer,
	}
	for _, s := range c.ice {
		srv, err := engine.ParseICEServer(s)
		if err != nil {
			return engine.Config{}, err
		}
		cfg.ICEServers = append(cfg.ICEServers, srv)
	}
	return cfg, nil
}

// voiceConfig parses --aec, --ns and --agc.
func (c *clientFlags) voiceConfig(stderr io.Writer) (*voice.Config, error) {
	var vc voice.Config
	var err error
	if vc.AEC, err = voice.ParseOnOff("aec", c.aec); err == nil {
		if vc.NS, err = voice.ParseNS(c.ns); err == nil {
			vc.AGC, err = voice.ParseOnOff("agc", c.agc)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "bad", err)
		return nil, errUsage
	}
	return &vc, nil
}

func parseLevel(s string, stderr io.Writer) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		fmt.Fprintf(stderr, "bad --log-level %q: want debug, info, warn or error\n", s)
		return 0, errUsage
	}
	return level, nil
}

func cmdClient(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("softphone", "softphone [--headless] --server URL --user ID [--usersig SIG | --secret-key-file F] [flags]", stderr)
	var cf clientFlags
	addClientFlags(fs, &cf, true)
	headless := fs.Bool("headless", false, "no TUI: read commands on stdin, write JSON events and replies on stdout, one per line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level, err := parseLevel(cf.logLevel, stderr)
	if err != nil {
		return err
	}
	cfg, err := cf.engineConfig(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	if *headless {
		// Headless: stdout carries JSON only; logs go to stderr or a file.
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		if cf.logFile != "" {
			l, f, err := tui.OpenLog(cf.logFile, level)
			if err != nil {
				return err
			}
			defer f.Close()
			logger = l
		}
		cfg.Logger = logger
		e, err := engine.New(cfg)
		if err != nil {
			return err
		}
		if err := engine.RunHeadless(ctx, e, stdin, stdout); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}

	// The TUI owns the terminal: every log goes to the file.
	logPath := cf.logFile
	if logPath == "" {
		if logPath, err = tui.DefaultLogPath(); err != nil {
			return err
		}
	}
	logger, f, err := tui.OpenLog(logPath, level)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg.Logger = logger
	return runTUI(ctx, cfg, logPath, "", stdin, stdout, stderr)
}

// runTUI starts an engine, logs in and hands the terminal to the TUI. The
// process's own stdin and stdout are left to Bubble Tea (which then finds
// the terminal even when stdin is redirected); any other stdin or stdout,
// such as a test's virtual terminal, is the TUI's terminal.
func runTUI(ctx context.Context, cfg engine.Config, logPath, hint string, stdin io.Reader, stdout, stderr io.Writer) error {
	e, err := engine.New(cfg)
	if err != nil {
		return err
	}
	defer closeEngine(e)
	fmt.Fprintf(stderr, "softphone: logging in to %s as %s...\n", cfg.ServerURL, cfg.UserID)
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = e.Login(lctx)
	cancel()
	if err != nil {
		return err
	}
	opts := tui.Options{LogPath: logPath, Logger: cfg.Logger, Hint: hint}
	host, _ := os.Hostname()
	if place := audio.FindSoundPlace(os.Getenv, host); place.Notable() {
		opts.Sound = tui.SoundNote{Where: place.Short(), Help: place.Explain()}
	}
	if stdin != io.Reader(os.Stdin) {
		opts.Input = stdin
	}
	if stdout != io.Writer(os.Stdout) {
		opts.Output = stdout
	}
	return tui.Run(ctx, e, opts)
}

// closeEngine closes e while reading out its last events: Close waits (up to
// 2 s) for them to be read, and once the TUI has returned nobody else does,
// so every quit took two seconds.
func closeEngine(e *engine.Engine) {
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range e.Events() {
		}
	}()
	e.Close()
	<-drained
}
