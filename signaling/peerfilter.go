package signaling

import "net/netip"

// deniedPeers are the address blocks a TURN relay must not reach unless the
// operator allows private peers: coturn's recommended denied-peer-ip list
// (its examples/etc/turnserver.conf) plus its no-multicast-peers. They are
// the machine itself, private networks, link-local, carrier-grade NAT,
// documentation, benchmarking and reserved ranges — what a relay would open
// to anyone holding credentials if it forwarded there.
var deniedPeers = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local (and cloud metadata services)
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"64:ff9b::/96",    // NAT64
		"100::/64",        // discard
		"2001::/23",       // IETF protocol assignments (Teredo...)
		"2002::/16",       // 6to4
		"fc00::/7",        // unique local
		"fe80::/10",       // link-local
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// deniedPeer reports whether ip is in a denied block. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry.
func deniedPeer(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range deniedPeers {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
