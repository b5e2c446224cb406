// Command natsnode runs one embedded NATS server of a softphone cluster on
// its own (signaling.NewNATSCluster, as `softphone serve --cluster-listen`
// embeds it), for tests whose call servers join it with a URL: the NATS
// server then runs in a process of its own, built without the race
// detector. nats-server v2.15.2 reads some JetStream state without a lock
// on purpose (jetstream_cluster.go: "technically ... could cause datarace.
// But do not want to acquire lock"), which fails a -race test run now and
// then; out of process, the tests keep the detector on all of our code.
//
// It prints its client URL (credentials included) on the first line of
// stdout, then runs until SIGTERM, SIGINT or the end of stdin.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"softphone/signaling"
)

func main() {
	name := flag.String("name", "softphone", "the NATS cluster's name")
	listen := flag.String("cluster-listen", "", "where to take routes (HOST:PORT)")
	routes := flag.String("routes", "", "the nodes' route URLs, comma separated")
	client := flag.String("client-listen", "127.0.0.1:0", "where to take NATS clients")
	store := flag.String("store", "", "JetStream directory (default: a temporary one)")
	debug := flag.Bool("debug", false, "log to stderr")
	flag.Parse()
	key := os.Getenv("SOFTPHONE_SECRET_KEY")
	if key == "" || *listen == "" {
		fmt.Fprintln(os.Stderr, "natsnode: set SOFTPHONE_SECRET_KEY and --cluster-listen")
		os.Exit(2)
	}
	cfg := signaling.NATSConfig{Name: *name, ClusterListen: *listen, ClientListen: *client, SecretKey: key, StoreDir: *store}
	if *routes != "" {
		cfg.Routes = strings.Split(*routes, ",")
	}
	if *debug {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cl, err := signaling.NewNATSCluster(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
	fmt.Println(cl.ClientURL())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-stop:
	case <-eof:
	}
	if err := cl.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "natsnode: close:", err)
		os.Exit(1)
	}
}
