package secure

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// HKDF info strings.
const (
	infoC2S      = "pilot-secure-v2 c2s"
	infoS2C      = "pilot-secure-v2 s2c"
	infoOriginal = "pilot-secure-v1"
)

// EphemeralPublic returns the X25519 public key of a raw 32-byte private
// key (clamped by X25519 as usual). The caller draws the private key from
// a random source, fresh per connection.
func EphemeralPublic(priv [KeyLen]byte) ([KeyLen]byte, error) {
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return [KeyLen]byte{}, fmt.Errorf("secure: X25519 private key: %w", err)
	}
	var pub [KeyLen]byte
	copy(pub[:], k.PublicKey().Bytes())
	return pub, nil
}

// SharedSecret returns X25519(priv, peer). An all-zero result (a
// low-order peer key) is an error: the handshake aborts (§6.2).
func SharedSecret(priv, peer [KeyLen]byte) ([KeyLen]byte, error) {
	curve := ecdh.X25519()
	k, err := curve.NewPrivateKey(priv[:])
	if err != nil {
		return [KeyLen]byte{}, fmt.Errorf("secure: X25519 private key: %w", err)
	}
	p, err := curve.NewPublicKey(peer[:])
	if err != nil {
		return [KeyLen]byte{}, fmt.Errorf("%w: X25519 peer key: %v", ErrAuth, err)
	}
	s, err := k.ECDH(p)
	if err != nil {
		return [KeyLen]byte{}, fmt.Errorf("%w: X25519: %v", ErrAuth, err)
	}
	var out [KeyLen]byte
	copy(out[:], s)
	return out, nil
}

// Keys is the output of the v2 key schedule (§6.2).
type Keys struct {
	TranscriptHash [sha256.Size]byte // th
	PRK            [sha256.Size]byte // HKDF-Extract(salt th, IKM shared)
	C2S            [KeyLen]byte      // k_c2s: client → server records
	S2C            [KeyLen]byte      // k_s2c: server → client records
}

// TranscriptHash returns th = SHA-256(ClientHello | ServerHello |
// ClientFinish).
func TranscriptHash(ch ClientHello, sh ServerHello, cf ClientFinish) [sha256.Size]byte {
	b := make([]byte, 0, ClientHelloLen+ServerHelloLen+ClientFinishLen)
	return sha256.Sum256(cf.AppendTo(sh.AppendTo(ch.AppendTo(b))))
}

// DeriveKeys runs the v2 key schedule on the X25519 shared secret and the
// three handshake messages.
func DeriveKeys(shared [KeyLen]byte, ch ClientHello, sh ServerHello, cf ClientFinish) (Keys, error) {
	k := Keys{TranscriptHash: TranscriptHash(ch, sh, cf)}
	prk, err := hkdf.Extract(sha256.New, shared[:], k.TranscriptHash[:])
	if err != nil {
		return Keys{}, fmt.Errorf("secure: HKDF-Extract: %w", err)
	}
	copy(k.PRK[:], prk)
	for _, e := range []struct {
		info string
		dst  *[KeyLen]byte
	}{{infoC2S, &k.C2S}, {infoS2C, &k.S2C}} {
		key, err := hkdf.Expand(sha256.New, prk, e.info, KeyLen)
		if err != nil {
			return Keys{}, fmt.Errorf("secure: HKDF-Expand %s: %w", e.info, err)
		}
		copy(e.dst[:], key)
	}
	return k, nil
}

// OriginalKey returns the single record key of the original mode (§6.4):
// HKDF-SHA-256(salt empty, IKM shared, info "pilot-secure-v1", 32 bytes).
func OriginalKey(shared [KeyLen]byte) ([KeyLen]byte, error) {
	key, err := hkdf.Key(sha256.New, shared[:], nil, infoOriginal, KeyLen)
	if err != nil {
		return [KeyLen]byte{}, fmt.Errorf("secure: HKDF %s: %w", infoOriginal, err)
	}
	var out [KeyLen]byte
	copy(out[:], key)
	return out, nil
}
