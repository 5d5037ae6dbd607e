package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// stream is one named source of randomness derived from the run's seed, so
// that drawing more from one stream (say, the network) never shifts another
// (say, the disk).
type stream struct {
	*rand.Rand
}

func newStream(seed int64, name string) stream {
	h := fnv.New64a()
	h.Write([]byte(name))
	return stream{rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

// chance reports true with probability p.
func (s stream) chance(p float64) bool { return p > 0 && s.Float64() < p }

// between draws uniformly from [lo, hi].
func (s stream) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + s.Int64N(hi-lo+1)
}

// exp draws an exponential with the given mean, capped at 20 means so a
// single draw cannot stall a run.
func (s stream) exp(mean int64) int64 {
	if mean <= 0 {
		return 0
	}
	v := s.ExpFloat64() * float64(mean)
	return int64(math.Min(v, 20*float64(mean)))
}

// reader adapts a stream to io.Reader, for crypto/rand.Reader.
type reader struct{ s stream }

func (r reader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.s.Uint32())
	}
	return len(p), nil
}
