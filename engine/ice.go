package engine

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"softphone/signaling"
)

// This file is how the engine finds a path to each peer: the STUN/TURN
// servers (from --ice-server flags and from the call server's login reply,
// renewed before their credentials expire), the transport policy, and the
// report of the path ICE chose (direct, through a NAT with STUN, or
// relayed).

// ParseICETransportPolicy reads --ice-transport-policy: "all" (any path, the
// default) or "relay" (only through a TURN server: the other side never
// learns this machine's addresses).
func ParseICETransportPolicy(s string) (webrtc.ICETransportPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "all":
		return webrtc.ICETransportPolicyAll, nil
	case "relay":
		return webrtc.ICETransportPolicyRelay, nil
	}
	return webrtc.ICETransportPolicyAll, fmt.Errorf("ice transport policy %q: want all or relay", s)
}

// ConnectionPath is how this client's media reaches one participant: an
// engine extension, the "connection" map of onUserNetworkQualityChanged.
type ConnectionPath struct {
	// Type is "direct" (host addresses on both sides: the same machine or
	// LAN, or public addresses), "stun" (through NAT, with addresses
	// learned from a STUN server or from the connectivity checks) or
	// "relay" (through a TURN server).
	Type string `json:"type"`
	// Protocol is "udp" or "tcp": for a relay on this side, how this
	// client reaches the TURN server; else the path's own transport.
	Protocol string `json:"protocol"`
	// Local and Remote are the selected candidate pair's types: "host",
	// "srflx", "prflx" or "relay".
	Local  string `json:"local"`
	Remote string `json:"remote"`
}

// String is the path as the phone shows it: "direct UDP", "STUN UDP",
// "relay TCP".
func (p ConnectionPath) String() string {
	t := p.Type
	if t == "stun" {
		t = "STUN"
	}
	return t + " " + strings.ToUpper(p.Protocol)
}

// classifyPath names the path of a selected candidate pair. remotes are
// every remote candidate, to see through a peer-reflexive one: when its
// address is one the peer announced (host or srflx), it is that; when it is
// on the local candidate's own network (onLink), no router, so no NAT,
// stands between: a host (a browser's, hidden behind an mDNS name).
func classifyPath(local, remote webrtc.ICECandidateStats, remotes []webrtc.ICECandidateStats, onLink func(a, b string) bool) ConnectionPath {
	p := ConnectionPath{Local: local.CandidateType.String(), Remote: remote.CandidateType.String(), Protocol: strings.ToLower(local.Protocol)}
	if p.Protocol == "" {
		p.Protocol = "udp"
	}
	lt, rt := local.CandidateType, remote.CandidateType
	if rt == webrtc.ICECandidateTypePrflx {
		rt = webrtc.ICECandidateTypeSrflx // a NAT mapping the peer did not announce
		if lt == webrtc.ICECandidateTypeHost && onLink != nil && onLink(local.IP, remote.IP) {
			rt = webrtc.ICECandidateTypeHost
		}
		for _, c := range remotes {
			if c.CandidateType != webrtc.ICECandidateTypePrflx && c.IP == remote.IP && c.Port == remote.Port {
				rt = c.CandidateType
			}
		}
	}
	switch {
	case lt == webrtc.ICECandidateTypeRelay:
		p.Type = "relay"
		if rp := strings.ToLower(local.RelayProtocol); rp != "" {
			p.Protocol = rp
		}
	case rt == webrtc.ICECandidateTypeRelay:
		p.Type = "relay"
	case lt == webrtc.ICECandidateTypeHost && rt == webrtc.ICECandidateTypeHost:
		p.Type = "direct"
	default:
		p.Type = "stun"
	}
	return p
}

// serverICE converts the call server's ICE servers, and returns when the
// earliest of their credentials expires (zero: none expire).
func serverICE(in []signaling.ICEServer) ([]webrtc.ICEServer, time.Time) {
	var out []webrtc.ICEServer
	var exp time.Time
	for _, s := range in {
		srv := webrtc.ICEServer{Username: s.Username, Credential: s.Credential}
		for _, u := range s.URLs {
			// A URL pion cannot use (a newer server's scheme, TURN
			// without credentials) is skipped, not fatal.
			if uri, err := parseICEURL(u); err == nil &&
				(uri.Scheme == stun.SchemeTypeSTUN || uri.Scheme == stun.SchemeTypeSTUNS || (s.Username != "" && s.Credential != "")) {
				srv.URLs = append(srv.URLs, u)
			}
		}
		if len(srv.URLs) == 0 {
			continue
		}
		out = append(out, srv)
		if s.Expires > 0 {
			if t := time.Unix(s.Expires, 0); exp.IsZero() || t.Before(exp) {
				exp = t
			}
		}
	}
	return out, exp
}

// parseICEURL is stun.ParseURI, minus its endless recursion: for a host
// part that still lacks a port after it added the default one (such as
// "[::1]5349") it calls itself again and again, with the URL growing, until
// the stack runs out (pion/stun v4.0.1). pion calls it on every configured
// server, so such a URL must never reach pion.
func parseICEURL(raw string) (*stun.URI, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(u.Opaque); err != nil {
		if _, _, err := net.SplitHostPort(u.Opaque + ":3478"); err != nil {
			return nil, fmt.Errorf("%q: no HOST:PORT: %w", raw, err)
		}
	}
	return stun.ParseURI(raw)
}

// hasTURN reports whether servers include a TURN URL.
func hasTURN(servers []webrtc.ICEServer) bool {
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}

// setServerICE takes the ICE servers from a login reply or an iceServers
// push: the --ice-server flags come first, the call server's follow. New
// peer connections use them; live ones use them from their next ICE
// restart, and those relayed through an allocation whose credentials are
// about to expire restart in time (peer.renewCredentials). e.mu held.
func (e *Engine) setServerICE(in []signaling.ICEServer) {
	servers, exp := serverICE(in)
	all := append(append([]webrtc.ICEServer(nil), e.cfg.ICEServers...), servers...)
	e.media.ICEServers, e.media.ICEExpires = all, exp
	if e.media.ICETransportPolicy == webrtc.ICETransportPolicyRelay && !hasTURN(all) && !e.warnedNoTURN {
		e.warnedNoTURN = true
		e.log.Warn("relay-only ICE policy, but no TURN server: calls cannot connect")
		e.events.publish(ErrorEvent{Code: CodeMedia, Message: "--ice-transport-policy relay needs a TURN server: the call server offers none and no --ice-server turn: was given"})
	}
	if c := e.call; c != nil {
		for _, r := range c.remotes {
			if r.peer != nil {
				r.peer.setICEServers(all, exp)
			}
		}
	}
}

// watchICE follows the peer's path and credentials: the path ICE selects
// (for the quality report) and when gathering starts (the credentials it
// used).
func (p *peer) watchICE() {
	p.sender.Transport().ICETransport().OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) {
		p.spawn(p.updatePath)
	})
	p.pc.OnICEGatheringStateChange(func(s webrtc.ICEGatheringState) {
		if s == webrtc.ICEGatheringStateGathering {
			p.do(p.gathering)
		}
	})
}

// updatePath reads the selected pair's candidates from the stats.
func (p *peer) updatePath() {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if p.isClosed() {
		return
	}
	pair, ok := p.sender.Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return
	}
	var local, remote webrtc.ICECandidateStats
	var remotes []webrtc.ICECandidateStats
	for id, s := range p.pc.GetStats() {
		c, ok := s.(webrtc.ICECandidateStats)
		if !ok {
			continue
		}
		switch {
		case id == pair.LocalCandidateID:
			local = c
		case id == pair.RemoteCandidateID:
			remote = c
		}
		if c.Type == webrtc.StatsTypeRemoteCandidate {
			remotes = append(remotes, c)
		}
	}
	if local.ID == "" || remote.ID == "" {
		return
	}
	path := classifyPath(local, remote, remotes, onLink)
	p.path.Store(&path)
	p.log.Info("media path", "type", path.Type, "protocol", path.Protocol, "local", path.Local, "remote", path.Remote,
		"local_addr", net.JoinHostPort(local.IP, strconv.Itoa(int(local.Port))),
		"remote_addr", net.JoinHostPort(remote.IP, strconv.Itoa(int(remote.Port))))
}

// onLink reports whether IP b is on the same network as this machine's
// address a (an interface with a, whose prefix holds b).
func onLink(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia == nil || ib == nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok && n.IP.Equal(ia) && !ia.IsLoopback() {
			return n.Contains(ib)
		}
	}
	return false
}

// connectionPath is the path ICE selected, once it did. A peer-reflexive
// remote is looked at again in the background: ICE replaces it when the
// peer's own candidate for that address arrives later (RFC 8838 §11.4),
// as a browser's mDNS name does once resolved.
func (p *peer) connectionPath() (ConnectionPath, bool) {
	if path := p.path.Load(); path != nil {
		if path.Remote == "prflx" {
			p.spawn(p.updatePath)
		}
		return *path, true
	}
	return ConnectionPath{}, false
}

// setICEServers changes the servers the next gathering uses.
func (p *peer) setICEServers(servers []webrtc.ICEServer, expires time.Time) {
	p.do(func() {
		// pion's SetConfiguration writes the configuration that its
		// GetStats reads, without a lock of its own (a race CI caught).
		p.statsMu.Lock()
		cfg := p.pc.GetConfiguration()
		cfg.ICEServers = servers
		err := p.pc.SetConfiguration(cfg)
		p.statsMu.Unlock()
		if err != nil {
			p.log.Warn("update ICE servers", "err", err)
			return
		}
		p.cfgExpires = expires
	})
}

// gathering notes that ICE gathers (at the start or after a restart) with
// the credentials configured now, and arms their renewal. Run by ops.
func (p *peer) gathering() {
	p.gatheredExpires = p.cfgExpires
	p.restartMu.Lock()
	defer p.restartMu.Unlock()
	if p.credTimer != nil {
		p.credTimer.Stop()
		p.credTimer = nil
	}
	if p.gatheredExpires.IsZero() || p.isClosed() {
		return
	}
	left := time.Until(p.gatheredExpires)
	gathered := p.gatheredExpires
	p.credTimer = time.AfterFunc(left-min(2*time.Minute, left/4), func() {
		p.do(func() {
			if p.gatheredExpires.Equal(gathered) {
				p.renewCredentials()
			}
			// else a restart gathered again (the remote's own renewal,
			// say) between the timer and this step: that gathering armed
			// its own renewal.
		})
	})
}

// renewCredentials restarts ICE before the TURN credentials this path's
// allocation uses expire (the server then stops refreshing it), provided
// fresher ones have arrived meanwhile. Paths that do not go through our
// relay need nothing: their next restart gathers with the current servers.
// Run by ops.
func (p *peer) renewCredentials() {
	path, ok := p.connectionPath()
	if !ok || path.Local != "relay" {
		return
	}
	if !p.cfgExpires.After(p.gatheredExpires) {
		// Normal when the ticket ends then too (so does the session);
		// else the server's push did not come.
		p.log.Info("the relay's TURN credentials expire soon and no fresh ones arrived", "expires", p.gatheredExpires)
		return
	}
	p.log.Info("ice restart: fresh TURN credentials for the relay", "expires", p.cfgExpires)
	if p.offerer {
		p.negotiate(true, false)
	} else {
		p.send(signalMsg{Kind: "renegotiate", ICERestart: true})
	}
}

func (p *peer) stopCredTimer() {
	p.restartMu.Lock()
	defer p.restartMu.Unlock()
	if p.credTimer != nil {
		p.credTimer.Stop()
		p.credTimer = nil
	}
}
