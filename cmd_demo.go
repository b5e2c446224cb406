package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"softphone/engine"
	"softphone/internal/bots"
	"softphone/internal/logfile"
	"softphone/signaling"
)

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
	aliceAfter := fs.Duration("alice-after", bots.DefaultFirstCall, "when alice first calls you")
	aliceAgain := fs.Duration("alice-again", bots.DefaultCallAgain, "how long after each call alice calls again")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case !engine.ValidUserID(cf.user):
		fmt.Fprintf(stderr, "bad --user %q: use 1 to %d letters, digits, _ or -\n", cf.user, engine.MaxUserIDLen)
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
		p, err := logfile.DefaultPath()
		if err != nil {
			return err
		}
		logPath = filepath.Join(filepath.Dir(p), "demo.log")
	}
	// Everything logs to the file: the terminal belongs to the TUI.
	logger, logf, err := logfile.Open(logPath, level)
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
	echo, err := bots.StartEcho(startCtx, cfg, bots.EchoParams{Bots: []string{demoAlice}})
	if err != nil {
		return err
	}
	defer echo.Close()
	if cfg, err = config(demoAlice, "", ""); err != nil {
		return err
	}
	alice, err := bots.StartCaller(startCtx, cfg, bots.CallerParams{
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
