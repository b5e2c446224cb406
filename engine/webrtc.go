package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Opus as every browser offers it: payload type 111, 48 kHz, two channels in
// the SDP (we encode mono; RFC 7587 says the SDP always names 2), in-band FEC.
var opusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   48000,
		Channels:    2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
		// NACK on audio must be declared on the codec; pion's ConfigureNack
		// only covers video.
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}},
	},
	PayloadType: 111,
}

// VP8 is registered so a browser peer's video in a video call negotiates and
// raises onUserVideoAvailable; the terminal client sends no video.
var vp8Codec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:     webrtc.MimeTypeVP8,
		ClockRate:    90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
	},
	PayloadType: 96,
}

// resendHistory is how many sent packets a peer connection keeps to resend
// when the remote asks (NACK): 64 packets, 1.28 s of audio, over six times
// the most a jitter buffer here waits (200 ms), so every resend that could
// still be played is there. pion's default, 1,024 (20 s of audio), keeps
// ~1.5 MB of packet copies per call that no resend can use, and in a
// process with many calls that heap made each garbage collection long
// enough (25–70 ms with 40 calls) to make frames late at every receiver.
// The terminal phone sends no video; a browser's own NACK history serves
// its video.
const resendHistory = 64

// natPathWait is how long the controlling side of ICE looks for a better
// path before it takes one through NAT (server- or peer-reflexive) or a
// relay. None: pion nominates on its 200 ms check ticks, so any wait cost
// a relayed call a whole tick (setup 42 → 242 ms in the NAT lab), and the
// relay pair, which needs an allocation and a permission first, validates
// after a direct one in practice (the NAT tests check it; only calls
// placed a tenth of a second after the last one, on stale NAT state,
// sometimes took the relay where a direct path existed).
const natPathWait = 0

// mediaConfig is what every peer connection of an engine shares.
type mediaConfig struct {
	ICEServers []webrtc.ICEServer
	// ICEExpires is when the TURN credentials among ICEServers expire
	// (zero: none do).
	ICEExpires time.Time
	// ICETransportPolicy "relay" allows only relayed paths.
	ICETransportPolicy webrtc.ICETransportPolicy
	// Net replaces the host network (pion's vnet in tests); nil is the OS.
	Net transport.Net
	// ICE timing: disconnected after, failed after, keepalive every.
	ICEDisconnected, ICEFailed, ICEKeepalive time.Duration
	Logger                                   *slog.Logger
	// statsHook, when set (by tests), runs each time a peer starts
	// gathering its statistics.
	statsHook func()
}

// newAPI builds a pion API for one peer connection: its own interceptor
// registry, so the stats getter it hands back belongs to that connection.
func newAPI(cfg mediaConfig) (*webrtc.API, *statsHolder, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, fmt.Errorf("register opus: %w", err)
	}
	if err := m.RegisterCodec(vp8Codec, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, fmt.Errorf("register vp8: %w", err)
	}

	lf := pionLoggerFactory{log: cfg.Logger}
	reg := &interceptor.Registry{}
	// The stats interceptor goes first: registered after the RTCP report
	// interceptors it never sees the reports' timing and RTT reads 0.
	holder := &statsHolder{}
	sf, err := stats.NewInterceptor(stats.WithLoggerFactory(lf))
	if err != nil {
		return nil, nil, fmt.Errorf("stats interceptor: %w", err)
	}
	sf.OnNewPeerConnection(func(_ string, g stats.Getter) { holder.set(g) })
	reg.Add(sf)

	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(lf))
	if err != nil {
		return nil, nil, fmt.Errorf("nack generator: %w", err)
	}
	resp, err := nack.NewResponderInterceptor(nack.WithResponderLoggerFactory(lf), nack.ResponderSize(resendHistory))
	if err != nil {
		return nil, nil, fmt.Errorf("nack responder: %w", err)
	}
	reg.Add(resp)
	reg.Add(gen)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	if err := registerBrowserInterop(m, reg, lf); err != nil {
		return nil, nil, err
	}

	rr, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(lf), report.ReceiverInterval(time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("receiver reports: %w", err)
	}
	sr, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(lf), report.SenderInterval(time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("sender reports: %w", err)
	}
	reg.Add(rr)
	reg.Add(sr)

	se := webrtc.SettingEngine{LoggerFactory: lf}
	// Our candidates stay plain IPs, but a browser's .local host
	// candidates (it hides its addresses behind mDNS names) are resolved,
	// so a browser on the same LAN connects directly.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	se.SetIncludeLoopbackCandidate(true)
	// How long the controlling side waits for a better path before it
	// nominates a path through NAT or a relay (pion's defaults: 0.5 s, 1 s
	// and 2 s, which a call through a relay waited out in full). A host
	// pair on the same machine or LAN still goes first: it validates
	// before the others exist.
	se.SetSrflxAcceptanceMinWait(natPathWait)
	se.SetPrflxAcceptanceMinWait(natPathWait)
	se.SetRelayAcceptanceMinWait(natPathWait)
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	se.SetICETimeouts(cfg.ICEDisconnected, cfg.ICEFailed, cfg.ICEKeepalive)
	// The engine alone closes a peer connection (the remote left, the call
	// ended): pion closing it from its own goroutine on a DTLS close_notify
	// would race the statistics the meters gather (pion's GetStats reads
	// state its close writes without a lock). A remote that closes shows
	// up as its leave on the signaling path, or as ICE failing.
	se.DisableCloseByDTLS(true)
	// The side that answers DTLS (the offerer: pion's answer takes the
	// client role) replies to the first ClientHello with its ServerHello,
	// without the cookie round trip (HelloVerifyRequest): a call connects
	// one round trip sooner. The cookie keeps a server from answering a
	// spoofed source address; here DTLS runs only over a path ICE has
	// checked with the peer's credentials (pion drops non-STUN packets from
	// addresses that are not known remote candidates and sends only on the
	// selected pair), so there is no one to spoof (RFC 6347 §4.2.1 lets a
	// server where amplification is no concern skip it).
	se.SetDTLSInsecureSkipHelloVerify(true)

	api := webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(se),
	)
	return api, holder, nil
}
