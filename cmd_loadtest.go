package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"softphone/internal/loadtest"
	"softphone/signaling"
)

func cmdLoadtest(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadtest", "softphone loadtest --server URL[,URL...] [--users N] [--calls-per-sec R] [--duration D] [--media] [flags]", stderr)
	var server serverList
	server.Set(os.Getenv("SOFTPHONE_SERVER"))
	server.set = false
	fs.Var(&server, "server", "call server `URL`, ws://HOST:PORT/ws (env SOFTPHONE_SERVER); the nodes of a cluster: repeat it or separate them with commas, users are spread over them; loopback only unless --allow-remote")
	keyFile := fs.String("secret-key-file", "", "the server's secret key file, to mint the users' tickets (default: $"+signaling.SecretKeyEnv+", else the key 'softphone serve' generated)")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID of the server")
	users := fs.Int("users", 100, "users to log in (paired; each pair calls back and forth)")
	rate := fs.Float64("calls-per-sec", 100, "new calls per second, all pairs together (open loop)")
	duration := fs.Duration("duration", 10*time.Second, "how long to place calls; the test then finishes the calls in progress and logs everyone out")
	hold := fs.Duration("hold", 0, "how long each call stays connected before the caller hangs up (with --media: after audio flows)")
	media := fs.Bool("media", false, fmt.Sprintf("set up real WebRTC audio in every call: each user is a whole engine (tone mic, no speaker, null audio backend); at most %d users", loadtest.MaxMediaUsers))
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
	if len(server.urls) == 0 {
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
	rep, err := loadtest.Run(ctx, loadtest.Config{
		ServerURLs: server.urls, SecretKey: key, SDKAppID: *appID,
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
