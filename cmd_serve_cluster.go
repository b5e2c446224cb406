package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"softphone/signaling"
)

// clusterFlags are the serve flags that make the server one node of a
// call service of several (signaling.NATSCluster).
type clusterFlags struct {
	name, listen, routes, nats, store string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	f := &clusterFlags{}
	fs.StringVar(&f.name, "cluster-name", "", "`name` of the call service this node belongs to: its nodes share users and calls over an embedded NATS server (alone: one node with the cluster's state machinery; default softphone with --cluster-listen or --nats)")
	fs.StringVar(&f.listen, "cluster-listen", "", "`address` (HOST:PORT) where this node's embedded NATS server takes routes from the other nodes")
	fs.StringVar(&f.routes, "routes", "", "the nodes' route `URLs`, nats://HOST:PORT separated by commas (this node's own may be among them)")
	fs.StringVar(&f.nats, "nats", "", "join an external NATS cluster with JetStream at `URL` (nats://[USER:PASS@]HOST:PORT, several separated by commas) instead of embedding one")
	fs.StringVar(&f.store, "cluster-store", "", "`directory` for the embedded NATS server's state (default: a temporary directory, removed at exit)")
	return f
}

// config turns the flags into a NATS configuration; nil when none is set
// (one server, all state in this process).
func (f *clusterFlags) config(key string, restore time.Duration, logger *slog.Logger, stderr io.Writer) (*signaling.NATSConfig, error) {
	if f.name == "" && f.listen == "" && f.routes == "" && f.nats == "" && f.store == "" {
		return nil, nil
	}
	if f.nats != "" && (f.listen != "" || f.routes != "" || f.store != "") {
		fmt.Fprintln(stderr, "--nats joins an external NATS: it goes without --cluster-listen, --routes and --cluster-store")
		return nil, errUsage
	}
	if f.routes != "" && f.listen == "" {
		fmt.Fprintln(stderr, "--routes needs --cluster-listen: the other nodes route to this node there")
		return nil, errUsage
	}
	cfg := &signaling.NATSConfig{URL: f.nats, Name: f.name, ClusterListen: f.listen, StoreDir: f.store,
		SecretKey: key, RestoreWindow: restore, Logger: logger.With("component", "cluster")}
	for _, r := range strings.Split(f.routes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Routes = append(cfg.Routes, r)
		}
	}
	return cfg, nil
}
