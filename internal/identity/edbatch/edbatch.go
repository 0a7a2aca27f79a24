// Package edbatch verifies many Ed25519 signatures at once, for the
// registry, where every auth v2 request carries one (registry.md §5.2) and
// a busy registry spends more CPU checking them than on anything else.
//
// # Batch equation
//
// A pure Ed25519 signature (R, S) of message M under key A is valid when
// [S]B = R + [k]A with k = SHA-512(R ‖ A ‖ M) mod L. Checking n signatures
// one by one costs n double-scalar multiplications; a batch draws a random
// 128-bit scalar z_i per signature and checks the single combination
//
//	[8]·( −(Σ z_i·S_i)·B + Σ z_i·R_i + Σ (z_i·k_i)·A_i ) = identity
//
// with one multi-scalar multiplication whose 256 doublings are shared by
// every term. If any signature fails the (cofactored) check, the
// combination is the identity only with probability about 2⁻¹²⁸, because
// the z_i are secret and fresh for every batch. Per signature, a batch of
// 64 costs about half of crypto/ed25519.Verify, one of 8 about 60 %, and
// less again when the caller's KeyCache spares the decoding of A (see the
// benchmarks).
//
// # Exact verdicts
//
// Verify gives every item its own verdict, the one identity.Verify would
// give, and one item never changes another's:
//
//   - what identity.Verify rejects without arithmetic is rejected before
//     the batch and left out of it: a key that is not 32 bytes, a
//     signature that is not 64 bytes, a non-canonical S (S ≥ L), a key A
//     that does not decode to a curve point, and an R that is not the
//     canonical encoding of a curve point (crypto/ed25519 compares R byte
//     for byte with the canonical encoding of the point it computes);
//   - a single remaining item is checked with identity.Verify;
//   - when the batch equation fails, every remaining item is checked again
//     with identity.Verify, so a bad signature costs its batch a second,
//     one-by-one pass but never fails a good one, and a good one never
//     hides a bad one.
//
// # The one difference: cofactored batch, cofactorless single checks
//
// identity.Verify (crypto/ed25519) checks [S]B = R + [k]A exactly
// (cofactorless); the batch equation is multiplied by the cofactor 8, as it
// must be for a random linear combination to be sound. The two disagree
// only for a signature where R + [k]A − [S]B is a non-identity point of
// small order (one of the 7 points of order 2, 4 or 8), which needs an R or
// an A carrying a small-order component. A valid-looking signature of that
// shape can only be made by someone who knows the secret scalar of A's
// prime-order part, that is the key's owner: nobody else can forge one, in
// a batch or alone. (A key that is itself of small order has no secret:
// anyone can sign for it, alone after a few tries or in a batch at once;
// crypto/ed25519 accepts such keys as well.) Such a signature may pass in
// a batch and fail alone, so its fate may depend on its batch-mates;
// honest signers (every RFC 8032 implementation) never produce one. The
// registry accepts that: it can only let an owner's deliberately malformed
// signature through, which grants nothing the owner's valid signature
// would not. docs/SPEC-NOTES.md records it.
//
// The package is pure: no I/O, no goroutines, no clock. Randomness comes
// from crypto/rand (or Verifier.Rand in tests). A Verifier holds scratch
// space and is not safe for concurrent use.
package edbatch

import (
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"

	"filippo.io/edwards25519"

	"github.com/pilot-go/pilot/internal/identity"
)

// MaxBatch is the largest batch Verify checks with one equation; longer
// inputs are split into batches of at most MaxBatch items.
const MaxBatch = 64

// Item is one signature to check: Signature over Message under PublicKey.
// The slices are only read, and not kept after Verify returns.
type Item struct {
	PublicKey []byte
	Message   []byte
	Signature []byte
}

// Verifier verifies batches of signatures. The zero value is ready to use;
// it keeps scratch space between calls and is not safe for concurrent use.
type Verifier struct {
	// Rand is the source of the batch's random scalars; nil means
	// crypto/rand. It must be unpredictable to whoever makes the
	// signatures: a predictable source lets a forger cancel terms.
	Rand io.Reader
	// Keys, if set, caches decoded public keys between batches.
	Keys *KeyCache

	h       hash.Hash
	digest  [sha512.Size]byte
	random  []byte
	scalars []edwards25519.Scalar
	points  []edwards25519.Point
	sp      []*edwards25519.Scalar
	pp      []*edwards25519.Point
	live    []int // indices of the items in the batch equation
}

// Verify sets ok[i] to whether items[i] is a valid signature, with the
// verdict identity.Verify would give (see the package doc for the one
// exception). ok must be at least as long as items. It returns an error
// only when the random source fails; ok is then untouched beyond what was
// already decided, and the caller must not trust it.
func (v *Verifier) Verify(items []Item, ok []bool) error {
	if len(ok) < len(items) {
		return fmt.Errorf("edbatch: %d verdict slots for %d items", len(ok), len(items))
	}
	for len(items) > 0 {
		n := min(len(items), MaxBatch)
		if err := v.verifyBatch(items[:n], ok[:n]); err != nil {
			return err
		}
		items, ok = items[n:], ok[n:]
	}
	return nil
}

// verifyBatch handles at most MaxBatch items.
func (v *Verifier) verifyBatch(items []Item, ok []bool) error {
	if len(items) == 1 {
		it := items[0]
		ok[0] = identity.Verify(ed25519.PublicKey(it.PublicKey), it.Message, it.Signature)
		return nil
	}
	v.grow(len(items))
	// Terms: point 0 is B; item j of the batch has R at 1+2j, A at 2+2j.
	v.live = v.live[:0]
	for i, it := range items {
		ok[i] = false
		j := len(v.live)
		R, A := &v.points[1+2*j], &v.points[2+2*j]
		if !v.decode(it, R, A) {
			continue
		}
		v.live = append(v.live, i)
	}
	switch len(v.live) {
	case 0:
		return nil
	case 1:
		it := items[v.live[0]]
		ok[v.live[0]] = identity.Verify(ed25519.PublicKey(it.PublicKey), it.Message, it.Signature)
		return nil
	}
	valid, err := v.equation(items)
	if err != nil {
		return err
	}
	if valid {
		for _, i := range v.live {
			ok[i] = true
		}
		return nil
	}
	for _, i := range v.live {
		it := items[i]
		ok[i] = identity.Verify(ed25519.PublicKey(it.PublicKey), it.Message, it.Signature)
	}
	return nil
}

// grow sizes the scratch space for n items.
func (v *Verifier) grow(n int) {
	terms := 1 + 2*n
	if cap(v.points) < terms {
		v.points = make([]edwards25519.Point, terms)
		v.scalars = make([]edwards25519.Scalar, terms)
		v.pp = make([]*edwards25519.Point, terms)
		v.sp = make([]*edwards25519.Scalar, terms)
		for i := range v.points {
			v.pp[i], v.sp[i] = &v.points[i], &v.scalars[i]
		}
		v.points[0].Set(edwards25519.NewGeneratorPoint())
	}
	if cap(v.random) < 16*n {
		v.random = make([]byte, 16*n)
	}
	if cap(v.live) < n {
		v.live = make([]int, 0, n)
	}
	if v.h == nil {
		v.h = sha512.New()
	}
}

// decode applies the checks identity.Verify makes before any curve
// arithmetic and decodes R and A. It reports false for an item that
// identity.Verify rejects for its encoding alone.
func (v *Verifier) decode(it Item, R, A *edwards25519.Point) bool {
	if len(it.PublicKey) != identity.PublicKeySize || len(it.Signature) != identity.SignatureSize {
		return false
	}
	var s edwards25519.Scalar
	if _, err := s.SetCanonicalBytes(it.Signature[32:]); err != nil {
		return false
	}
	if !canonicalPoint(it.Signature[:32]) {
		return false
	}
	if _, err := R.SetBytes(it.Signature[:32]); err != nil {
		return false
	}
	if v.Keys != nil {
		return v.Keys.decode(A, it.PublicKey)
	}
	if _, err := A.SetBytes(it.PublicKey); err != nil {
		return false
	}
	return true
}

// equation evaluates the batch equation over the live items, whose R and
// A are already in place.
func (v *Verifier) equation(items []Item) (bool, error) {
	n := len(v.live)
	rnd := v.random[:16*n]
	r := v.Rand
	if r == nil {
		r = cryptorand.Reader
	}
	if _, err := io.ReadFull(r, rnd); err != nil {
		return false, fmt.Errorf("edbatch: random source failed: %w", err)
	}
	var zb [32]byte
	var z, k, s edwards25519.Scalar
	sumS := &v.scalars[0]
	*sumS = edwards25519.Scalar{}
	for j, i := range v.live {
		it := items[i]
		copy(zb[:16], rnd[16*j:16*j+16])
		if zb == ([32]byte{}) {
			zb[0] = 1 // a zero z_i would leave the item unchecked
		}
		if _, err := z.SetCanonicalBytes(zb[:]); err != nil {
			panic("edbatch: 128-bit scalar rejected: " + err.Error())
		}
		if _, err := s.SetCanonicalBytes(it.Signature[32:]); err != nil {
			panic("edbatch: S changed after decoding: " + err.Error())
		}
		v.h.Reset()
		v.h.Write(it.Signature[:32])
		v.h.Write(it.PublicKey)
		v.h.Write(it.Message)
		if _, err := k.SetUniformBytes(v.h.Sum(v.digest[:0])); err != nil {
			panic("edbatch: SHA-512 digest rejected: " + err.Error())
		}
		sumS.MultiplyAdd(&z, &s, sumS)
		v.scalars[1+2*j].Set(&z)
		v.scalars[2+2*j].Multiply(&z, &k)
	}
	sumS.Negate(sumS)
	terms := 1 + 2*n
	var p edwards25519.Point
	p.VarTimeMultiScalarMult(v.sp[:terms], v.pp[:terms])
	p.MultByCofactor(&p)
	return p.Equal(edwards25519.NewIdentityPoint()) == 1, nil
}

// canonicalPoint reports whether the 32 bytes are a canonical point
// encoding as far as the bytes alone tell: the y coordinate is below
// p = 2²⁵⁵ − 19, and the sign bit of x is clear when x = 0 (y = ±1).
// edwards25519.Point.SetBytes accepts both non-canonical forms, while
// crypto/ed25519 compares R with a canonical encoding byte for byte.
func canonicalPoint(b []byte) bool {
	y := [32]byte(b)
	sign := y[31] >> 7
	y[31] &= 0x7f
	// y ≥ p: y[31] = 0x7f, y[1..30] = 0xff, y[0] ≥ 0xed.
	high := y[31] == 0x7f
	for _, c := range y[1:31] {
		high = high && c == 0xff
	}
	if high && y[0] >= 0xed {
		return false
	}
	if sign == 1 {
		// x = 0 exactly when y = 1 or y = p − 1.
		one := y[0] == 1 && y[31] == 0
		for _, c := range y[1:31] {
			one = one && c == 0
		}
		minusOne := high && y[0] == 0xec
		if one || minusOne {
			return false
		}
	}
	return true
}
