package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// Limits of §6.9.
const (
	// MaxSealed is the most frames one state seals: a sender must not seal
	// more than 2^32 frames under one key.
	MaxSealed = 1 << 32
	// RekeyFrames is trigger (a): frames sealed plus opened under a state.
	RekeyFrames = 1 << 24
)

// Errors of Seal and Open; every failure wraps one of them.
var (
	ErrFrame       = errors.New("malformed PILS frame")
	ErrSender      = errors.New("PILS from another sender")
	ErrZeroCounter = errors.New("PILS counter 0")
	ErrReplay      = errors.New("replayed PILS")
	ErrAuth        = errors.New("PILS authentication failed")
	ErrNoState     = errors.New("no crypto state")
	ErrSendClosed  = errors.New("crypto state closed for sending")
	ErrExhausted   = errors.New("nonce counter exhausted")
	ErrPacketSize  = errors.New("packet size out of range")
	ErrConfig      = errors.New("invalid crypto state configuration")
)

// Trigger is a set of rekey reasons of §6.9 raised by a state.
type Trigger uint32

const (
	TriggerFrames        Trigger = 1 << iota // (a) RekeyFrames sealed plus opened
	TriggerAge                               // (b) older than the rekey interval
	TriggerWindowRetired                     // (c) a receive window was retired
	TriggerOwnPrefix                         // (d) the peer used our send prefix
)

// flagSendClosed is kept with the sticky triggers in State.flags.
const flagSendClosed = 1 << 31

// Config describes a crypto state. LocalNode, PeerNode, Private and
// PeerPublic are required.
type Config struct {
	// LocalNode is our node ID: the sender field and AAD of sealed frames.
	LocalNode addr.NodeID
	// PeerNode is the peer's node ID; Open rejects frames from other senders.
	PeerNode addr.NodeID
	// Private is our local X25519 key for this peer (local[P]).
	Private *ecdh.PrivateKey
	// PeerPublic is the peer's X25519 public key (peerx[P]).
	PeerPublic [32]byte
	// Authenticated records whether the peer proved its identity (PILA).
	Authenticated bool
	// Created is the creation time, used by trigger (b).
	Created time.Time
	// Rand is the source of the send prefix; nil means crypto/rand.Reader.
	Rand io.Reader
}

// State is one crypto state of a peer (cur[P] or prev[P], §6.1).
type State struct {
	// Set once in New.
	aead        cipher.AEAD
	local, peer addr.NodeID
	prefix      [4]byte
	created     time.Time

	// Atomic.
	authenticated atomic.Bool   // set in New, or later by Authenticate
	counter       atomic.Uint64 // last counter handed out by Seal
	opened        atomic.Uint64
	flags         atomic.Uint32 // sticky Trigger bits and flagSendClosed

	// Owned by Open (serialised by the caller).
	replay replayTable
}

// New derives the tunnel key and builds a state with a fresh random send
// prefix, counter 0 (the first frame sealed carries 1) and no windows.
func New(cfg Config) (*State, error) {
	if cfg.LocalNode == cfg.PeerNode {
		return nil, fmt.Errorf("%w: peer node %d is our own node", ErrConfig, cfg.PeerNode)
	}
	key, err := DeriveKey(cfg.Private, cfg.PeerPublic)
	if err != nil {
		return nil, err
	}
	defer clear(key[:])
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	s := &State{
		local:   cfg.LocalNode,
		peer:    cfg.PeerNode,
		created: cfg.Created,
	}
	s.authenticated.Store(cfg.Authenticated)
	if _, err := io.ReadFull(r, s.prefix[:]); err != nil {
		return nil, fmt.Errorf("session: read send prefix: %w", err)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return s, nil
}

// LocalNode returns our node ID.
func (s *State) LocalNode() addr.NodeID { return s.local }

// PeerNode returns the peer's node ID.
func (s *State) PeerNode() addr.NodeID { return s.peer }

// Prefix returns our send prefix.
func (s *State) Prefix() [4]byte { return s.prefix }

// Authenticated reports whether the state was built from a PILA, or
// authenticated since by one.
func (s *State) Authenticated() bool { return s.authenticated.Load() }

// Authenticate marks an unauthenticated state (built from a PILK) as
// authenticated: a valid PILA has since signed the very X25519 key the
// state was derived from (wire.md §6.4, "a later valid PILA replaces the
// state"). Keeping the state keeps its send counter and replay windows,
// which a new state under the same key would restart.
func (s *State) Authenticate() { s.authenticated.Store(true) }

// Created returns the creation time given in Config.
func (s *State) Created() time.Time { return s.created }

// Sealed returns the number of frames sealed.
func (s *State) Sealed() uint64 { return min(s.counter.Load(), MaxSealed) }

// Opened returns the number of frames opened (authenticated).
func (s *State) Opened() uint64 { return s.opened.Load() }

// CloseSend makes the state receive only (it becomes prev[P]).
func (s *State) CloseSend() { s.flags.Or(flagSendClosed) }

// Triggers returns the rekey reasons (a)–(d) of §6.9 that hold now. (c) and
// (d) are sticky once raised; (b) is checked only when interval > 0.
func (s *State) Triggers(now time.Time, interval time.Duration) Trigger {
	t := Trigger(s.flags.Load() &^ flagSendClosed)
	if s.Sealed()+s.Opened() >= RekeyFrames {
		t |= TriggerFrames
	}
	if interval > 0 && now.Sub(s.created) >= interval {
		t |= TriggerAge
	}
	return t
}

// Seal appends to dst the PILS frame carrying packet, a marshalled packet
// (§5.3). To seal in place, put the packet at
// dst[len(dst)+frame.PILSHeaderSize:] with capacity for the 16-byte tag.
func (s *State) Seal(dst, packet []byte) ([]byte, error) {
	if n := len(packet); n < frame.PacketHeaderSize || n > frame.MaxDatagram-frame.PILSOverhead {
		return dst, fmt.Errorf("%w: %d-byte packet, want %d to %d", ErrPacketSize, n,
			frame.PacketHeaderSize, frame.MaxDatagram-frame.PILSOverhead)
	}
	if f := s.flags.Load(); f&flagSendClosed != 0 {
		return dst, fmt.Errorf("%w: receive-only state", ErrSendClosed)
	} else if f&uint32(TriggerOwnPrefix) != 0 {
		return dst, fmt.Errorf("%w: the peer used our prefix %x", ErrSendClosed, s.prefix)
	}
	c := s.counter.Add(1)
	if c > MaxSealed {
		return dst, fmt.Errorf("%w: %d frames sealed under this key", ErrExhausted, uint64(MaxSealed))
	}
	start := len(dst)
	dst = slices.Grow(dst, frame.PILSHeaderSize+len(packet)+frame.TagSize)
	h := dst[start : start+frame.PILSHeaderSize]
	copy(h, frame.MagicPILS[:])
	binary.BigEndian.PutUint32(h[4:8], uint32(s.local))
	copy(h[8:12], s.prefix[:])
	binary.BigEndian.PutUint64(h[12:20], c)
	out := s.aead.Seal(h, h[8:20], packet, h[4:8]) // within dst's capacity
	return dst[:start+len(out)], nil
}

// Open authenticates and decrypts a PILS frame (§6.6 steps 1–6) and appends
// the packet to dst. Replays are rejected before decryption; the window is
// updated only after authentication. To open in place pass
// pils[frame.PILSHeaderSize:][:0] as dst; AES-GCM wipes its output when
// authentication fails, so in-place opening must not be combined with trying
// a second candidate state on the same buffer.
func (s *State) Open(dst, pils []byte) ([]byte, error) {
	if err := s.precheck(pils); err != nil {
		return dst, err
	}
	p := noncePrefix(binary.BigEndian.Uint32(pils[8:12]))
	c := binary.BigEndian.Uint64(pils[12:20])
	if err := s.replay.check(p, c); err != nil {
		return dst, fmt.Errorf("%w: %w", ErrReplay, err)
	}
	out, err := s.aead.Open(dst, pils[8:20], pils[frame.PILSHeaderSize:], pils[4:8])
	if err != nil {
		return dst, fmt.Errorf("%w: sender %d, prefix %08x, counter %d", ErrAuth, s.peer, uint32(p), c)
	}
	if s.replay.record(p, c) {
		s.flags.Or(uint32(TriggerWindowRetired))
	}
	if [4]byte(pils[8:12]) == s.prefix {
		s.flags.Or(uint32(TriggerOwnPrefix))
	}
	s.opened.Add(1)
	return out, nil
}

// precheck applies the checks that need no key: size, magic, sender and a
// non-zero counter.
func (s *State) precheck(b []byte) error {
	if len(b) < frame.MinPILS || len(b) > frame.MaxDatagram {
		return fmt.Errorf("%w: %d bytes, want %d to %d", ErrFrame, len(b), frame.MinPILS, frame.MaxDatagram)
	}
	if [4]byte(b[:4]) != frame.MagicPILS {
		return fmt.Errorf("%w: magic %x", ErrFrame, b[:4])
	}
	if from := addr.NodeID(binary.BigEndian.Uint32(b[4:8])); from != s.peer {
		return fmt.Errorf("%w: frame from %d, state of peer %d", ErrSender, from, s.peer)
	}
	if binary.BigEndian.Uint64(b[12:20]) == 0 {
		return ErrZeroCounter
	}
	return nil
}

// OpenFirst opens a PILS frame under the first candidate state that
// authenticates it (§6.6 steps 2–6): the daemon passes cur, then prev while
// it is before its deadline; nil candidates are skipped. On success it
// returns the state that authenticated the frame (a frame authenticating
// under a new cur confirms a rekey). Each candidate is checked for replay and
// then tried; a replay under any candidate drops the frame without trying the
// next (the error wraps ErrReplay and the state that detected it is
// returned); an authentication failure moves on to the next candidate and,
// when none succeeds, the error wraps ErrAuth (ErrNoState when every
// candidate is nil). Any other error (malformed frame, wrong sender, counter
// 0) is returned at once.
func OpenFirst(dst, pils []byte, candidates ...*State) ([]byte, *State, error) {
	var last error
	for _, s := range candidates {
		if s == nil {
			continue
		}
		out, err := s.Open(dst, pils)
		if err == nil {
			return out, s, nil
		}
		if !errors.Is(err, ErrAuth) {
			return dst, s, err
		}
		last = err
	}
	if last == nil {
		return dst, nil, ErrNoState
	}
	return dst, nil, last
}
