package secure

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/pilot"
)

// Port is the conventional port of the secure channel.
const Port addr.Port = 443

// CapabilityV2 is the registry capability of nodes that implement the v2
// handshake.
const CapabilityV2 = "secure-v2"

// DefaultHandshakeTimeout bounds the whole handshake (§6.2).
const DefaultHandshakeTimeout = 10 * time.Second

// Mode is the protocol a Conn runs.
type Mode uint8

const (
	// ModeV2 is the v2 handshake with mutual Ed25519 authentication.
	ModeV2 Mode = iota + 1
	// ModeOriginal is the original implementation's mode (compatibility
	// only): one key for both directions, authenticated only when
	// Config.OriginalAuth is set.
	ModeOriginal
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModeV2:
		return "v2"
	case ModeOriginal:
		return "original"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

var (
	// ErrAuthentication means the peer failed authentication: a signature
	// that does not verify under its registry key, or a node ID other
	// than the one dialed or the stream's remote node.
	ErrAuthentication = errors.New("secure: peer authentication failed")
	// ErrHandshake means a malformed or failed handshake for any other
	// reason (bad message, key exchange failure, deadline).
	ErrHandshake = errors.New("secure: handshake failed")
	// ErrModeNotAllowed means the peer would need the original mode and
	// the configuration does not allow it, or allows it but the peer's
	// capabilities include secure-v2 (no downgrade).
	ErrModeNotAllowed = errors.New("secure: mode not allowed")
	// ErrBadRecord means a received record was rejected (tampered,
	// repeated, skipped, oversized); the channel is closed.
	ErrBadRecord = errors.New("secure: bad record")
	// ErrKeyLookup means the KeyStore could not provide the peer's key.
	ErrKeyLookup = errors.New("secure: peer key lookup failed")
)

// Signer signs with the node's Ed25519 identity key. The node's
// *identity.Identity satisfies it; Ed25519Signer adapts a bare private key.
type Signer interface {
	// Sign returns the 64-byte Ed25519 signature of msg.
	Sign(msg []byte) []byte
}

type keySigner ed25519.PrivateKey

func (k keySigner) Sign(msg []byte) []byte { return ed25519.Sign(ed25519.PrivateKey(k), msg) }

// Ed25519Signer returns a Signer using priv, the node's identity key.
func Ed25519Signer(priv ed25519.PrivateKey) Signer { return keySigner(priv) }

// PeerInfo is what the registry publishes about a node.
type PeerInfo struct {
	PublicKey    ed25519.PublicKey // Ed25519 identity key
	Capabilities []string          // e.g. "secure-v2"
}

// HasV2 reports whether the capabilities include secure-v2.
func (p PeerInfo) HasV2() bool { return slices.Contains(p.Capabilities, CapabilityV2) }

// KeyStore provides the registry key and capabilities of peer nodes. With
// refresh set it must bypass any cache and ask the registry again: the
// channel asks so once after a signature fails to verify, so that a peer's
// key rotation is picked up. Implementations must be safe for concurrent
// use.
type KeyStore interface {
	PeerKey(ctx context.Context, node addr.NodeID, refresh bool) (PeerInfo, error)
}

// StaticKeys is a fixed KeyStore, for tests and closed deployments.
type StaticKeys map[addr.NodeID]PeerInfo

// PeerKey returns the entry of node.
func (s StaticKeys) PeerKey(_ context.Context, node addr.NodeID, _ bool) (PeerInfo, error) {
	p, ok := s[node]
	if !ok {
		return PeerInfo{}, fmt.Errorf("secure: no key for node %d", node)
	}
	return p, nil
}

// Config configures both ends of a secure channel. A Config may be shared
// by many connections and must not be modified while in use.
type Config struct {
	// Signer is the local node's identity (required).
	Signer Signer
	// NodeID is the local node's ID. Zero means the node of the stream's
	// local address (a *pilot.Addr).
	NodeID addr.NodeID
	// Keys provides the peers' registry keys and capabilities (required).
	Keys KeyStore
	// AllowOriginal enables the original mode (§6.4) with peers whose
	// registry capabilities lack secure-v2.
	AllowOriginal bool
	// OriginalAuth makes the original mode exchange the 92-byte auth
	// record, authenticating both sides.
	OriginalAuth bool
	// HandshakeTimeout bounds the handshake; zero means 10 s.
	HandshakeTimeout time.Duration
	// Dial opens the underlying stream for Dial; nil means pilot.Dial over
	// the local daemon.
	Dial func(ctx context.Context, address string) (net.Conn, error)
	// Rand is the source of ephemeral keys; nil means crypto/rand.
	Rand io.Reader
	// HandshakeError, if set, is called by a Listener for each inbound
	// connection whose handshake fails (such connections are closed and
	// not returned by Accept). It may be called concurrently.
	HandshakeError func(remote net.Addr, err error)

	now func() time.Time // tests
}

func (c *Config) check() error {
	switch {
	case c == nil:
		return errors.New("secure: nil Config")
	case c.Signer == nil:
		return errors.New("secure: Config.Signer is required")
	case c.Keys == nil:
		return errors.New("secure: Config.Keys is required")
	}
	return nil
}

func (c *Config) timeout() time.Duration {
	if c.HandshakeTimeout > 0 {
		return c.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (c *Config) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// nodeOf returns the node of a Pilot address.
func nodeOf(a net.Addr) (addr.NodeID, bool) {
	if pa, ok := a.(*pilot.Addr); ok && pa != nil && pa.Addr.Node != 0 {
		return pa.Addr.Node, true
	}
	return 0, false
}

func (c *Config) localNode(conn net.Conn) (addr.NodeID, error) {
	if c.NodeID != 0 {
		return c.NodeID, nil
	}
	if n, ok := nodeOf(conn.LocalAddr()); ok {
		return n, nil
	}
	return 0, fmt.Errorf("secure: Config.NodeID unset and local address %v is not a Pilot address", conn.LocalAddr())
}

func remoteNode(conn net.Conn) (addr.NodeID, error) {
	if n, ok := nodeOf(conn.RemoteAddr()); ok {
		return n, nil
	}
	return 0, fmt.Errorf("%w: remote address %v is not a Pilot address", ErrHandshake, conn.RemoteAddr())
}
