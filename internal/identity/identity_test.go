package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestFromSeedLength(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := FromSeed(make([]byte, n)); !errors.Is(err, ErrKeyLength) {
			t.Fatalf("FromSeed(%d bytes) = %v, want ErrKeyLength", n, err)
		}
	}
}

func TestGenerateUsesReader(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, SeedSize)
	a, err := Generate(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := FromSeed(seed)
	if !bytes.Equal(a.PrivateKey(), b.PrivateKey()) {
		t.Fatal("Generate did not use the seed from the reader")
	}
	if _, err := Generate(bytes.NewReader(seed[:10])); err == nil {
		t.Fatal("Generate accepted a short random source")
	}
	x, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := Generate(nil)
	if bytes.Equal(x.PublicKey(), y.PublicKey()) {
		t.Fatal("two generated identities are equal")
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	id, _ := FromSeed(bytes.Repeat([]byte{1}, SeedSize))
	want := id.PublicKeyBase64()
	id.PublicKey()[0] ^= 0xFF
	id.PrivateKey()[40] ^= 0xFF
	if id.PublicKeyBase64() != want {
		t.Fatal("mutating a returned key changed the identity")
	}
	if len(id.PrivateKey()) != PrivateKeySize || len(id.Sign(nil)) != SignatureSize {
		t.Fatal("wrong sizes")
	}
	if got := base64.StdEncoding.EncodeToString(id.Sign([]byte("x"))); got != id.SignBase64([]byte("x")) {
		t.Fatal("SignBase64 disagrees with Sign")
	}
}

// TestVerifyStrict: wrong lengths fail without panicking and a signature
// whose S is replaced by S + L (accepted by lax verifiers) fails
// (registry.md §5.2 step 4).
func TestVerifyStrict(t *testing.T) {
	id, _ := FromSeed(bytes.Repeat([]byte{2}, SeedSize))
	msg := []byte("pilot-reg-v2\nheartbeat\n685")
	sig := id.Sign(msg)
	pub := id.PublicKey()
	if !Verify(pub, msg, sig) {
		t.Fatal("valid signature rejected")
	}
	for _, tc := range []struct {
		name     string
		pub, sig []byte
	}{
		{"short key", pub[:31], sig},
		{"long key", append(bytes.Clone(pub), 0), sig},
		{"nil key", nil, sig},
		{"short signature", pub, sig[:63]},
		{"long signature", pub, append(bytes.Clone(sig), 0)},
		{"nil signature", pub, nil},
		{"non-canonical S", pub, withSPlusL(sig)},
	} {
		if Verify(tc.pub, msg, tc.sig) {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func withSPlusL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte { // little <-> big endian
		r := bytes.Clone(b)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return r
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, l)
	out := bytes.Clone(sig)
	copy(out[32:], le(s.FillBytes(make([]byte, 32))))
	return out
}

func TestNonce(t *testing.T) {
	n := NewNonce(bytes.NewReader(bytes.Repeat([]byte{0xAB}, 16)))
	if n != base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xAB}, 16)) || len(n) != 24 {
		t.Fatalf("nonce %q", n)
	}
	a, b := NewNonce(nil), NewNonce(nil)
	if a == b {
		t.Fatal("two random nonces are equal")
	}
	raw, err := ParseNonce(a)
	if err != nil || len(raw) != NonceSize {
		t.Fatalf("ParseNonce(%q) = %x, %v", a, raw, err)
	}
	if _, err := ParseNonce(strings.Repeat("A", 22) + "=="); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseNonce(base64.StdEncoding.EncodeToString(make([]byte, 15))); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("15-byte nonce: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("NewNonce did not panic on a failing random source")
		}
	}()
	NewNonce(bytes.NewReader(nil))
}

func TestParseSignature(t *testing.T) {
	id, _ := FromSeed(bytes.Repeat([]byte{3}, SeedSize))
	s := id.SignBase64([]byte("m"))
	raw, err := ParseSignature(s)
	if err != nil || !ed25519.Verify(id.PublicKey(), []byte("m"), raw) {
		t.Fatalf("ParseSignature: %v", err)
	}
	if _, err := ParseSignature(s[:86]); err == nil {
		t.Fatal("truncated signature accepted")
	}
}
