package handshake

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/pilot-go/pilot/addr"
)

// NonceLen is the number of random bytes in a nonce.
const NonceLen = 16

// ErrSignature means a signature is missing, malformed or does not verify.
var ErrSignature = errors.New("handshake: bad signature")

// V1String returns the bytes the v1 signature covers:
// "handshake:<sender>:<receiver>". It binds neither type nor time.
func V1String(sender, receiver addr.NodeID) []byte {
	b := append([]byte("handshake:"), strconv.FormatUint(uint64(sender), 10)...)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(receiver), 10)
}

// V2String returns the bytes the v2 signature covers (§5.2): the lines
// pilot-hs-v2, type, sender (m.NodeID), receiver, timestamp, nonce, hex
// SHA-256 of the justification (empty when it is empty) and of the reason
// (likewise), joined by LF without a trailing LF.
func V2String(m *Message, receiver addr.NodeID) []byte {
	b := append([]byte("pilot-hs-v2\n"), m.Type...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, uint64(m.NodeID), 10)
	b = append(b, '\n')
	b = strconv.AppendUint(b, uint64(receiver), 10)
	b = append(b, '\n')
	b = strconv.AppendInt(b, m.Timestamp, 10)
	b = append(b, '\n')
	b = append(b, m.Nonce...)
	b = append(b, '\n')
	b = appendTextHash(b, m.Justification)
	b = append(b, '\n')
	return appendTextHash(b, m.Reason)
}

func appendTextHash(b []byte, s string) []byte {
	if s == "" {
		return b
	}
	sum := sha256.Sum256([]byte(s))
	return hex.AppendEncode(b, sum[:])
}

// EncodeNonce returns the nonce text for 16 random bytes.
func EncodeNonce(random [NonceLen]byte) string {
	return base64.StdEncoding.EncodeToString(random[:])
}

// EncodePublicKey returns the public_key text of an Ed25519 key.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodePublicKey parses a public_key text. Any input, empty or malformed,
// yields an error rather than a key of the wrong length.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public_key is not a base64 Ed25519 key", ErrInvalid)
	}
	return ed25519.PublicKey(b), nil
}

func sign(priv ed25519.PrivateKey, msg []byte) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("%w: private key of %d bytes", ErrSignature, len(priv))
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg)), nil
}

func verify(pub ed25519.PublicKey, msg []byte, sig, name string) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %s: public key of %d bytes", ErrSignature, name, len(pub))
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is not a base64 Ed25519 signature", ErrSignature, name)
	}
	if !ed25519.Verify(pub, msg, raw) {
		return fmt.Errorf("%w: %s does not verify", ErrSignature, name)
	}
	return nil
}

// SignV1 sets m.Signature to the v1 signature for the receiver.
func (m *Message) SignV1(priv ed25519.PrivateKey, receiver addr.NodeID) error {
	s, err := sign(priv, V1String(m.NodeID, receiver))
	if err == nil {
		m.Signature = s
	}
	return err
}

// SignV2 sets m.SigV2 to the v2 signature for the receiver. Every other
// field, the nonce included, must be final.
func (m *Message) SignV2(priv ed25519.PrivateKey, receiver addr.NodeID) error {
	s, err := sign(priv, V2String(m, receiver))
	if err == nil {
		m.SigV2 = s
	}
	return err
}

// VerifyV1 checks m.Signature under pub (the registry key of m.NodeID).
// It never panics, whatever the key or signature.
func (m *Message) VerifyV1(pub ed25519.PublicKey, receiver addr.NodeID) error {
	return verify(pub, V1String(m.NodeID, receiver), m.Signature, "signature")
}

// VerifyV2 checks m.SigV2 under pub (the registry key of m.NodeID).
func (m *Message) VerifyV2(pub ed25519.PublicKey, receiver addr.NodeID) error {
	return verify(pub, V2String(m, receiver), m.SigV2, "sig_v2")
}
