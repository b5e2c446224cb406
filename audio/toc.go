package audio

import "fmt"

// PacketSamples returns the duration in samples (at 48 kHz) of an Opus
// packet, read from its table-of-contents byte (RFC 6716 §3.1). It checks
// the framing enough that the decoder can be handed the packet: a frame
// count that is present and non-zero, an even split for code 1, a total of
// at most 120 ms.
func PacketSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, fmt.Errorf("%w: empty payload", ErrInvalidPacket)
	}
	if len(p) > MaxPayload {
		return 0, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidPacket, len(p), MaxPayload)
	}
	toc := p[0]
	per := frameSamples(toc >> 3)
	frames := 1
	switch toc & 3 {
	case 0:
	case 1:
		if (len(p)-1)%2 != 0 {
			return 0, fmt.Errorf("%w: code 1 packet with an odd payload length", ErrInvalidPacket)
		}
		frames = 2
	case 2:
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: code 2 packet without a frame length", ErrInvalidPacket)
		}
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without a frame count", ErrInvalidPacket)
		}
		frames = int(p[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: code 3 packet with zero frames", ErrInvalidPacket)
		}
	}
	total := per * frames
	if total > MaxPacketSamples {
		return 0, fmt.Errorf("%w: %d frames of %d samples is more than 120 ms", ErrInvalidPacket, frames, per)
	}
	return total, nil
}

// frameSamples returns the frame size of a TOC configuration number
// (RFC 6716 Table 2).
func frameSamples(config byte) int {
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		return [4]int{480, 960, 1920, 2880}[config%4]
	case config < 16: // Hybrid: 10, 20 ms
		return [2]int{480, 960}[config%2]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		return [4]int{120, 240, 480, 960}[config%4]
	}
}

// packetHasSILK reports whether an Opus packet uses the SILK layer (SILK-only
// or hybrid mode), the only modes that can carry in-band FEC (LBRR) data.
func packetHasSILK(p []byte) bool {
	return len(p) > 0 && p[0]>>3 < 16
}
