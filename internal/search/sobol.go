package search

import (
	"fmt"
	"math/bits"
)

// sobolBits is the precision of the sequence: coordinates are multiples of
// 2^-32, and the sequence has 2^32 points.
const sobolBits = 32

// sobolMaxIndex is one past the last index of the sequence.
const sobolMaxIndex = int64(1) << sobolBits

// sobolDirections holds the direction numbers v_{j,k} * 2^32 of dimension
// j+1, bit k+1: directions[j][k] is m_{k+1} << (31-k).
var sobolDirections = directionNumbers()

// directionNumbers computes the direction numbers of the first
// MaxDimensions dimensions (Bratley and Fox 1988; Joe and Kuo 2003).
//
// Dimension 1 has m_k = 1 for every k. Dimension j with primitive
// polynomial x^s + a_1 x^(s-1) + ... + a_(s-1) x + 1 takes m_1..m_s from
// the table and, for k > s, the recurrence
//
//	m_k = 2 a_1 m_(k-1) xor 4 a_2 m_(k-2) xor ... xor 2^(s-1) a_(s-1) m_(k-s+1)
//	      xor 2^s m_(k-s) xor m_(k-s)
//
// which, on v_k = m_k / 2^k, reads
//
//	v_k = a_1 v_(k-1) xor ... xor a_(s-1) v_(k-s+1) xor v_(k-s) xor v_(k-s)/2^s.
func directionNumbers() [MaxDimensions][sobolBits]uint32 {
	var v [MaxDimensions][sobolBits]uint32
	for k := range sobolBits {
		v[0][k] = 1 << (sobolBits - 1 - k)
	}
	for j, row := range joeKuo {
		w := &v[j+1]
		s := row.s
		for k := 0; k < s && k < sobolBits; k++ {
			w[k] = row.m[k] << (sobolBits - 1 - k)
		}
		for k := s; k < sobolBits; k++ {
			x := w[k-s] ^ (w[k-s] >> s)
			for i := 1; i < s; i++ {
				// a_i is bit s-1-i of a.
				if row.a>>(s-1-i)&1 == 1 {
					x ^= w[k-i]
				}
			}
			w[k] = x
		}
	}
	return v
}

// sobolSampler proposes the points of the Sobol' sequence in the Gray-code
// order of Antonov and Saleev (1979), the order of Joe and Kuo's sobol.cc
// and of SciPy: point i is the xor of the direction numbers of the bits set
// in gray(i) = i xor (i >> 1). Point i is computed directly, in O(32) per
// dimension, not from point i-1.
//
// Unscrambled, index 0 is the origin, the sequence's first point as
// published; the controller should keep it, as SciPy does, since the
// balance of the first 2^m points counts it (a Sobol experiment then starts
// with every Float and Int dimension at Min and every Categorical at choice
// 0).
//
// Scrambled, every coordinate is xored with a 32-bit word drawn from the
// seed, one per dimension: a random digital shift (see Dick and
// Pillichshammer, Digital Nets and Sequences, 2010). It keeps the
// sequence's net structure, makes every point uniform on the cube, and
// moves index 0 off the origin. Owen's nested scrambling did no better in
// the quality benchmark (docs/search.md).
type sobolSampler struct {
	dims []dimension
	// shift holds the digital shift of each dimension, 0 unscrambled.
	shift []uint32
}

// newSobol returns a Sobol sampler; seed matters only when scramble is set.
func newSobol(dims []dimension, seed uint64, scramble bool) *sobolSampler {
	s := &sobolSampler{dims: dims, shift: make([]uint32, len(dims))}
	if scramble {
		for j := range dims {
			s.shift[j] = uint32(newStream(seed, purposeScramble, 0, uint64(j)).uint64() >> 32)
		}
	}
	return s
}

// Propose returns point index of the sequence, mapped to the space; it
// ignores observed and pending.
func (s *sobolSampler) Propose(index int64, _ []Observation, _ []Point) (Point, error) {
	if err := checkIndex(index); err != nil {
		return nil, err
	}
	if index >= sobolMaxIndex {
		return nil, fmt.Errorf("search: index %d is past the Sobol sequence's 2^32 points", index)
	}
	p := make(Point, len(s.dims))
	for j := range s.dims {
		u := float64(sobolCoordinate(j, uint32(index))^s.shift[j]) * 0x1p-32
		p[j] = s.dims[j].fromUnit(u)
	}
	return p, nil
}

// sobolCoordinate returns coordinate j of unscrambled point i, times 2^32.
func sobolCoordinate(j int, i uint32) uint32 {
	var x uint32
	for g := i ^ (i >> 1); g != 0; g &= g - 1 {
		x ^= sobolDirections[j][bits.TrailingZeros32(g)]
	}
	return x
}
