package engine

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// ParseICEServer reads one --ice-server value: a STUN or TURN URL as in
// RFC 7064/7065, optionally with TURN credentials before the host:
//
//	stun:stun.example.org:3478
//	turn:USER:PASSWORD@turn.example.org:3478?transport=udp
//	turns:USER:PASSWORD@turn.example.org:5349
func ParseICEServer(s string) (webrtc.ICEServer, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || rest == "" {
		return webrtc.ICEServer{}, fmt.Errorf("ice server %q: want stun:HOST[:PORT] or turn:[USER:PASS@]HOST[:PORT]", s)
	}
	switch scheme {
	case "stun", "stuns", "turn", "turns":
	default:
		return webrtc.ICEServer{}, fmt.Errorf("ice server %q: scheme must be stun, stuns, turn or turns", s)
	}
	srv := webrtc.ICEServer{}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if scheme == "stun" || scheme == "stuns" {
			return webrtc.ICEServer{}, fmt.Errorf("ice server %q: STUN takes no credentials", s)
		}
		user, pass, ok := strings.Cut(rest[:at], ":")
		if !ok || user == "" {
			return webrtc.ICEServer{}, fmt.Errorf("ice server %q: credentials must be USER:PASSWORD@", s)
		}
		srv.Username, srv.Credential = user, pass
		rest = rest[at+1:]
	}
	if rest == "" || strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "?") {
		return webrtc.ICEServer{}, fmt.Errorf("ice server %q: no host", s)
	}
	if strings.HasPrefix(scheme, "turn") && srv.Username == "" {
		return webrtc.ICEServer{}, fmt.Errorf("ice server %q: TURN needs USER:PASSWORD@ before the host", s)
	}
	srv.URLs = []string{scheme + ":" + rest}
	if _, err := parseICEURL(srv.URLs[0]); err != nil {
		return webrtc.ICEServer{}, fmt.Errorf("ice server %q: %w", s, err)
	}
	return srv, nil
}
