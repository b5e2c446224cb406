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
