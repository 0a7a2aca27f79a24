package secure

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pilot-go/pilot/addr"
	svc "github.com/pilot-go/pilot/internal/wire/svcmsg/secure"
)

// Client runs the client side of the handshake over raw, a stream whose
// remote address is the *pilot.Addr of the node dialed, and returns the
// secure connection. ctx and Config.HandshakeTimeout bound the handshake.
// On failure raw is closed and nothing further is sent.
func Client(ctx context.Context, raw net.Conn, cfg *Config) (*Conn, error) {
	return handshake(ctx, raw, cfg, clientHandshake)
}

// Server runs the server side of the handshake over raw, an accepted
// stream whose remote address is the client's *pilot.Addr. On failure raw
// is closed.
func Server(ctx context.Context, raw net.Conn, cfg *Config) (*Conn, error) {
	return handshake(ctx, raw, cfg, serverHandshake)
}

// handshake applies the deadline (the earlier of ctx's and the handshake
// timeout, and ctx cancellation) to raw around run, and closes raw on
// failure.
func handshake(ctx context.Context, raw net.Conn, cfg *Config, run func(context.Context, net.Conn, *Config) (*Conn, error)) (*Conn, error) {
	if err := cfg.check(); err != nil {
		raw.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	dl, _ := ctx.Deadline()
	if err := raw.SetDeadline(dl); err != nil {
		raw.Close()
		return nil, fmt.Errorf("%w: set deadline: %v", ErrHandshake, err)
	}
	// Cancellation of ctx interrupts blocked I/O by moving the deadline
	// into the past.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	c, err := run(ctx, raw, cfg)
	if !stop() && err == nil {
		err = fmt.Errorf("%w: %w", ErrHandshake, ctx.Err())
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		raw.Close()
		return nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		raw.Close()
		return nil, fmt.Errorf("%w: clear deadline: %v", ErrHandshake, err)
	}
	return c, nil
}

func hsErr(what string, err error) error { return fmt.Errorf("%w: %s: %w", ErrHandshake, what, err) }

// ephemeral draws a fresh X25519 key pair.
func ephemeral(r io.Reader) (priv, pub [svc.KeyLen]byte, err error) {
	if r == nil {
		r = rand.Reader
	}
	if _, err = io.ReadFull(r, priv[:]); err != nil {
		return priv, pub, hsErr("ephemeral key", err)
	}
	pub, err = svc.EphemeralPublic(priv)
	if err != nil {
		return priv, pub, hsErr("ephemeral key", err)
	}
	return priv, pub, nil
}

func sign(s Signer, msg []byte) ([ed25519.SignatureSize]byte, error) {
	var out [ed25519.SignatureSize]byte
	sig := s.Sign(msg)
	if len(sig) != ed25519.SignatureSize {
		return out, fmt.Errorf("%w: signer returned %d bytes", ErrHandshake, len(sig))
	}
	copy(out[:], sig)
	return out, nil
}

func lookup(ctx context.Context, cfg *Config, node addr.NodeID, refresh bool) (PeerInfo, error) {
	p, err := cfg.Keys.PeerKey(ctx, node, refresh)
	if err != nil {
		return PeerInfo{}, fmt.Errorf("%w: node %d: %w", ErrKeyLookup, node, err)
	}
	return p, nil
}

// verifyRefreshing runs verify under the peer's cached registry key and,
// if it fails, once more under a freshly looked-up key (§6.2: rotations).
func verifyRefreshing(ctx context.Context, cfg *Config, node addr.NodeID, info PeerInfo, verify func(ed25519.PublicKey) error) error {
	err := verify(info.PublicKey)
	if err == nil {
		return nil
	}
	fresh, lerr := lookup(ctx, cfg, node, true)
	if lerr != nil {
		return fmt.Errorf("%w: %w (refresh: %w)", ErrAuthentication, err, lerr)
	}
	if err := verify(fresh.PublicKey); err != nil {
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	}
	return nil
}

func readMsg(raw net.Conn, b []byte, what string) error {
	if _, err := io.ReadFull(raw, b); err != nil {
		return hsErr("read "+what, err)
	}
	return nil
}

func writeMsg(raw net.Conn, b []byte, what string) error {
	if _, err := raw.Write(b); err != nil {
		return hsErr("write "+what, err)
	}
	return nil
}

func clientHandshake(ctx context.Context, raw net.Conn, cfg *Config) (*Conn, error) {
	self, err := cfg.localNode(raw)
	if err != nil {
		return nil, err
	}
	peer, err := remoteNode(raw)
	if err != nil {
		return nil, err
	}
	info, err := lookup(ctx, cfg, peer, false)
	if err != nil {
		return nil, err
	}
	// §6.1: the original mode only with AllowOriginal and a peer without
	// secure-v2; otherwise v2, and a failure there is final.
	if !info.HasV2() && cfg.AllowOriginal {
		return clientOriginal(ctx, raw, cfg, self, peer, info)
	}
	priv, pub, err := ephemeral(cfg.Rand)
	if err != nil {
		return nil, err
	}
	ch := svc.ClientHello{Ephemeral: pub, NodeID: self}
	if err := writeMsg(raw, ch.Marshal(), "ClientHello"); err != nil {
		return nil, err
	}
	var shb [svc.ServerHelloLen]byte
	if err := readMsg(raw, shb[:], "ServerHello"); err != nil {
		return nil, err
	}
	sh, err := svc.ParseServerHello(shb[:])
	if err != nil {
		return nil, hsErr("ServerHello", err)
	}
	if sh.NodeID != peer {
		return nil, fmt.Errorf("%w: server claims node %d, dialed %d", ErrAuthentication, sh.NodeID, peer)
	}
	if err := verifyRefreshing(ctx, cfg, peer, info, func(k ed25519.PublicKey) error {
		return svc.VerifyServer(k, peer, ch, sh)
	}); err != nil {
		return nil, err
	}
	shared, err := svc.SharedSecret(priv, sh.Ephemeral)
	if err != nil {
		return nil, hsErr("key exchange", err)
	}
	var cf svc.ClientFinish
	if cf.Sig, err = sign(cfg.Signer, svc.ClientTranscript(ch, sh)); err != nil {
		return nil, err
	}
	keys, err := svc.DeriveKeys(shared, ch, sh, cf)
	if err != nil {
		return nil, hsErr("key schedule", err)
	}
	if err := writeMsg(raw, cf.Marshal(), "ClientFinish"); err != nil {
		return nil, err
	}
	return newConn(raw, ModeV2, peer, true, keys.C2S, keys.S2C, svc.ClientToServer, svc.ModeV2)
}

func serverHandshake(ctx context.Context, raw net.Conn, cfg *Config) (*Conn, error) {
	self, err := cfg.localNode(raw)
	if err != nil {
		return nil, err
	}
	remote, err := remoteNode(raw)
	if err != nil {
		return nil, err
	}
	var chb [svc.ClientHelloLen]byte
	if err := readMsg(raw, chb[:len(svc.Magic)], "first bytes"); err != nil {
		return nil, err
	}
	if string(chb[:len(svc.Magic)]) != svc.Magic {
		// §6.1: the start of an original 32-byte key, only if allowed
		// and the client does not advertise secure-v2.
		if !cfg.AllowOriginal {
			return nil, fmt.Errorf("%w: client %d did not send PSC2 and the original mode is disabled", ErrModeNotAllowed, remote)
		}
		info, err := lookup(ctx, cfg, remote, false)
		if err != nil {
			return nil, err
		}
		if info.HasV2() {
			return nil, fmt.Errorf("%w: client %d has %s but did not send PSC2", ErrModeNotAllowed, remote, CapabilityV2)
		}
		var peerKey [svc.KeyLen]byte
		copy(peerKey[:], chb[:len(svc.Magic)])
		if err := readMsg(raw, peerKey[len(svc.Magic):], "original key"); err != nil {
			return nil, err
		}
		return serverOriginal(ctx, raw, cfg, self, remote, info, peerKey)
	}
	if err := readMsg(raw, chb[len(svc.Magic):], "ClientHello"); err != nil {
		return nil, err
	}
	ch, err := svc.ParseClientHello(chb[:])
	if err != nil {
		return nil, hsErr("ClientHello", err)
	}
	if ch.NodeID != remote {
		return nil, fmt.Errorf("%w: client claims node %d, stream is from %d", ErrAuthentication, ch.NodeID, remote)
	}
	info, err := lookup(ctx, cfg, remote, false)
	if err != nil {
		return nil, err
	}
	priv, pub, err := ephemeral(cfg.Rand)
	if err != nil {
		return nil, err
	}
	shared, err := svc.SharedSecret(priv, ch.Ephemeral)
	if err != nil {
		return nil, hsErr("key exchange", err)
	}
	sh := svc.ServerHello{Ephemeral: pub, NodeID: self}
	if sh.Sig, err = sign(cfg.Signer, svc.ServerTranscript(ch, sh)); err != nil {
		return nil, err
	}
	if err := writeMsg(raw, sh.Marshal(), "ServerHello"); err != nil {
		return nil, err
	}
	var cfb [svc.ClientFinishLen]byte
	if err := readMsg(raw, cfb[:], "ClientFinish"); err != nil {
		return nil, err
	}
	cf, err := svc.ParseClientFinish(cfb[:])
	if err != nil {
		return nil, hsErr("ClientFinish", err)
	}
	if err := verifyRefreshing(ctx, cfg, remote, info, func(k ed25519.PublicKey) error {
		return svc.VerifyClient(k, remote, ch, sh, cf)
	}); err != nil {
		return nil, err
	}
	keys, err := svc.DeriveKeys(shared, ch, sh, cf)
	if err != nil {
		return nil, hsErr("key schedule", err)
	}
	return newConn(raw, ModeV2, remote, true, keys.S2C, keys.C2S, svc.ServerToClient, svc.ModeV2)
}
