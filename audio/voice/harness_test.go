package voice

import (
	"fmt"
	"math"
	"strings"
)

// simulate runs a processor with cfg over a microphone signal that is the
// sum of components (int16 scale, 48 kHz), with far the loudspeaker signal
// (nil: none). It returns the output and, for every component, what the
// processor did to it alone (by replaying the processor's gains on it:
// the post-filter's, the band above's and the gain control's), all
// aligned with the input (the processor's delay removed). The echo's
// share cannot be replayed (the echo canceller subtracts it); it is the
// output minus the other components' shares.
func simulate(cfg Config, far []float64, comps ...[]float64) (out []float64, shares [][]float64, p *Processor) {
	n := len(comps[0])
	p = New(cfg)
	shadows := make([]*Processor, len(comps))
	for i := range shadows {
		shadows[i] = New(cfg)
		shadows[i].replayOf = p
	}
	frames := n / FrameSamples
	out = make([]float64, frames*FrameSamples)
	shares = make([][]float64, len(comps))
	for i := range shares {
		shares[i] = make([]float64, frames*FrameSamples)
	}
	mic := make([]int16, FrameSamples)
	farF := make([]int16, FrameSamples)
	comp := make([]int16, FrameSamples)
	for f := range frames {
		base := f * FrameSamples
		for i := range mic {
			var s float64
			for _, c := range comps {
				s += c[base+i]
			}
			mic[i] = int16(max(-32768, min(32767, math.Round(s))))
			if far != nil {
				farF[i] = int16(max(-32768, min(32767, math.Round(far[base+i]))))
			}
		}
		var fr []int16
		if far != nil {
			fr = farF
		}
		p.Process(mic, fr)
		for i, v := range mic {
			out[base+i] = float64(v)
		}
		for ci, c := range comps {
			for i := range comp {
				comp[i] = int16(max(-32768, min(32767, math.Round(c[base+i]))))
			}
			shadows[ci].Process(comp, fr)
			for i, v := range comp {
				shares[ci][base+i] = float64(v)
			}
		}
	}
	d := p.Delay()
	shift := func(x []float64) []float64 {
		y := make([]float64, len(x))
		copy(y, x[d:])
		return y
	}
	out = shift(out)
	for i := range shares {
		shares[i] = shift(shares[i])
	}
	return out, shares, p
}

// sub returns a - b.
func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// ratioDB is 10·log10 of the power of a over the power of b, over the 20 ms
// frames in [from, to) samples where mask (per frame, nil: all) is set.
func ratioDB(a, b []float64, mask []bool, from, to int) float64 {
	fl := FrameSamples
	var pa, pb float64
	for f := from / fl; f < to/fl && (f+1)*fl <= len(a); f++ {
		if mask != nil && (f >= len(mask) || !mask[f]) {
			continue
		}
		pa += meanSquare(a[f*fl : (f+1)*fl])
		pb += meanSquare(b[f*fl : (f+1)*fl])
	}
	return 10 * math.Log10((pa+1e-9)/(pb+1e-9))
}

// timeline formats ratioDB over consecutive windows of w samples.
func timeline(a, b []float64, mask []bool, w int) string {
	var s []string
	for from := 0; from+w <= len(a); from += w {
		s = append(s, fmt.Sprintf("%.0f", ratioDB(a, b, mask, from, from+w)))
	}
	return strings.Join(s, " ")
}
