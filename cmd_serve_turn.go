package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"softphone/signaling"
)

// turnFlags are the serve flags of the built-in STUN/TURN server.
type turnFlags struct {
	mode, listen, ports, publicIP string
	allowPrivate                  bool
	userAllocations, userKbps     int
}

func addTURNFlags(fs *flag.FlagSet) *turnFlags {
	f := &turnFlags{}
	fs.StringVar(&f.mode, "turn", "on", "run the built-in STUN/TURN server, so phones behind NATs can reach each other: on or off")
	fs.StringVar(&f.listen, "turn-listen", ":3478", "STUN/TURN `address`, the same port on UDP and TCP")
	fs.StringVar(&f.ports, "turn-ports", "49160-49200", "UDP port `range` of the relays (each phone in a call holds two while it lasts)")
	fs.StringVar(&f.publicIP, "turn-public-ip", "", "`IP` address the phones reach this server at, for STUN/TURN (default: the --turn-listen address, else this machine's first non-loopback address)")
	fs.BoolVar(&f.allowPrivate, "turn-allow-private", false, "let relays reach loopback, private and link-local addresses and this machine (off: relays reach only public addresses and each other)")
	fs.IntVar(&f.userAllocations, "turn-user-allocations", 20, "most relays one user holds at once")
	fs.IntVar(&f.userKbps, "turn-user-kbps", 4000, "most relayed traffic per user, both directions, in kbit/s (over it packets are dropped)")
	return f
}

// config checks the flags; nil config means --turn off.
func (f *turnFlags) config(stderr io.Writer) (*signaling.TURNConfig, error) {
	switch f.mode {
	case "off":
		return nil, nil
	case "on":
	default:
		fmt.Fprintf(stderr, "bad --turn %q: want on or off\n", f.mode)
		return nil, errUsage
	}
	cfg := &signaling.TURNConfig{Listen: f.listen, AllowPrivate: f.allowPrivate,
		UserAllocations: f.userAllocations, UserBitrate: f.userKbps * 1000}
	lo, hi, ok := strings.Cut(f.ports, "-")
	var err1, err2 error
	cfg.MinPort, err1 = strconv.Atoi(lo)
	cfg.MaxPort, err2 = strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || cfg.MinPort < 1 || cfg.MaxPort > 65535 || cfg.MinPort > cfg.MaxPort {
		fmt.Fprintf(stderr, "bad --turn-ports %q: want MIN-MAX, e.g. 49160-49200\n", f.ports)
		return nil, errUsage
	}
	if f.publicIP != "" {
		if cfg.PublicIP = net.ParseIP(f.publicIP); cfg.PublicIP == nil || cfg.PublicIP.To4() == nil {
			fmt.Fprintf(stderr, "bad --turn-public-ip %q: want an IPv4 address\n", f.publicIP)
			return nil, errUsage
		}
	}
	if f.userAllocations < 1 || f.userKbps < 1 {
		fmt.Fprintln(stderr, "--turn-user-allocations and --turn-user-kbps must be at least 1")
		return nil, errUsage
	}
	return cfg, nil
}

// startTURN starts the STUN/TURN server for a call server whose secret key
// is key, and says where it is; nil when --turn off.
func startTURN(cfg *signaling.TURNConfig, key string, log *slog.Logger, stderr io.Writer) (*signaling.TURNServer, error) {
	if cfg == nil {
		return nil, nil
	}
	cfg.Secret = signaling.TURNSecret(key)
	cfg.Logger = log.With("component", "turn")
	t, err := signaling.StartTURN(*cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "softphone: STUN/TURN on UDP and TCP port %d, told to phones as %s; relays on UDP ports %d-%d\n",
		t.Port(), t.PublicIP(), cfg.MinPort, cfg.MaxPort)
	return t, nil
}
