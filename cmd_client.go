package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"softphone/audio"
	"softphone/audio/voice"
	"softphone/engine"
	"softphone/headless"
	"softphone/internal/logfile"
	"softphone/signaling"
	"softphone/tui"
)

// clientFlags are the flags every client mode shares (TUI, headless, demo).
type clientFlags struct {
	server                 serverList
	user, usersig, keyFile string
	tlsFingerprint         string
	appID                  int64
	mic, speaker           string
	aec, ns, agc           string
	autoAnswer             bool
	ice                    stringList
	icePolicy              string
	logFile, logLevel      string
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// serverList is --server: one URL, several separated by commas, or the
// flag repeated (the nodes of a cluster). A default (from the environment)
// gives way to the first --server given.
type serverList struct {
	urls []string
	set  bool
}

func (l *serverList) String() string { return strings.Join(l.urls, ",") }
func (l *serverList) Set(v string) error {
	if !l.set {
		l.urls, l.set = nil, true
	}
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			l.urls = append(l.urls, u)
		}
	}
	return nil
}

// first is the first URL, "" when none.
func (l *serverList) first() string {
	if len(l.urls) == 0 {
		return ""
	}
	return l.urls[0]
}

func addClientFlags(fs *flag.FlagSet, c *clientFlags, withServer bool) {
	if withServer {
		c.server.Set(os.Getenv("SOFTPHONE_SERVER"))
		c.server.set = false
		fs.Var(&c.server, "server", "call server `URL`, ws://HOST:PORT/ws or wss://...; the nodes of a cluster: repeat it or separate them with commas (env SOFTPHONE_SERVER)")
		fs.StringVar(&c.usersig, "usersig", os.Getenv("SOFTPHONE_USERSIG"), "login `ticket` from 'softphone usersig' (env SOFTPHONE_USERSIG)")
		fs.StringVar(&c.keyFile, "secret-key-file", "", "instead of --usersig, mint a ticket with this secret key file (also $"+signaling.SecretKeyEnv+", else the key 'softphone serve' generated)")
		fs.Int64Var(&c.appID, "sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID for tickets minted with the secret key")
		addTLSFingerprintFlag(fs, &c.tlsFingerprint)
	}
	fs.StringVar(&c.user, "user", os.Getenv("SOFTPHONE_USER"), "your user `ID`, 1-32 of A-Z a-z 0-9 _ - (env SOFTPHONE_USER)")
	// Backquotes in a usage string would become the flag's value name.
	fs.StringVar(&c.mic, "mic", "default", strings.ReplaceAll(audio.MicUsage, "`", "'"))
	fs.StringVar(&c.speaker, "speaker", "default", strings.ReplaceAll(audio.SpeakerUsage, "`", "'"))
	fs.StringVar(&c.aec, "aec", "on", "acoustic echo cancellation of what the speaker plays: on | off")
	fs.StringVar(&c.ns, "ns", "high", "noise suppression: off | low (up to 12 dB) | high (up to 20 dB)")
	fs.StringVar(&c.agc, "agc", "on", "automatic gain control of your voice to a steady level: on | off")
	fs.BoolVar(&c.autoAnswer, "auto-answer", false, "accept every incoming call")
	fs.Var(&c.ice, "ice-server", "extra STUN/TURN server, repeatable: stun:HOST:PORT or turn:USER:PASS@HOST:PORT (the call server offers its own)")
	fs.StringVar(&c.icePolicy, "ice-transport-policy", "all", "media paths allowed: all, or relay (only through a TURN server: the other side never learns your address)")
	fs.StringVar(&c.logFile, "log-file", "", "log file (default: the TUI logs to ~/.local/state/softphone/softphone.log, headless mode to stderr)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// engineConfig turns the flags into an engine configuration, minting a
// ticket from the secret key when no --usersig is given.
func (c *clientFlags) engineConfig(stderr io.Writer) (engine.Config, error) {
	vc, err := c.voiceConfig(stderr)
	if err != nil {
		return engine.Config{}, err
	}
	if len(c.server.urls) == 0 {
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
	cfg := engine.Config{
		ServerURL:  c.server.first(),
		ServerURLs: c.server.urls,
		UserID:     c.user,
		UserSig:    sig,
		Mic:        c.mic,
		Speaker:    c.speaker,
		Voice:      vc,
		AutoAnswer: c.autoAnswer,
	}
	if err := c.pinServer(&cfg); err != nil {
		return engine.Config{}, err
	}
	policy, err := engine.ParseICETransportPolicy(c.icePolicy)
	if err != nil {
		fmt.Fprintln(stderr, "bad --ice-transport-policy:", err)
		return engine.Config{}, errUsage
	}
	cfg.ICETransportPolicy = policy
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

func cmdClient(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("softphone", "softphone [--headless] --server URL --user ID [--usersig SIG | --secret-key-file F] [flags]", stderr)
	var cf clientFlags
	addClientFlags(fs, &cf, true)
	asHeadless := fs.Bool("headless", false, "no TUI: read commands on stdin, write JSON events and replies on stdout, one per line")
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

	if *asHeadless {
		// Headless: stdout carries JSON only; logs go to stderr or a file.
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		if cf.logFile != "" {
			l, f, err := logfile.Open(cf.logFile, level)
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
		if err := headless.Run(ctx, e, stdin, stdout); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}

	// The TUI owns the terminal: every log goes to the file.
	logPath := cf.logFile
	if logPath == "" {
		if logPath, err = logfile.DefaultPath(); err != nil {
			return err
		}
	}
	logger, f, err := logfile.Open(logPath, level)
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
	fmt.Fprintf(stderr, "softphone: logging in to %s as %s...\n", e.ServerURL(), cfg.UserID)
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
