package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"softphone/signaling"
)

// offIfZero maps a flag's 0 ("none") to the Config's -1 (Config's 0 is
// "the default").
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "softphone serve [flags]", stderr)
	listen := fs.String("listen", "127.0.0.1:7880", "address to listen on (port 0 picks a free port)")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID that login tickets must carry")
	keyFile := fs.String("secret-key-file", "", "file holding the secret key (default: $"+signaling.SecretKeyEnv+", else a key generated on first start in the user config dir)")
	inviteTimeout := fs.Duration("invite-timeout", 30*time.Second, "how long an invitation rings unless the caller says otherwise (1s-600s)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key the server speaks wss://")
	tlsKey := fs.String("tls-key", "", "TLS private key file (PEM)")
	maxCallSize := fs.Int("max-call-size", signaling.DefaultMaxCallSize, "most people in one call, the caller included (clients learn it when they log in)")
	grace := fs.Duration("grace", 10*time.Second, "how long a dropped participant keeps its place in a call")
	loginTimeout := fs.Duration("login-timeout", 10*time.Second, "close a connection that has not logged in this long after connecting")
	maxConns := fs.Int("max-connections", 0, "most open connections (0: the open-file limit less a reserve of 1/16 of it, 32 to 256)")
	maxUnauth := fs.Int("max-unauthenticated", 0, "most connections not logged in yet (0: 1024, at most a quarter of --max-connections); over it the oldest is closed")
	maxUnauthAddr := fs.Int("max-unauthenticated-per-address", 0, "most connections not logged in yet from one address, IPv6 by /64 (0: 128, at most --max-unauthenticated)")
	invitesPerMin := fs.Int("invites-per-minute", 20, "unanswered invitations one user may send a minute (-1: no limit)")
	ringsPerMin := fs.Int("rings-per-minute", 5, "times a minute one caller may ring the same user without an answer (-1: no limit)")
	calleeRingsPerMin := fs.Int("callee-rings-per-minute", 30, "unanswered rings one user may receive a minute, from everyone (-1: no limit)")
	rejectHold := fs.Duration("reject-hold", 30*time.Second, "after a reject, how long the caller may not ring that user again (0s: no hold)")
	restoreWindow := fs.Duration("restore-window", 30*time.Second, "after a start, how long participants may bring back calls from before it with their call tokens (0s: never)")
	logLevel := fs.String("log-level", "info", "log level on stderr: debug, info, warn or error")
	var webFlags serveWebFlags
	addServeWebFlags(fs, &webFlags)
	turnFlags := addTURNFlags(fs)
	clusterFlags := addClusterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	turnCfg, err := turnFlags.config(stderr)
	if err != nil {
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
	if err := webFlags.check(*tlsCert != "", stderr); err != nil {
		return err
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
		SecretKey:                    key,
		SDKAppID:                     *appID,
		InviteTimeout:                *inviteTimeout,
		MaxCallSize:                  *maxCallSize,
		Grace:                        *grace,
		LoginTimeout:                 *loginTimeout,
		MaxConnections:               *maxConns,
		MaxUnauthenticated:           *maxUnauth,
		MaxUnauthenticatedPerAddress: *maxUnauthAddr,
		Invites: signaling.InviteLimits{PerCaller: *invitesPerMin, PerPair: *ringsPerMin, PerCallee: *calleeRingsPerMin,
			AfterReject: offIfZero(*rejectHold)},
		RestoreWindow: offIfZero(*restoreWindow),
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if *loginTimeout <= 0 {
		fmt.Fprintln(stderr, "--login-timeout must be positive")
		return errUsage
	}
	if err := webFlags.apply(&cfg, *listen, stderr); err != nil {
		return err
	}
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("load the TLS certificate and key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	turn, err := startTURN(turnCfg, key, cfg.Logger, stderr)
	if err != nil {
		return err
	}
	if turn != nil {
		defer turn.Close()
		cfg.ICE = turn.Service()
		if cfg.MaxConnections == 0 {
			// The relay's sockets come out of the same open-file limit.
			cfg.MaxConnections = max(signaling.FileBudget()-turn.Descriptors(), 16)
		}
	}
	natsCfg, err := clusterFlags.config(key, cfg.RestoreWindow, cfg.Logger, stderr)
	if err != nil {
		return err
	}
	if natsCfg != nil {
		cl, err := signaling.NewNATSCluster(*natsCfg)
		if err != nil {
			return fmt.Errorf("join the cluster: %w", err)
		}
		cfg.Cluster = cl // the server closes it at shutdown
		cfg.Logger.Info("cluster node up", "node", cl.Node(), "name", natsCfg.Name, "nats", cl.ClientURLRedacted())
	}
	srv, err := signaling.NewServer(cfg)
	if err != nil {
		if cfg.Cluster != nil {
			cfg.Cluster.(*signaling.NATSCluster).Close()
		}
		return err
	}
	if cl, ok := cfg.Cluster.(*signaling.NATSCluster); ok {
		cl.WaitForNodes()
	}
	eff := srv.Config()
	cfg.Logger.Info("limits", "maxConnections", eff.MaxConnections, "maxUnauthenticated", eff.MaxUnauthenticated,
		"maxUnauthenticatedPerAddress", eff.MaxUnauthenticatedPerAddress, "loginTimeout", eff.LoginTimeout,
		"invitesPerMinute", eff.Invites.PerCaller, "ringsPerMinute", eff.Invites.PerPair,
		"calleeRingsPerMinute", eff.Invites.PerCallee, "rejectHold", eff.Invites.AfterReject, "restoreWindow", eff.RestoreWindow)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another server running? --listen 127.0.0.1:0 picks a free port)", *listen, err)
	}
	// Catch the signals before announcing: a script that reads the banner
	// and at once sends SIGTERM must get a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "softphone server listening on %s\n", signaling.WebSocketURL(ln.Addr(), cfg.TLS != nil))
	webFlags.announce(stderr, ln.Addr(), cfg.TLS != nil)
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
