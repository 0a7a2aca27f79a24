package secure

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// AuthRandomLen is the size of the auth record's random bytes.
const AuthRandomLen = 16

// AuthRecordLen is the plaintext size of the original mode's auth record.
const AuthRecordLen = 4 + 8 + AuthRandomLen + ed25519.SignatureSize

// authContext prefixes the bytes the auth record's signature covers.
const authContext = "pilot-secure-auth:"

// AuthRecord is the plaintext of the original mode's optional
// authentication record (§6.4), sent inside one record after the key
// exchange:
//
//	node ID (u32) | Unix seconds (u64) | random (16) | Ed25519 signature (64)
//
// The signature covers "pilot-secure-auth:" | node ID (4) | the sender's
// own X25519 ephemeral key (32) | timestamp (8) | random (16).
type AuthRecord struct {
	NodeID    addr.NodeID
	Timestamp uint64 // Unix seconds
	Random    [AuthRandomLen]byte
	Sig       [ed25519.SignatureSize]byte
}

// AppendTo appends the 92-byte plaintext.
func (a AuthRecord) AppendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(a.NodeID))
	b = binary.BigEndian.AppendUint64(b, a.Timestamp)
	b = append(b, a.Random[:]...)
	return append(b, a.Sig[:]...)
}

// Marshal returns the 92-byte plaintext.
func (a AuthRecord) Marshal() []byte { return a.AppendTo(make([]byte, 0, AuthRecordLen)) }

// ParseAuthRecord decodes exactly AuthRecordLen bytes.
func ParseAuthRecord(b []byte) (AuthRecord, error) {
	if len(b) != AuthRecordLen {
		return AuthRecord{}, fmt.Errorf("%w: auth record of %d bytes (want %d)", ErrMalformed, len(b), AuthRecordLen)
	}
	a := AuthRecord{
		NodeID:    addr.NodeID(binary.BigEndian.Uint32(b)),
		Timestamp: binary.BigEndian.Uint64(b[4:]),
	}
	copy(a.Random[:], b[12:])
	copy(a.Sig[:], b[12+AuthRandomLen:])
	return a, nil
}

// AuthSigned returns the bytes the auth record's signature covers;
// ephemeral is the sender's own X25519 public key.
func AuthSigned(a AuthRecord, ephemeral [KeyLen]byte) []byte {
	b := make([]byte, 0, len(authContext)+4+KeyLen+8+AuthRandomLen)
	b = append(b, authContext...)
	b = binary.BigEndian.AppendUint32(b, uint32(a.NodeID))
	b = append(b, ephemeral[:]...)
	b = binary.BigEndian.AppendUint64(b, a.Timestamp)
	return append(b, a.Random[:]...)
}

// Sign sets a.Sig with the sender's identity key over AuthSigned(a,
// ephemeral), ephemeral being the sender's own X25519 public key.
func (a *AuthRecord) Sign(priv ed25519.PrivateKey, ephemeral [KeyLen]byte) error {
	if err := checkPriv(priv); err != nil {
		return err
	}
	copy(a.Sig[:], ed25519.Sign(priv, AuthSigned(*a, ephemeral)))
	return nil
}

// Verify checks a.Sig under pub, the registry key of a.NodeID; ephemeral
// is the peer's X25519 public key as received in the key exchange. The
// skew, replay and claimed-node checks are the caller's.
func (a AuthRecord) Verify(pub ed25519.PublicKey, ephemeral [KeyLen]byte) error {
	return verifySig(pub, AuthSigned(a, ephemeral), a.Sig[:], "auth record signature")
}
