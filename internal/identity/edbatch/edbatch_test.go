package edbatch

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"filippo.io/edwards25519"

	"github.com/pilot-go/pilot/internal/identity"
)

// signer is a deterministic test key.
type signer struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newSigner(i int) signer {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = byte(i), byte(i>>8)
	seed[31] = 0x5a
	priv := ed25519.NewKeyFromSeed(seed)
	return signer{pub: priv.Public().(ed25519.PublicKey), priv: priv}
}

// goodItems returns n valid items by n distinct keys, in a new slice
// (the byte slices are shared: corruptions copy before changing them).
func goodItems(n int) []Item {
	goodMu.Lock()
	defer goodMu.Unlock()
	for i := len(goodCache); i < n; i++ {
		s := newSigner(i)
		msg := fmt.Appendf(nil, "auth v2 canonical string %d", i)
		goodCache = append(goodCache, Item{PublicKey: s.pub, Message: msg, Signature: ed25519.Sign(s.priv, msg)})
	}
	return append([]Item(nil), goodCache[:n]...)
}

var (
	goodMu    sync.Mutex
	goodCache []Item

	cachedVerifier = &Verifier{Keys: NewKeyCache(5)}
)

// want is identity.Verify's verdict for every item.
func want(items []Item) []bool {
	out := make([]bool, len(items))
	for i, it := range items {
		out[i] = identity.Verify(it.PublicKey, it.Message, it.Signature)
	}
	return out
}

// check runs a fresh Verifier and a reused one over items and compares
// their verdicts with identity.Verify's.
func check(t *testing.T, v *Verifier, items []Item) {
	t.Helper()
	w := want(items)
	// The caller's Verifier and one whose small key cache lives across
	// tests (hits, misses and generation turns).
	for _, ver := range []*Verifier{v, cachedVerifier} {
		got := make([]bool, len(items))
		for i := range got {
			got[i] = !w[i] // stale values must be overwritten
		}
		if err := ver.Verify(items, got); err != nil {
			t.Fatal(err)
		}
		for i := range items {
			if got[i] != w[i] {
				t.Fatalf("item %d of %d: edbatch says %v, identity.Verify says %v", i, len(items), got[i], w[i])
			}
		}
	}
}

func TestVerify_AllGood(t *testing.T) {
	var v Verifier
	for _, n := range []int{0, 1, 2, 3, 8, 63, 64, 65, 130} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			items := goodItems(n)
			check(t, &v, items)
			for i, ok := range want(items) {
				if !ok {
					t.Fatalf("test setup: item %d is not valid", i)
				}
			}
		})
	}
}

// corruptions turn a valid item into an invalid one.
var corruptions = map[string]func(it Item) Item{
	"message bit": func(it Item) Item {
		it.Message = bytes.Clone(it.Message)
		it.Message[0] ^= 1
		return it
	},
	"empty message": func(it Item) Item { it.Message = nil; return it },
	"R bit": func(it Item) Item {
		it.Signature = bytes.Clone(it.Signature)
		it.Signature[3] ^= 0x10
		return it
	},
	"S bit": func(it Item) Item {
		it.Signature = bytes.Clone(it.Signature)
		it.Signature[40] ^= 1
		return it
	},
	"S plus L": func(it Item) Item {
		it.Signature = bytes.Clone(it.Signature)
		addL(it.Signature[32:])
		return it
	},
	"other key": func(it Item) Item { it.PublicKey = newSigner(999).pub; return it },
	"short key": func(it Item) Item { it.PublicKey = it.PublicKey[:31]; return it },
	"long key":  func(it Item) Item { it.PublicKey = append(bytes.Clone(it.PublicKey), 0); return it },
	"nil key":   func(it Item) Item { it.PublicKey = nil; return it },
	"short sig": func(it Item) Item { it.Signature = it.Signature[:63]; return it },
	"long sig":  func(it Item) Item { it.Signature = append(bytes.Clone(it.Signature), 0); return it },
	"nil sig":   func(it Item) Item { it.Signature = nil; return it },
	"undecodable key": func(it Item) Item {
		it.PublicKey = unhex("0200000000000000000000000000000000000000000000000000000000000000")
		return it
	},
	"undecodable R": func(it Item) Item {
		it.Signature = bytes.Clone(it.Signature)
		copy(it.Signature, unhex("0200000000000000000000000000000000000000000000000000000000000000"))
		return it
	},
	"zero signature": func(it Item) Item { it.Signature = make([]byte, 64); return it },
}

func TestVerify_OneBadInEveryPosition(t *testing.T) {
	var v Verifier
	for name, corrupt := range corruptions {
		for _, n := range []int{2, 7, 64} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				for pos := range n {
					if n == 64 && pos != 0 && pos != 40 && pos != 63 { // smaller batches cover every position
						continue
					}
					items := goodItems(n)
					items[pos] = corrupt(items[pos])
					if want(items)[pos] {
						t.Fatalf("corruption %q left item valid", name)
					}
					check(t, &v, items)
				}
			})
		}
	}
}

func TestVerify_ManyBad(t *testing.T) {
	var v Verifier
	r := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 0, len(corruptions))
	for name := range corruptions {
		names = append(names, name)
	}
	for round := range 30 {
		items := goodItems(1 + r.IntN(80))
		for i := range items {
			if r.IntN(4) == 0 {
				items[i] = corruptions[names[r.IntN(len(names))]](items[i])
			}
		}
		if round%5 == 0 { // all bad
			items = goodItems(len(items))
			for i := range items {
				items[i] = corruptions["S bit"](items[i])
			}
		}
		check(t, &v, items)
	}
}

func TestVerify_Duplicates(t *testing.T) {
	var v Verifier
	good := goodItems(3)
	items := []Item{good[0], good[0], good[1], good[0], good[2], good[2]}
	check(t, &v, items)
	bad := corruptions["message bit"](good[1])
	check(t, &v, []Item{bad, bad, good[1], bad})
}

// TestVerify_NonCanonicalR covers the R encodings that
// edwards25519.Point.SetBytes accepts but crypto/ed25519 rejects.
func TestVerify_NonCanonicalR(t *testing.T) {
	var v Verifier
	for _, enc := range []string{
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = 2^255 - 1, sign set
		"0100000000000000000000000000000000000000000000000000000000000080", // y = 1, x = -0
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = -1, x = -0
	} {
		t.Run(enc[:8], func(t *testing.T) {
			b := unhex(enc)
			if canonicalPoint(b) {
				t.Fatal("canonicalPoint accepts it")
			}
			items := goodItems(4)
			items[2].Signature = bytes.Clone(items[2].Signature)
			copy(items[2].Signature, b)
			check(t, &v, items)
		})
	}
}

// TestCanonicalPoint compares the byte check with a decode and re-encode.
func TestCanonicalPoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	encs := [][]byte{unhex("0100000000000000000000000000000000000000000000000000000000000000"),
		unhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")}
	for range 2000 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 { // near p
			for i := 1; i < 31; i++ {
				b[i] = 0xff
			}
			b[31] |= 0x7f
			b[0] = 0xe0 + byte(r.IntN(32))
		}
		encs = append(encs, b)
	}
	for _, b := range encs {
		var p edwards25519.Point
		if _, err := p.SetBytes(b); err != nil {
			continue
		}
		if got, want := canonicalPoint(b), bytes.Equal(p.Bytes(), b); got != want {
			t.Fatalf("canonicalPoint(%x) = %v, re-encoding says %v", b, got, want)
		}
	}
}

func TestVerify_ShortVerdictSlice(t *testing.T) {
	var v Verifier
	if err := v.Verify(goodItems(3), make([]bool, 2)); err == nil {
		t.Fatal("no error for a short verdict slice")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy gone") }

func TestVerify_RandomSourceFails(t *testing.T) {
	v := Verifier{Rand: failingReader{}}
	err := v.Verify(goodItems(3), make([]bool, 3))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("entropy gone")) {
		t.Fatalf("error %v", err)
	}
	// A single item needs no randomness.
	ok := make([]bool, 1)
	if err := v.Verify(goodItems(1), ok); err != nil || !ok[0] {
		t.Fatalf("single item: %v %v", ok, err)
	}
}

// TestVerify_CofactorDifference shows the documented difference: a key
// with a small-order component, signed by its owner, fails the
// cofactorless single check (unless 8 divides k) but passes in a batch.
func TestVerify_CofactorDifference(t *testing.T) {
	torsion := order8Point(t)
	var seed [64]byte
	seed[0] = 7
	a, _ := new(edwards25519.Scalar).SetUniformBytes(seed[:])
	A := new(edwards25519.Point).ScalarBaseMult(a)
	A.Add(A, torsion)
	pub := A.Bytes()
	sawDifference := false
	var v Verifier
	for i := range 16 {
		msg := fmt.Appendf(nil, "message %d", i)
		seed[1] = byte(i + 1)
		r, _ := new(edwards25519.Scalar).SetUniformBytes(seed[:])
		R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
		h := sha512.Sum512(append(append(append([]byte{}, R...), pub...), msg...))
		k, _ := new(edwards25519.Scalar).SetUniformBytes(h[:])
		S := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
		sig := append(R, S.Bytes()...)
		single := identity.Verify(pub, msg, sig)
		items := append(goodItems(3), Item{PublicKey: pub, Message: msg, Signature: sig})
		ok := make([]bool, len(items))
		if err := v.Verify(items, ok); err != nil {
			t.Fatal(err)
		}
		if !ok[0] || !ok[1] || !ok[2] || !ok[3] {
			t.Fatalf("batch verdicts %v: the cofactored equation holds for all", ok)
		}
		if !single {
			sawDifference = true
		}
		// Alone, the item gets identity.Verify's verdict.
		if err := v.Verify(items[3:], ok[:1]); err != nil || ok[0] != single {
			t.Fatalf("alone: %v, identity.Verify %v (%v)", ok[0], single, err)
		}
	}
	if !sawDifference {
		t.Fatal("no signature of 16 failed the single check; the test did not exercise the difference")
	}
}

// order8Point returns a point of order exactly 8.
func order8Point(t *testing.T) *edwards25519.Point {
	t.Helper()
	p, err := new(edwards25519.Point).SetBytes(unhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
	if err != nil {
		t.Fatal(err)
	}
	id := edwards25519.NewIdentityPoint()
	q := new(edwards25519.Point).Set(p)
	for range 2 {
		q.Add(q, q)
	}
	if q.Equal(id) == 1 || new(edwards25519.Point).MultByCofactor(p).Equal(id) != 1 {
		t.Fatal("test point is not of order 8")
	}
	return p
}

// addL adds the group order L to a 32-byte little-endian scalar.
func addL(s []byte) {
	l := unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	carry := 0
	for i := range 32 {
		v := int(s[i]) + int(l[i]) + carry
		s[i], carry = byte(v), v>>8
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestKeyCache(t *testing.T) {
	c := NewKeyCache(2)
	v := Verifier{Keys: c}
	items := goodItems(6)
	items[4].PublicKey = corruptions["undecodable key"](items[4]).PublicKey
	for range 3 {
		check(t, &v, items)
		check(t, &v, items[:3])
	}
	hits, misses := c.Stats()
	if hits == 0 || misses == 0 {
		t.Fatalf("hits %d, misses %d: the cache was not exercised", hits, misses)
	}
	if len(c.cur) > 2 || len(c.old) > 2 {
		t.Fatalf("cache holds %d + %d keys, bound is 2 + 2", len(c.cur), len(c.old))
	}
	for k := range c.cur {
		if bytes.Equal(k[:], items[4].PublicKey) {
			t.Fatal("an undecodable key was cached")
		}
	}
}
