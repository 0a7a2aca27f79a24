package stream

import (
	"slices"
	"testing"

	"github.com/pilot-go/pilot/internal/wire/sack"
)

// FuzzParseSACK: the engine's allocation-free parser agrees with sack.Parse
// on every input (seeded with the spec's SACK and not-SACK vectors' shapes).
func FuzzParseSACK(f *testing.F) {
	one, _ := sack.Append(nil, []sack.Block{{Left: 1, Right: 2}})
	four, _ := sack.Append(nil, make([]sack.Block, 4))
	f.Add(one)
	f.Add(four)
	f.Add(append(one, 0))
	f.Add([]byte("SACK\x05"))
	f.Add([]byte("SACK\x00"))
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, p []byte) {
		var dst [sack.MaxBlocks]sack.Block
		got := parseSACK(p, &dst)
		want, err := sack.Parse(p)
		if (err == nil) != (got != nil) || !slices.Equal(got, want) {
			t.Fatalf("parseSACK(%x) = %v, sack.Parse = %v, %v", p, got, want, err)
		}
	})
}
