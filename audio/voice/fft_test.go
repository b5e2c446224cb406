package voice

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFFTMatchesDFT(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5, 8, 12, 15, 20, 60, 80, 160, 320} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		x := make([]float32, 2*n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		want := make([]complex128, n)
		for k := range n {
			var s complex128
			for i := range n {
				ang := -2 * math.Pi * float64(i*k%n) / float64(n)
				s += complex(float64(x[2*i]), float64(x[2*i+1])) * complex(math.Cos(ang), math.Sin(ang))
			}
			want[k] = s
		}
		newFFT(n).transform(x)
		for k := range n {
			if d := math.Hypot(float64(x[2*k])-real(want[k]), float64(x[2*k+1])-imag(want[k])); d > 1e-4*math.Sqrt(float64(n)) {
				t.Fatalf("n=%d bin %d: got %v%+vi, want %v", n, k, x[2*k], x[2*k+1], want[k])
			}
		}
	}
}

func TestRealFFT(t *testing.T) {
	for _, n := range []int{10, 320, 640} {
		rng := rand.New(rand.NewPCG(uint64(n), 2))
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		r := newRFFT(n)
		re, im := make([]float32, n/2+1), make([]float32, n/2+1)
		r.forward(x, re, im)
		for k := 0; k <= n/2; k++ {
			var sr, si float64
			for i := range n {
				ang := -2 * math.Pi * float64(i*k%n) / float64(n)
				sr += float64(x[i]) * math.Cos(ang)
				si += float64(x[i]) * math.Sin(ang)
			}
			sr, si = sr/float64(n), si/float64(n)
			if math.Hypot(float64(re[k])-sr, float64(im[k])-si) > 1e-5 {
				t.Fatalf("n=%d bin %d: got %v%+vi, want %v%+vi", n, k, re[k], im[k], sr, si)
			}
		}
		y := make([]float32, n)
		r.inverse(re, im, y)
		for i := range x {
			if math.Abs(float64(x[i]-y[i])) > 1e-4 {
				t.Fatalf("n=%d: round trip sample %d: %v, want %v", n, i, y[i], x[i])
			}
		}
	}
}

func BenchmarkRealFFT640(b *testing.B) {
	r := newRFFT(640)
	x := make([]float32, 640)
	for i := range x {
		x[i] = float32(i % 7)
	}
	re, im := make([]float32, 321), make([]float32, 321)
	b.ReportAllocs()
	for b.Loop() {
		r.forward(x, re, im)
		r.inverse(re, im, x)
	}
}

func BenchmarkFFT320(b *testing.B) {
	f := newFFT(320)
	x := make([]float32, 640)
	for i := range x {
		x[i] = float32(i % 7)
	}
	for b.Loop() {
		f.transform(x)
	}
}
