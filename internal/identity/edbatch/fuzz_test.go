package edbatch

import (
	"bytes"
	"crypto/sha512"
	"testing"

	"filippo.io/edwards25519"

	"github.com/pilot-go/pilot/internal/identity"
)

// FuzzVerify builds a batch of up to 6 items from valid signatures, their
// mutations and raw fuzz bytes, and checks each verdict against
// identity.Verify. The only disagreement allowed is the documented one: an
// item edbatch accepts and identity.Verify rejects must satisfy the
// cofactored equation on its own.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 5, 0, 9, 0, 0, 1, 1, 1})
	// A small-order key (y = 0, order 4), R = identity, S = 0: passes the
	// cofactored check always and the single check when 4 divides k.
	raw := append(make([]byte, 32), 1)
	raw = append(raw, make([]byte, 63)...)
	f.Add(append([]byte{3}, append(raw, "m"...)...))
	f.Add(append([]byte{0, 3}, append(raw, "message"...)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		items := goodItems(6)
		n := 0
		for n < len(items) && len(data) > 0 {
			c := data[0]
			data = data[1:]
			it := &items[n]
			n++
			switch c % 4 {
			case 1: // XOR the following bytes into key ‖ signature
				kb := append(bytes.Clone(it.PublicKey), it.Signature...)
				m := min(len(data), 96, 1+int(c>>2))
				for i := range m {
					kb[(int(c)+i)%96] ^= data[i]
				}
				data = data[m:]
				it.PublicKey, it.Signature = kb[:32], kb[32:]
			case 2: // truncate or extend the message
				it.Message = append(bytes.Clone(it.Message[:int(c>>2)%len(it.Message)]), data[:min(len(data), 3)]...)
			case 3: // raw: key, signature, message from the data
				k := min(len(data), 32)
				it.PublicKey, data = data[:k], data[k:]
				s := min(len(data), 64)
				it.Signature, data = data[:s], data[s:]
				m := min(len(data), int(c>>2))
				it.Message, data = data[:m], data[m:]
			}
		}
		items = items[:n]
		got := make([]bool, len(items))
		v := Verifier{Keys: NewKeyCache(4)}
		if err := v.Verify(items, got); err != nil {
			t.Fatal(err)
		}
		again := make([]bool, len(items)) // with the keys cached
		if err := v.Verify(items, again); err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if again[i] != got[i] {
				t.Fatalf("item %d: verdict %v, then %v with cached keys", i, got[i], again[i])
			}
			single := identity.Verify(it.PublicKey, it.Message, it.Signature)
			switch {
			case got[i] == single:
			case single:
				t.Fatalf("item %d: identity.Verify accepts, edbatch rejects (%x %x %q)", i, it.PublicKey, it.Signature, it.Message)
			case !cofactoredValid(it):
				t.Fatalf("item %d: edbatch accepts an item that fails even the cofactored check (%x %x %q)", i, it.PublicKey, it.Signature, it.Message)
			}
		}
	})
}

// cofactoredValid checks [8]([S]B − R − [k]A) = identity for one item, with
// the encoding rules of identity.Verify.
func cofactoredValid(it Item) bool {
	if len(it.PublicKey) != 32 || len(it.Signature) != 64 || !canonicalPoint(it.Signature[:32]) {
		return false
	}
	A, errA := new(edwards25519.Point).SetBytes(it.PublicKey)
	R, errR := new(edwards25519.Point).SetBytes(it.Signature[:32])
	S, errS := new(edwards25519.Scalar).SetCanonicalBytes(it.Signature[32:])
	if errA != nil || errR != nil || errS != nil {
		return false
	}
	h := sha512.New()
	h.Write(it.Signature[:32])
	h.Write(it.PublicKey)
	h.Write(it.Message)
	k, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	p := new(edwards25519.Point).ScalarBaseMult(S)
	p.Subtract(p, R)
	p.Subtract(p, new(edwards25519.Point).ScalarMult(k, A))
	return p.MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1
}
