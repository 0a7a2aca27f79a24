package stream

// Serial-number arithmetic on 32-bit sequence numbers (RFC 1982, wire.md
// conventions): a is after b when (a − b) mod 2^32 lies in 1 … 2^31 − 1.

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }
func seqGE(a, b uint32) bool { return int32(a-b) >= 0 }

func seqMax(a, b uint32) uint32 {
	if seqGT(a, b) {
		return a
	}
	return b
}

// seqRange is the half-open range [l, r) of sequence numbers.
type seqRange struct{ l, r uint32 }
