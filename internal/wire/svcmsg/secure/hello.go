// Package secure holds the byte formats and cryptography of the secure
// channel (services.md §6), an end-to-end encrypted, mutually
// authenticated byte stream that the SDK runs over one Pilot stream.
//
// v2 handshake (§6.2), all integers big-endian:
//
//	ClientHello  (40)  "PSC2" | client X25519 ephemeral (32) | client node ID (u32)
//	ServerHello (104)  "PSC2" | server X25519 ephemeral (32) | server node ID (u32) | sig_s (64)
//	ClientFinish (64)  sig_c (64)
//
//	sig_s = Ed25519(server identity, "pilot-secure-v2 server" | ClientHello | ServerHello[:40])
//	sig_c = Ed25519(client identity, "pilot-secure-v2 client" | ClientHello | ServerHello)
//
// Key schedule: th = SHA-256(ClientHello | ServerHello | ClientFinish),
// prk = HKDF-Extract(salt th, IKM X25519 shared secret), and the direction
// keys k_c2s, k_s2c = HKDF-Expand(prk, "pilot-secure-v2 c2s"/"… s2c", 32).
//
// Records (§6.3), in both modes:
//
//	+--------------+--------------------------------+---------------+---------+
//	| length (u32) | nonce: prefix (4) | counter u64 | ciphertext    | tag (16)|
//	+--------------+--------------------------------+---------------+---------+
//	length = 12 + ciphertext + 16, in 28..16,777,216
//
// The prefix is 00000001 from server to client and 00000002 from client to
// server; the counter starts at 1 and the receiver requires exactly the next
// one. v2 authenticates the length field as AAD; the original mode (§6.4)
// uses one key from HKDF(salt empty, "pilot-secure-v1") and the sender's
// prefix as AAD, and may exchange a 92-byte auth record.
//
// The package is pure: it operates on byte slices and holds no sockets,
// clock or goroutines. Time stamps and random bytes are the caller's.
package secure

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// Magic opens ClientHello and ServerHello; a v2 listener recognises v2 by
// the first 4 bytes of the stream (§6.1).
const Magic = "PSC2"

// Sizes of the v2 handshake messages.
const (
	KeyLen          = 32
	ClientHelloLen  = 4 + KeyLen + 4
	ServerHelloLen  = ClientHelloLen + ed25519.SignatureSize
	ClientFinishLen = ed25519.SignatureSize
)

// Signature contexts.
const (
	serverContext = "pilot-secure-v2 server"
	clientContext = "pilot-secure-v2 client"
)

var (
	// ErrMalformed means a handshake message or auth record of the wrong
	// size or magic.
	ErrMalformed = errors.New("secure: malformed message")
	// ErrAuth means a signature or identity check failed.
	ErrAuth = errors.New("secure: authentication failed")
)

// ClientHello is the client's first message.
type ClientHello struct {
	Ephemeral [KeyLen]byte // X25519 public key
	NodeID    addr.NodeID
}

// AppendTo appends the 40-byte encoding.
func (h ClientHello) AppendTo(b []byte) []byte {
	b = append(b, Magic...)
	b = append(b, h.Ephemeral[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(h.NodeID))
}

// Marshal returns the 40-byte encoding.
func (h ClientHello) Marshal() []byte { return h.AppendTo(make([]byte, 0, ClientHelloLen)) }

// ParseClientHello decodes exactly ClientHelloLen bytes.
func ParseClientHello(b []byte) (ClientHello, error) {
	if len(b) != ClientHelloLen {
		return ClientHello{}, fmt.Errorf("%w: ClientHello of %d bytes (want %d)", ErrMalformed, len(b), ClientHelloLen)
	}
	if string(b[:4]) != Magic {
		return ClientHello{}, fmt.Errorf("%w: ClientHello magic %x", ErrMalformed, b[:4])
	}
	var h ClientHello
	copy(h.Ephemeral[:], b[4:])
	h.NodeID = addr.NodeID(binary.BigEndian.Uint32(b[4+KeyLen:]))
	return h, nil
}

// ServerHello is the server's answer.
type ServerHello struct {
	Ephemeral [KeyLen]byte // X25519 public key
	NodeID    addr.NodeID
	Sig       [ed25519.SignatureSize]byte // sig_s
}

// appendHead appends the first 40 bytes, which sig_s covers.
func (h ServerHello) appendHead(b []byte) []byte {
	return ClientHello{Ephemeral: h.Ephemeral, NodeID: h.NodeID}.AppendTo(b)
}

// AppendTo appends the 104-byte encoding.
func (h ServerHello) AppendTo(b []byte) []byte { return append(h.appendHead(b), h.Sig[:]...) }

// Marshal returns the 104-byte encoding.
func (h ServerHello) Marshal() []byte { return h.AppendTo(make([]byte, 0, ServerHelloLen)) }

// ParseServerHello decodes exactly ServerHelloLen bytes.
func ParseServerHello(b []byte) (ServerHello, error) {
	if len(b) != ServerHelloLen {
		return ServerHello{}, fmt.Errorf("%w: ServerHello of %d bytes (want %d)", ErrMalformed, len(b), ServerHelloLen)
	}
	head, err := ParseClientHello(b[:ClientHelloLen])
	if err != nil {
		return ServerHello{}, fmt.Errorf("%w: ServerHello magic %x", ErrMalformed, b[:4])
	}
	h := ServerHello{Ephemeral: head.Ephemeral, NodeID: head.NodeID}
	copy(h.Sig[:], b[ClientHelloLen:])
	return h, nil
}

// ClientFinish carries sig_c.
type ClientFinish struct {
	Sig [ed25519.SignatureSize]byte
}

// AppendTo appends the 64-byte encoding.
func (f ClientFinish) AppendTo(b []byte) []byte { return append(b, f.Sig[:]...) }

// Marshal returns the 64-byte encoding.
func (f ClientFinish) Marshal() []byte { return f.AppendTo(make([]byte, 0, ClientFinishLen)) }

// ParseClientFinish decodes exactly ClientFinishLen bytes.
func ParseClientFinish(b []byte) (ClientFinish, error) {
	if len(b) != ClientFinishLen {
		return ClientFinish{}, fmt.Errorf("%w: ClientFinish of %d bytes (want %d)", ErrMalformed, len(b), ClientFinishLen)
	}
	var f ClientFinish
	copy(f.Sig[:], b)
	return f, nil
}

// ServerTranscript returns the bytes sig_s covers: "pilot-secure-v2
// server" | ClientHello | the first 40 bytes of ServerHello (sh.Sig is not
// used).
func ServerTranscript(ch ClientHello, sh ServerHello) []byte {
	b := make([]byte, 0, len(serverContext)+2*ClientHelloLen)
	b = append(b, serverContext...)
	return sh.appendHead(ch.AppendTo(b))
}

// ClientTranscript returns the bytes sig_c covers: "pilot-secure-v2
// client" | ClientHello | ServerHello.
func ClientTranscript(ch ClientHello, sh ServerHello) []byte {
	b := make([]byte, 0, len(clientContext)+ClientHelloLen+ServerHelloLen)
	b = append(b, clientContext...)
	return sh.AppendTo(ch.AppendTo(b))
}

func checkPriv(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: identity private key of %d bytes", ErrAuth, len(priv))
	}
	return nil
}

func verifySig(pub ed25519.PublicKey, msg, sig []byte, what string) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %s: identity key of %d bytes", ErrAuth, what, len(pub))
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: %s does not verify", ErrAuth, what)
	}
	return nil
}

// SignServer sets sh.Sig to sig_s, made with the server's identity key.
func SignServer(priv ed25519.PrivateKey, ch ClientHello, sh *ServerHello) error {
	if err := checkPriv(priv); err != nil {
		return err
	}
	copy(sh.Sig[:], ed25519.Sign(priv, ServerTranscript(ch, *sh)))
	return nil
}

// VerifyServer checks, on the client, that the server is the node dialed
// and that sig_s verifies under pub, that node's registry key.
func VerifyServer(pub ed25519.PublicKey, dialed addr.NodeID, ch ClientHello, sh ServerHello) error {
	if sh.NodeID != dialed {
		return fmt.Errorf("%w: server claims node %d, dialed %d", ErrAuth, sh.NodeID, dialed)
	}
	return verifySig(pub, ServerTranscript(ch, sh), sh.Sig[:], "sig_s")
}

// SignClient returns the ClientFinish carrying sig_c.
func SignClient(priv ed25519.PrivateKey, ch ClientHello, sh ServerHello) (ClientFinish, error) {
	if err := checkPriv(priv); err != nil {
		return ClientFinish{}, err
	}
	var f ClientFinish
	copy(f.Sig[:], ed25519.Sign(priv, ClientTranscript(ch, sh)))
	return f, nil
}

// VerifyClient checks, on the server, that the client node ID is the
// stream's remote node and that sig_c verifies under pub, that node's
// registry key.
func VerifyClient(pub ed25519.PublicKey, remote addr.NodeID, ch ClientHello, sh ServerHello, cf ClientFinish) error {
	if ch.NodeID != remote {
		return fmt.Errorf("%w: client claims node %d, stream is from %d", ErrAuth, ch.NodeID, remote)
	}
	return verifySig(pub, ClientTranscript(ch, sh), cf.Sig[:], "sig_c")
}
