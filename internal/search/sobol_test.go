package search

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unitCube returns the space [0, 1]^n, where a Float coordinate is the
// Sobol coordinate itself.
func unitCube(n int) Space {
	s := make(Space, n)
	for j := range s {
		s[j] = Dimension{Name: fmt.Sprintf("x%d", j+1), Kind: Float, Min: 0, Max: 1}
	}
	return s
}

// TestSobolPublished checks the unscrambled sequence against the published
// definition (Joe and Kuo's sobol.cc, Gray-code order; SciPy's
// scipy.stats.qmc.Sobol(d, scramble=False) gives the same points).
//
// Dimension 1 has v_k = 2^-k. Point i is the xor of the v_k of the bits set
// in gray(i) = i xor i>>1: gray(0..7) = 0, 1, 3, 2, 6, 7, 5, 4.
//
// Dimension 2 (s=1, a=0, m_1=1): m_k = 2 m_(k-1) xor m_(k-1), so m = 1, 3,
// 5, 15 and v = .1, .11, .101, .1111 in binary. Points 0..7: 0, .1,
// .1^.11=.01, .11, .11^.101=.011, .1^.11^.101=.111, .1^.101=.001, .101,
// that is 0, .5, .25, .75, .375, .875, .125, .625.
//
// Dimension 3 (s=2, a=1, m=1,3): m_3 = 2 a_1 m_2 xor 4 m_1 xor m_1 = 6^4^1
// = 3, so v = .1, .11, .011. Points 0..7: 0, .1, .01, .11, .11^.011=.101,
// .1^.11^.011=.001, .1^.011=.111, .011, that is 0, .5, .25, .75, .625, .125,
// .875, .375.
//
// Dimension 16 (s=6, a=16=10000b, m=1,3,1,13,27,49): v_1..v_3 = .1, .11,
// .001, so points 0..7 are 0, .1, .01, .11, .11^.001=.111, .1^.11^.001=.011,
// .1^.001=.101, .001, that is 0, .5, .25, .75, .875, .375, .625, .125.
// Point 64 has gray(64) = 96 = bits 6 and 7, so it is v_6 xor v_7, where
// m_7 = 2 a_1 m_6 xor 2^6 m_1 xor m_1 = 98^64^1 = 35: v_6 xor v_7 =
// (98 xor 35)/128 = 65/128 = 0.5078125.
func TestSobolPublished(t *testing.T) {
	s := mustNew(t, Sobol, unitCube(MaxDimensions), 12345, Options{Scramble: false})
	want := [][3]float64{
		{0, 0, 0},
		{0.5, 0.5, 0.5},
		{0.75, 0.25, 0.25},
		{0.25, 0.75, 0.75},
		{0.375, 0.375, 0.625},
		{0.875, 0.875, 0.125},
		{0.625, 0.125, 0.875},
		{0.125, 0.625, 0.375},
	}
	want16 := []float64{0, 0.5, 0.25, 0.75, 0.875, 0.375, 0.625, 0.125}
	for i := range want {
		p, err := s.Propose(int64(i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[i][:], []float64(p[:3])); diff != "" {
			t.Errorf("point %d, dimensions 1-3 (-want +got):\n%s", i, diff)
		}
		if p[15] != want16[i] {
			t.Errorf("point %d, dimension 16 = %v, want %v", i, p[15], want16[i])
		}
	}
	p, err := s.Propose(64, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p[15] != 0.5078125 {
		t.Errorf("point 64, dimension 16 = %v, want 0.5078125", p[15])
	}
}

// TestSobolStratified checks a property every dimension of a Sobol sequence
// has whatever its direction numbers: the points 0..2^m-1 put exactly one
// coordinate in each interval [k/2^m, (k+1)/2^m). It holds for the
// scrambled sequence too, since a digital shift permutes those intervals.
func TestSobolStratified(t *testing.T) {
	for _, scramble := range []bool{false, true} {
		t.Run(fmt.Sprintf("scramble=%t", scramble), func(t *testing.T) {
			s := mustNew(t, Sobol, unitCube(MaxDimensions), 9, Options{Scramble: scramble})
			const m = 10
			var points []Point
			for i := range int64(1 << m) {
				p, err := s.Propose(i, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				points = append(points, p)
			}
			for bitsUsed := 1; bitsUsed <= m; bitsUsed++ {
				n := 1 << bitsUsed
				for j := range MaxDimensions {
					seen := make([]bool, n)
					for _, p := range points[:n] {
						k := int(p[j] * float64(n))
						if seen[k] {
							t.Fatalf("dimension %d: two of the first %d points in [%d/%d, %d/%d)", j+1, n, k, n, k+1, n)
						}
						seen[k] = true
					}
				}
			}
		})
	}
}

// TestSobolScrambled checks that scrambling depends on the seed and moves
// point 0 off the origin.
func TestSobolScrambled(t *testing.T) {
	a := mustNew(t, Sobol, unitCube(3), 1, Options{Scramble: true})
	b := mustNew(t, Sobol, unitCube(3), 2, Options{Scramble: true})
	pa, err := a.Propose(0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Propose(0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(pa, Point{0, 0, 0}) {
		t.Error("scrambled point 0 is the origin")
	}
	if cmp.Equal(pa, pb) {
		t.Error("seeds 1 and 2 scramble alike")
	}
}

// TestSobolMapping checks how a unit coordinate maps to each kind of
// dimension, on the unscrambled points 0..3 (dimension 1: 0, .5, .75, .25).
func TestSobolMapping(t *testing.T) {
	tests := []struct {
		dim  Dimension
		want []float64
	}{
		{Dimension{Name: "f", Kind: Float, Min: -1, Max: 3}, []float64{-1, 1, 2, 0}},
		{Dimension{Name: "lf", Kind: Float, Min: 1e-4, Max: 1, Log: true}, []float64{1e-4, 1e-2, 1e-1, 1e-3}},
		// 4 values, a quarter of the cube each.
		{Dimension{Name: "i", Kind: Int, Min: 10, Max: 40, Step: 10}, []float64{10, 30, 40, 20}},
		// Log-uniform on [0.5, 5.5), then rounded: 0.5*11^u = 0.5, 1.66,
		// 3.02, 0.91.
		{Dimension{Name: "li", Kind: Int, Min: 1, Max: 5, Step: 1, Log: true}, []float64{1, 2, 3, 1}},
		{Dimension{Name: "c", Kind: Categorical, Choices: 3}, []float64{0, 1, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.dim.Name, func(t *testing.T) {
			s := mustNew(t, Sobol, Space{tt.dim}, 0, Options{})
			var got []float64
			for i := range int64(len(tt.want)) {
				p, err := s.Propose(i, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p[0])
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b float64) bool {
				return a == b || (a != 0 && (a-b)/a < 1e-12 && (b-a)/a < 1e-12)
			})); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
		})
	}
}
