package voice

import (
	"fmt"
	"math"
)

// fft is a plan for complex FFTs of one size whose factors are 2, 3, 4 and 5
// (the sizes voice processing needs: 160 and 320, for 10 and 20 ms at
// 16 kHz). It is a Stockham autosort transform: each stage reads one buffer
// and writes the other in natural order, so there is no bit reversal, and
// the inner loop runs over contiguous memory. Data is interleaved
// (re, im) float32. Transforms do not allocate.
type fft struct {
	n       int
	factors []int
	// tw[s][a-1] holds the twiddles of stage s for a = 1..p-1: for each
	// j < L/p, exp(-2πi·a·j/L) as an interleaved (re, im) pair.
	tw   [][][]float32
	work []float32
}

func newFFT(n int) *fft {
	f := &fft{n: n, work: make([]float32, 2*n)}
	m := n
	for m > 1 {
		switch {
		case m%4 == 0:
			f.factors = append(f.factors, 4)
			m /= 4
		case m%2 == 0:
			f.factors = append(f.factors, 2)
			m /= 2
		case m%3 == 0:
			f.factors = append(f.factors, 3)
			m /= 3
		case m%5 == 0:
			f.factors = append(f.factors, 5)
			m /= 5
		default:
			panic(fmt.Sprintf("voice: FFT size %d has a factor other than 2, 3 and 5", n))
		}
	}
	l := 1
	for _, p := range f.factors {
		ls := l
		l *= p
		stage := make([][]float32, p-1)
		for a := 1; a < p; a++ {
			t := make([]float32, 2*ls)
			for j := range ls {
				ang := -2 * math.Pi * float64(a*j) / float64(l)
				t[2*j], t[2*j+1] = float32(math.Cos(ang)), float32(math.Sin(ang))
			}
			stage[a-1] = t
		}
		f.tw = append(f.tw, stage)
	}
	return f
}

// transform computes the forward DFT of x (n interleaved complex values) in
// place, unscaled: X[k] = Σ x[i]·exp(-2πi·ik/n).
func (f *fft) transform(x []float32) {
	in, out := x[:2*f.n], f.work[:2*f.n]
	l := 1
	for s, p := range f.factors {
		ls := l
		l *= p
		r := f.n / l
		tw := f.tw[s]
		switch p {
		case 4:
			radix4(in, out, tw, ls, r)
		case 2:
			radix2(in, out, tw, ls, r)
		case 3:
			radix3(in, out, tw, ls, r)
		case 5:
			radix5(in, out, tw, ls, r)
		}
		in, out = out, in
	}
	if &in[0] != &x[0] {
		copy(x, in)
	}
}

// A stage of radix p combines p·r transforms of length ls into r transforms
// of length L = ls·p (input index k'·ls + j, output k·L + j):
//
//	out[k·L + j + b·ls] = Σ_a ω_p^(a·b) · ω_L^(a·j) · in[(k + a·r)·ls + j]
//
// for k < r, j < ls, b < p. The loops below walk j over interleaved pairs
// of equal-length subslices, which lets the compiler drop bounds checks.

func radix2(in, out []float32, tw [][]float32, ls, r int) {
	m := 2 * ls
	for k := range r {
		x0 := in[2*k*ls:][:m]
		x1 := in[2*(k+r)*ls:][:m]
		y0 := out[2*k*2*ls:][:m]
		y1 := out[2*k*2*ls+m:][:m]
		w1 := tw[0][:m]
		for j := 0; j+1 < len(x0); j += 2 {
			ar, ai := x0[j], x0[j+1]
			br0, bi0 := x1[j], x1[j+1]
			br := br0*w1[j] - bi0*w1[j+1]
			bi := br0*w1[j+1] + bi0*w1[j]
			y0[j], y0[j+1] = ar+br, ai+bi
			y1[j], y1[j+1] = ar-br, ai-bi
		}
	}
}

func radix4(in, out []float32, tw [][]float32, ls, r int) {
	if ls == 1 {
		radix4First(in, out, r)
		return
	}
	m := 2 * ls
	for k := range r {
		x0 := in[2*k*ls:][:m]
		x1 := in[2*(k+r)*ls:][:m]
		x2 := in[2*(k+2*r)*ls:][:m]
		x3 := in[2*(k+3*r)*ls:][:m]
		o := 2 * k * 4 * ls
		y0 := out[o:][:m]
		y1 := out[o+m:][:m]
		y2 := out[o+2*m:][:m]
		y3 := out[o+3*m:][:m]
		w1, w2, w3 := tw[0][:m], tw[1][:m], tw[2][:m]
		for j := 0; j+1 < len(x0); j += 2 {
			u0r, u0i := x0[j], x0[j+1]
			xr, xi := x1[j], x1[j+1]
			u1r, u1i := xr*w1[j]-xi*w1[j+1], xr*w1[j+1]+xi*w1[j]
			xr, xi = x2[j], x2[j+1]
			u2r, u2i := xr*w2[j]-xi*w2[j+1], xr*w2[j+1]+xi*w2[j]
			xr, xi = x3[j], x3[j+1]
			u3r, u3i := xr*w3[j]-xi*w3[j+1], xr*w3[j+1]+xi*w3[j]
			s02r, s02i := u0r+u2r, u0i+u2i
			d02r, d02i := u0r-u2r, u0i-u2i
			s13r, s13i := u1r+u3r, u1i+u3i
			d13r, d13i := u1r-u3r, u1i-u3i
			// ω_4 = -i: y1 = d02 - i·d13, y3 = d02 + i·d13.
			y0[j], y0[j+1] = s02r+s13r, s02i+s13i
			y1[j], y1[j+1] = d02r+d13i, d02i-d13r
			y2[j], y2[j+1] = s02r-s13r, s02i-s13i
			y3[j], y3[j+1] = d02r-d13i, d02i+d13r
		}
	}
}

// radix4First is the first radix-4 stage (ls == 1: every twiddle is 1),
// looping over k instead of over one-element slices.
func radix4First(in, out []float32, r int) {
	x0 := in[:2*r]
	x1 := in[2*r:][:len(x0)]
	x2 := in[4*r:][:len(x0)]
	x3 := in[6*r:][:len(x0)]
	out = out[:4*len(x0)]
	for k := 0; k+1 < len(x0); k += 2 {
		u0r, u0i := x0[k], x0[k+1]
		u1r, u1i := x1[k], x1[k+1]
		u2r, u2i := x2[k], x2[k+1]
		u3r, u3i := x3[k], x3[k+1]
		s02r, s02i := u0r+u2r, u0i+u2i
		d02r, d02i := u0r-u2r, u0i-u2i
		s13r, s13i := u1r+u3r, u1i+u3i
		d13r, d13i := u1r-u3r, u1i-u3i
		y := out[4*k:][:8]
		y[0], y[1] = s02r+s13r, s02i+s13i
		y[2], y[3] = d02r+d13i, d02i-d13r
		y[4], y[5] = s02r-s13r, s02i-s13i
		y[6], y[7] = d02r-d13i, d02i+d13r
	}
}

func radix3(in, out []float32, tw [][]float32, ls, r int) {
	const c1 = -0.5                    // cos(2π/3)
	const s1 = -0.86602540378443864676 // -sin(2π/3): forward
	m := 2 * ls
	for k := range r {
		x0 := in[2*k*ls:][:m]
		x1 := in[2*(k+r)*ls:][:m]
		x2 := in[2*(k+2*r)*ls:][:m]
		o := 2 * k * 3 * ls
		y0 := out[o:][:m]
		y1 := out[o+m:][:m]
		y2 := out[o+2*m:][:m]
		w1, w2 := tw[0][:m], tw[1][:m]
		for j := 0; j+1 < len(x0); j += 2 {
			u0r, u0i := x0[j], x0[j+1]
			xr, xi := x1[j], x1[j+1]
			u1r, u1i := xr*w1[j]-xi*w1[j+1], xr*w1[j+1]+xi*w1[j]
			xr, xi = x2[j], x2[j+1]
			u2r, u2i := xr*w2[j]-xi*w2[j+1], xr*w2[j+1]+xi*w2[j]
			sr, si := u1r+u2r, u1i+u2i
			dr, di := u1r-u2r, u1i-u2i
			mr, mi := u0r+c1*sr, u0i+c1*si
			rr, ri := -s1*di, s1*dr // i·s1·d
			y0[j], y0[j+1] = u0r+sr, u0i+si
			y1[j], y1[j+1] = mr+rr, mi+ri
			y2[j], y2[j+1] = mr-rr, mi-ri
		}
	}
}

func radix5(in, out []float32, tw [][]float32, ls, r int) {
	// Forward: ω_5 = exp(-2πi/5) = c1 + i·s1, ω_5² = c2 + i·s2.
	const c1 = 0.30901699437494742410  // cos(2π/5)
	const c2 = -0.80901699437494742410 // cos(4π/5)
	const s1 = -0.95105651629515357212 // -sin(2π/5)
	const s2 = -0.58778525229247312917 // -sin(4π/5)
	m := 2 * ls
	for k := range r {
		x0 := in[2*k*ls:][:m]
		x1 := in[2*(k+r)*ls:][:m]
		x2 := in[2*(k+2*r)*ls:][:m]
		x3 := in[2*(k+3*r)*ls:][:m]
		x4 := in[2*(k+4*r)*ls:][:m]
		o := 2 * k * 5 * ls
		y0 := out[o:][:m]
		y1 := out[o+m:][:m]
		y2 := out[o+2*m:][:m]
		y3 := out[o+3*m:][:m]
		y4 := out[o+4*m:][:m]
		w1, w2, w3, w4 := tw[0][:m], tw[1][:m], tw[2][:m], tw[3][:m]
		for j := 0; j+1 < len(x0); j += 2 {
			u0r, u0i := x0[j], x0[j+1]
			xr, xi := x1[j], x1[j+1]
			u1r, u1i := xr*w1[j]-xi*w1[j+1], xr*w1[j+1]+xi*w1[j]
			xr, xi = x2[j], x2[j+1]
			u2r, u2i := xr*w2[j]-xi*w2[j+1], xr*w2[j+1]+xi*w2[j]
			xr, xi = x3[j], x3[j+1]
			u3r, u3i := xr*w3[j]-xi*w3[j+1], xr*w3[j+1]+xi*w3[j]
			xr, xi = x4[j], x4[j+1]
			u4r, u4i := xr*w4[j]-xi*w4[j+1], xr*w4[j+1]+xi*w4[j]
			s14r, s14i := u1r+u4r, u1i+u4i
			d14r, d14i := u1r-u4r, u1i-u4i
			s23r, s23i := u2r+u3r, u2i+u3i
			d23r, d23i := u2r-u3r, u2i-u3i
			m1r, m1i := u0r+c1*s14r+c2*s23r, u0i+c1*s14i+c2*s23i
			m2r, m2i := u0r+c2*s14r+c1*s23r, u0i+c2*s14i+c1*s23i
			// i·(s1·d14 + s2·d23) and i·(s2·d14 - s1·d23)
			n1r, n1i := -(s1*d14i + s2*d23i), s1*d14r+s2*d23r
			n2r, n2i := -(s2*d14i - s1*d23i), s2*d14r-s1*d23r
			y0[j], y0[j+1] = u0r+s14r+s23r, u0i+s14i+s23i
			y1[j], y1[j+1] = m1r+n1r, m1i+n1i
			y2[j], y2[j+1] = m2r+n2r, m2i+n2i
			y3[j], y3[j+1] = m2r-n2r, m2i-n2i
			y4[j], y4[j+1] = m1r-n1r, m1i-n1i
		}
	}
}

// rfft is a plan for real FFTs of an even size n through a complex FFT of
// n/2. Spectra are split arrays re, im of n/2+1 bins.
//
// Scaling follows speexdsp's MDF, whose constants the echo canceller keeps:
// the forward transform is scaled by 1/n, the inverse is not, so
// inverse(forward(x)) == x.
type rfft struct {
	n     int
	half  *fft
	buf   []float32 // n interleaved: n/2 complex values
	twr   []float32 // exp(-2πik/n) for k <= n/2: the split step's twiddles
	twi   []float32
	scale float32
}

func newRFFT(n int) *rfft {
	if n%2 != 0 {
		panic("voice: real FFT size must be even")
	}
	r := &rfft{n: n, half: newFFT(n / 2), buf: make([]float32, n), scale: 1 / float32(n)}
	r.twr = make([]float32, n/2+1)
	r.twi = make([]float32, n/2+1)
	for k := range r.twr {
		ang := -2 * math.Pi * float64(k) / float64(n)
		r.twr[k], r.twi[k] = float32(math.Cos(ang)), float32(math.Sin(ang))
	}
	return r
}

// forward computes the spectrum of x (n real samples) into re, im (n/2+1
// bins each), scaled by 1/n.
func (r *rfft) forward(x, re, im []float32) {
	n2 := r.n / 2
	b := r.buf[:2*n2]
	copy(b, x[:r.n]) // pairs (x[2k], x[2k+1]) are the complex z[k]
	r.half.transform(b)
	re, im = re[:n2+1], im[:n2+1]
	twr, twi := r.twr[:n2+1], r.twi[:n2+1]
	s := r.scale
	h := 0.5 * s
	// X[k] = E + w^k·O with E = (Z[k] + conj(Z[n2-k]))/2 and
	// O = (Z[k] - conj(Z[n2-k]))/2i; bins k and n2-k share E and O.
	z0r, z0i := b[0], b[1]
	re[0], im[0] = (z0r+z0i)*s, 0
	re[n2], im[n2] = (z0r-z0i)*s, 0
	for k := 1; k <= n2/2; k++ {
		j := n2 - k
		zk := b[2*k : 2*k+2]
		zj := b[2*j : 2*j+2]
		ar, ai := zk[0], zk[1]
		cr, ci := zj[0], zj[1]
		er, ei := ar+cr, ai-ci
		or, oi := ar-cr, ai+ci
		wr, wi := twr[k], twi[k]
		a := wr*oi + wi*or
		c := wr*or - wi*oi
		re[k], im[k] = (er+a)*h, (ei-c)*h
		re[j], im[j] = (er-a)*h, (-ei-c)*h
	}
}

// inverse computes n real samples into x from the spectrum re, im (n/2+1
// bins), unscaled: inverse(forward(x)) == x.
func (r *rfft) inverse(re, im, x []float32) {
	n2 := r.n / 2
	b := r.buf[:2*n2]
	re, im = re[:n2+1], im[:n2+1]
	twr, twi := r.twr[:n2+1], r.twi[:n2+1]
	// Z[k] = (X[k] + conj(X[n2-k])) + i·conj(w)^k·(X[k] - conj(X[n2-k])),
	// then z = IDFT(Z) via conj(DFT(conj(Z))); bins k and n2-k again
	// share the work.
	b[0], b[1] = re[0]+re[n2], -(re[0] - re[n2])
	for k := 1; k <= n2/2; k++ {
		j := n2 - k
		ar, ai := re[k], im[k]
		cr, ci := re[j], im[j]
		er, ei := ar+cr, ai-ci
		or, oi := ar-cr, ai+ci
		wr, wi := twr[k], twi[k]
		p := wr*or + wi*oi
		q := wr*oi - wi*or
		zk := b[2*k : 2*k+2]
		zj := b[2*j : 2*j+2]
		zk[0], zk[1] = er-q, -(ei + p)
		zj[0], zj[1] = er+q, -(-ei + p)
	}
	r.half.transform(b)
	x = x[:r.n]
	for k := 0; k+1 < len(x) && k+1 < len(b); k += 2 {
		x[k] = b[k]
		x[k+1] = -b[k+1]
	}
}
