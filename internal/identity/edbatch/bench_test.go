package edbatch

import (
	"fmt"
	"testing"

	"github.com/pilot-go/pilot/internal/identity"
)

// BenchmarkVerify reports the cost of a batch; ns/sig is per signature.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{1, 2, 4, 8, 16, 64} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			items := goodItems(n)
			ok := make([]bool, n)
			var v Verifier
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(items, ok); err != nil || !ok[n-1] {
					b.Fatal("verification failed", err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		})
	}
}

// BenchmarkVerify_OneBad is the cost of a batch of 64 with one bad
// signature: the equation fails and every item is checked again alone.
func BenchmarkVerify_OneBad(b *testing.B) {
	items := goodItems(64)
	items[17] = corruptions["S bit"](items[17])
	ok := make([]bool, len(items))
	var v Verifier
	for b.Loop() {
		if err := v.Verify(items, ok); err != nil || ok[17] || !ok[18] {
			b.Fatal("wrong verdicts", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/sig")
}

// BenchmarkIdentityVerify is the one-by-one baseline.
func BenchmarkIdentityVerify(b *testing.B) {
	it := goodItems(1)[0]
	for b.Loop() {
		if !identity.Verify(it.PublicKey, it.Message, it.Signature) {
			b.Fatal("verification failed")
		}
	}
}

// BenchmarkVerify_KeyCache is BenchmarkVerify/64 with every key cached.
func BenchmarkVerify_KeyCache(b *testing.B) {
	items := goodItems(64)
	ok := make([]bool, len(items))
	v := Verifier{Keys: NewKeyCache(128)}
	for b.Loop() {
		if err := v.Verify(items, ok); err != nil || !ok[63] {
			b.Fatal("verification failed", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/sig")
}
