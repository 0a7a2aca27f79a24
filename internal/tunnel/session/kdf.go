package session

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// KeySize is the size of the tunnel key (AES-256).
const KeySize = 32

// Info is the HKDF info string of §5.2 (no colon).
const Info = "pilot-tunnel-v1"

// Errors of key derivation.
var (
	// ErrLowOrder: the peer's X25519 key is all-zero or yields an all-zero
	// shared secret; the key exchange frame must be dropped (§5.2).
	ErrLowOrder = errors.New("low-order X25519 key")
	// ErrKey: a key of the wrong type or size.
	ErrKey = errors.New("invalid key")
)

// DeriveKey computes the tunnel key from our local X25519 private key and the
// peer's X25519 public key (§5.2): HKDF-SHA-256 with an absent salt, info
// "pilot-tunnel-v1" and 32 bytes of output. The shared secret and PRK are
// zeroed before returning.
func DeriveKey(priv *ecdh.PrivateKey, peerPublic [32]byte) ([KeySize]byte, error) {
	var key [KeySize]byte
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return key, fmt.Errorf("%w: local private key is not an X25519 key", ErrKey)
	}
	var zero [32]byte
	if peerPublic == zero {
		return key, fmt.Errorf("%w: peer public key is all zero", ErrLowOrder)
	}
	pub, err := ecdh.X25519().NewPublicKey(peerPublic[:])
	if err != nil {
		return key, fmt.Errorf("%w: peer public key: %v", ErrKey, err)
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		// crypto/ecdh refuses an all-zero X25519 output.
		return key, fmt.Errorf("%w: %v", ErrLowOrder, err)
	}
	defer clear(shared)
	if subtle.ConstantTimeCompare(shared, zero[:]) == 1 {
		return key, fmt.Errorf("%w: shared secret is all zero", ErrLowOrder)
	}
	hkdf(&key, shared)
	return key, nil
}

// hkdf is HKDF-SHA-256 (RFC 5869) with an absent salt and L = 32, written
// out so the PRK can be zeroed.
func hkdf(out *[KeySize]byte, ikm []byte) {
	var salt [sha256.Size]byte
	var prk [sha256.Size]byte
	defer clear(prk[:])
	m := hmac.New(sha256.New, salt[:])
	m.Write(ikm)
	m.Sum(prk[:0])
	m = hmac.New(sha256.New, prk[:])
	m.Write([]byte(Info))
	m.Write([]byte{0x01})
	m.Sum(out[:0])
}
