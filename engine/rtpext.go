package engine

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// What a browser peer needs beyond the codecs, negotiated with what
// Chromium offers and answers:
//
//   - transport-cc on audio and video, with the TWCC header extension and
//     pion's feedback generator: the browser's send-side bandwidth
//     estimation then sees how its packets arrive here, so its camera
//     runs at the rate the path carries instead of a blind start rate;
//   - the usual header extensions: sdes:mid (both kinds), ssrc-audio-level
//     (audio) and abs-send-time (video);
//   - NACK and PLI on video (registered with the interceptors in newAPI).
//
// Audio NACK stays on our Opus codec for softphone peers, but Chromium
// offers and answers Opus with transport-cc only, so a browser's audio
// leans on Opus in-band FEC instead.
var browserExtensions = []struct {
	uri  string
	kind webrtc.RTPCodecType
}{
	{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
	{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
	{sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio},
	{sdp.ABSSendTimeURI, webrtc.RTPCodecTypeVideo},
}

// registerBrowserInterop adds transport-cc feedback and the header
// extensions above to m, and the TWCC feedback generator to reg, logging
// through lf (pion's default logger writes to stderr, over the TUI). Call it
// after the codecs are registered (feedback attaches to them).
func registerBrowserInterop(m *webrtc.MediaEngine, reg *interceptor.Registry, lf logging.LoggerFactory) error {
	for _, e := range browserExtensions {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			return fmt.Errorf("register header extension %s: %w", e.uri, err)
		}
	}
	if err := webrtc.ConfigureTWCCSenderWithOptions(m, reg, twcc.WithLoggerFactory(lf)); err != nil {
		return fmt.Errorf("transport-cc: %w", err)
	}
	return nil
}
