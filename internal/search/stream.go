package search

import "math/rand/v2"

// Purposes of random streams: a stream for one purpose never coincides with
// one for another, whatever the seed and index.
const (
	// purposeRandom draws the coordinates of Random points (and TPE's
	// startup points).
	purposeRandom uint64 = iota + 1
	// purposeScramble draws Sobol's digital shift.
	purposeScramble
	// purposeTPE draws TPE's candidates; sub is the dimension.
	purposeTPE
)

// stream is a counter-based random stream: a PCG generator whose 128-bit
// state is a hash of (seed, purpose, index, sub). Streams for different
// keys are independent, so the numbers drawn for one index never depend on
// how many were drawn for another.
//
// Only rand.PCG's Uint64 is used, never the methods of rand.Rand: Go
// specifies the PCG algorithm (PCG-DXSM), not how rand.Rand turns it into
// floats, so this keeps every draw fixed across Go releases.
type stream struct {
	pcg rand.PCG
}

// newStream returns the stream of key (seed, purpose, index, sub).
func newStream(seed, purpose uint64, index int64, sub uint64) *stream {
	h := splitmix64(seed)
	h = splitmix64(h ^ purpose)
	h = splitmix64(h ^ uint64(index))
	h = splitmix64(h ^ sub)
	s := &stream{}
	s.pcg.Seed(h, splitmix64(h))
	return s
}

// uint64 returns 64 random bits.
func (s *stream) uint64() uint64 {
	return s.pcg.Uint64()
}

// float64 returns a uniform number in [0, 1), a multiple of 2^-53.
func (s *stream) float64() float64 {
	return float64(s.pcg.Uint64()>>11) * 0x1p-53
}

// open01 returns a uniform number in (0, 1), an odd multiple of 2^-54, for
// inverse CDFs that are infinite at 0 and 1.
func (s *stream) open01() float64 {
	return (float64(s.pcg.Uint64()>>11) + 0.5) * 0x1p-53
}

// splitmix64 is the output function of Steele, Lea and Flood's SplitMix64
// (2014): a bijection of uint64 that mixes every input bit into every output
// bit.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
