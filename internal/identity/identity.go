package identity

import (
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sizes of the encoded values handled by this package.
const (
	SeedSize       = ed25519.SeedSize       // 32-byte private seed
	PublicKeySize  = ed25519.PublicKeySize  // 32-byte public key
	PrivateKeySize = ed25519.PrivateKeySize // 64 bytes: seed ‖ public key
	SignatureSize  = ed25519.SignatureSize  // 64-byte signature
	NonceSize      = 16                     // auth v2 nonce (registry.md §5)
)

var (
	// ErrKeyLength reports a key, seed or signature of the wrong size.
	ErrKeyLength = errors.New("wrong key length")
	// ErrBase64 reports text that is not canonical padded standard base64.
	ErrBase64 = errors.New("invalid base64")
)

// Identity is a node's Ed25519 key pair. It is immutable and safe for
// concurrent use.
type Identity struct {
	priv ed25519.PrivateKey // seed ‖ public key; never exposed without copying
}

// Generate creates a new identity from rand (nil means crypto/rand).
func Generate(rand io.Reader) (*Identity, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	seed := make([]byte, SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("generate identity: read random seed: %w", err)
	}
	return FromSeed(seed)
}

// FromSeed derives the identity of a 32-byte RFC 8032 seed.
func FromSeed(seed []byte) (*Identity, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("identity seed is %d bytes, want %d: %w", len(seed), SeedSize, ErrKeyLength)
	}
	return &Identity{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey returns a copy of the 32-byte public key.
func (id *Identity) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), id.priv[SeedSize:]...)
}

// PublicKeyBase64 returns the public key as padded standard base64, the
// form used by the registry's public_key fields.
func (id *Identity) PublicKeyBase64() string {
	return base64.StdEncoding.EncodeToString(id.priv[SeedSize:])
}

// PrivateKey returns a copy of the 64-byte private key (seed ‖ public key).
func (id *Identity) PrivateKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), id.priv...)
}

// Sign returns the 64-byte pure Ed25519 signature of msg.
func (id *Identity) Sign(msg []byte) []byte {
	return ed25519.Sign(id.priv, msg)
}

// SignBase64 returns Sign(msg) as padded standard base64.
func (id *Identity) SignBase64(msg []byte) string {
	return base64.StdEncoding.EncodeToString(id.Sign(msg))
}

// Verify reports whether sig is a valid signature of msg by pub. It is strict
// (RFC 8032 via crypto/ed25519): a key that is not 32 bytes, a signature
// that is not 64 bytes, or a non-canonical S fails.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != PublicKeySize || len(sig) != SignatureSize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

// ParsePublicKey decodes a public key written as padded standard base64 of
// exactly 32 bytes (44 characters).
func ParsePublicKey(b64 string) (ed25519.PublicKey, error) {
	b, err := decodeFixed("public key", b64, PublicKeySize)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}

// ParseSignature decodes a signature written as padded standard base64 of
// exactly 64 bytes (88 characters).
func ParseSignature(b64 string) ([]byte, error) {
	return decodeFixed("signature", b64, SignatureSize)
}

// ParseNonce decodes an auth v2 nonce: padded standard base64 of exactly 16
// bytes (24 characters).
func ParseNonce(b64 string) ([]byte, error) {
	return decodeFixed("nonce", b64, NonceSize)
}

// NewNonce returns a fresh auth v2 nonce: 16 bytes from rand (nil means
// crypto/rand) as padded standard base64. A failing random source cannot be
// recovered from, so NewNonce panics then, like crypto/rand does.
func NewNonce(rand io.Reader) string {
	if rand == nil {
		rand = cryptorand.Reader
	}
	var b [NonceSize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		panic(fmt.Sprintf("identity: random source failed while making a nonce: %v", err))
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// decodeFixed decodes padded standard base64 that must encode exactly n
// bytes. It accepts only the canonical encoding: no line breaks, no missing
// padding, no non-zero trailing bits.
func decodeFixed(what, s string, n int) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%s: %w: line breaks inside", what, ErrBase64)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want padded standard base64 of %d bytes): %v", what, ErrBase64, n, err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("%s is %d bytes, want %d: %w", what, len(b), n, ErrKeyLength)
	}
	return b, nil
}
