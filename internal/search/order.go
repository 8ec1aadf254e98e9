package search

import "math"

// sorter sorts float64 keys by value, then by position, reusing its
// buffers. It is an LSD radix sort on the keys' bits, which is stable, so
// equal keys keep their positions' order. Sorting 10,000 (key, position)
// pairs with slices.SortFunc and a comparison function takes 3.6 ms, against
// 0.6 ms here; a TPE proposal with 10,000 observations sorts once per
// numeric dimension and once to split them, and took 35 ms with
// slices.SortFunc, 18 ms with this.
type sorter struct {
	keys, keys2 []uint64
	pos, pos2   []int
}

// order returns the positions 0..len(x)-1 of x sorted by x[i], then by i.
// No x[i] may be NaN. The result is valid until the next call.
func (s *sorter) order(x []float64) []int {
	n := len(x)
	if n == 0 {
		return s.pos[:0]
	}
	s.keys, s.keys2 = resizeUint64(s.keys, n), resizeUint64(s.keys2, n)
	s.pos, s.pos2 = resizeInt(s.pos, n), resizeInt(s.pos2, n)
	for i, v := range x {
		s.keys[i] = orderedBits(v)
		s.pos[i] = i
	}
	var count [256]int
	for shift := 0; shift < 64; shift += 8 {
		count = [256]int{}
		for _, k := range s.keys {
			count[k>>shift&0xff]++
		}
		if count[s.keys[0]>>shift&0xff] == n {
			continue // every key has this byte: the pass would change nothing
		}
		sum := 0
		for b, c := range count {
			count[b] = sum
			sum += c
		}
		for i, k := range s.keys {
			b := k >> shift & 0xff
			s.keys2[count[b]] = k
			s.pos2[count[b]] = s.pos[i]
			count[b]++
		}
		s.keys, s.keys2 = s.keys2, s.keys
		s.pos, s.pos2 = s.pos2, s.pos
	}
	return s.pos
}

// orderedBits maps v to a uint64 of the same order: the IEEE bits with the
// sign bit flipped for a positive number and every bit flipped for a
// negative one. -0 maps like +0.
func orderedBits(v float64) uint64 {
	if v == 0 {
		return 1 << 63
	}
	b := math.Float64bits(v)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

// resizeUint64 is resize for []uint64.
func resizeUint64(s []uint64, n int) []uint64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]uint64, n)
}

// resizeInt is resize for []int.
func resizeInt(s []int, n int) []int {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]int, n)
}
