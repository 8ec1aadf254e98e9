package search

// randomSampler proposes independent uniform points: coordinate j of point
// index is fromUnit of the j-th draw of the stream (seed, purposeRandom,
// index).
type randomSampler struct {
	dims []dimension
	seed uint64
}

// Propose returns the Random point of index; it ignores observed and
// pending.
func (s *randomSampler) Propose(index int64, _ []Observation, _ []Point) (Point, error) {
	if err := checkIndex(index); err != nil {
		return nil, err
	}
	return randomPoint(s.dims, s.seed, index), nil
}

// randomPoint returns the Random point of index. Every dimension takes one
// draw, constant ones included, so a coordinate depends only on its
// position in the space.
func randomPoint(dims []dimension, seed uint64, index int64) Point {
	r := newStream(seed, purposeRandom, index, 0)
	p := make(Point, len(dims))
	for j := range dims {
		p[j] = dims[j].fromUnit(r.float64())
	}
	return p
}
