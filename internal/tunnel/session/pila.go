package session

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// ErrSignature: a PILA whose signature does not verify under the Ed25519 key
// it carries (§6.3 step 5).
var ErrSignature = errors.New("PILA signature invalid")

// SignPILA builds our PILA (§5.4, §6.2): node ID, the X25519 public key of
// local[P], our identity public key and the Ed25519 signature over
// "auth" ‖ node ID ‖ X25519 key.
func SignPILA(identity ed25519.PrivateKey, node addr.NodeID, x25519Public [32]byte) (frame.PILA, error) {
	if len(identity) != ed25519.PrivateKeySize {
		return frame.PILA{}, fmt.Errorf("%w: identity key of %d bytes, want %d", ErrKey, len(identity), ed25519.PrivateKeySize)
	}
	f := frame.PILA{Sender: node, X25519: x25519Public}
	copy(f.Ed25519[:], identity[32:]) // crypto/ed25519 keeps seed ‖ public key
	msg := f.SignedMessage()
	copy(f.Sig[:], ed25519.Sign(identity, msg[:]))
	return f, nil
}

// VerifyPILA checks the signature of a received PILA against the Ed25519 key
// carried in the frame (RFC 8032 verification by crypto/ed25519). It does not
// compare that key with the registry's.
func VerifyPILA(f *frame.PILA) error {
	msg := f.SignedMessage()
	if !ed25519.Verify(f.Ed25519[:], msg[:], f.Sig[:]) {
		return fmt.Errorf("%w: sender %d", ErrSignature, f.Sender)
	}
	return nil
}
