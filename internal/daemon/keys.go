package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Key rotation (cli.md §4.8 `key rotate`, registry.md §7.1.7):
//
//  1. generate the new key pair and write it to identity.json.next (0600,
//     fsynced);
//  2. send rotate_key signed by the current key with new_key_signature;
//  3. on success replace identity.json atomically by the new key, delete
//     .next, sign everything with the new key and notify OnIdentity (the
//     tunnel layer re-authenticates);
//  4. on an error reply delete .next;
//  5. when the outcome is unknown (no reply), keep .next: at the next
//     registry contact (resolvePendingLocked, before each heartbeat) and at
//     every start (registerLocked) the daemon adopts the key the registry
//     holds for its node.

// ErrOutcomeUnknown is wrapped by RotateKey when rotate_key got no reply:
// the registry may or may not have switched keys; the daemon finds out at
// its next registry contact.
var ErrOutcomeUnknown = errors.New("key rotation outcome unknown; it is resolved at the next registry contact")

// ErrRotationPending is returned by RotateKey while an earlier rotation's
// outcome is still unknown.
var ErrRotationPending = &regmsg.Error{Code: regmsg.CodeFailedPrecondition,
	Message: "an earlier key rotation is not resolved yet; retry once the registry is reachable"}

// RotateKey rotates the node's key; expiresAt is the new key's expiry
// (RFC 3339, "" = none). Errors: a *regmsg.Error from the registry (the
// pending key is deleted), ErrOutcomeUnknown (kept), or a local failure.
func (r *Registrar) RotateKey(ctx context.Context, expiresAt string) (*regmsg.RotateKeyOK, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if err := r.resolvePendingLocked(ctx); err != nil {
		return nil, ErrRotationPending
	}
	r.mu.Lock()
	pending := r.next != nil
	r.mu.Unlock()
	if pending {
		return nil, ErrRotationPending
	}
	// Local failures before rotate_key is sent leave the registry and the
	// current key untouched; the IPC layer reports them as internal, not as
	// an unreachable registry.
	newID, err := identity.Generate(nil)
	if err != nil {
		return nil, fmt.Errorf("key rotate: cannot generate the new key (nothing was sent to the registry): %w", err)
	}
	if err := identity.SaveNext(r.cfg.IdentityPath, newID); err != nil {
		return nil, fmt.Errorf("key rotate: cannot write the new key (nothing was sent to the registry): %w", err)
	}
	rep, err := r.client.RotateKey(ctx, newID, expiresAt)
	if err != nil {
		var re *regmsg.Error
		if errors.As(err, &re) {
			if derr := identity.DiscardNext(r.cfg.IdentityPath); derr != nil {
				r.log.Error("cannot delete the refused pending key", "err", derr)
			}
			return nil, err
		}
		r.mu.Lock()
		r.next = newID
		r.mu.Unlock()
		r.log.Warn("key rotation got no reply; the pending key is kept until the registry is asked", "err", err)
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	// regclient already signs with newID.
	if err := identity.CommitNext(r.cfg.IdentityPath); err != nil {
		// The registry holds the new key; the file still has the old one
		// and .next the new: the next start resolves it.
		r.log.Error("key rotated at the registry but identity.json could not be replaced", "err", err)
	}
	r.mu.Lock()
	r.cur = newID
	r.mu.Unlock()
	r.setKeyExpiry(rep.ExpiresAt)
	r.resetKeyWarning()
	r.keyChanged(newID, rep.RotateCount)
	return rep, nil
}

// resolvePendingLocked compares the registry's key for this node with the
// current and the pending one and adopts the one it holds. It returns an
// error when it could not ask; with nothing pending it does nothing.
// Caller holds opMu.
func (r *Registrar) resolvePendingLocked(ctx context.Context) error {
	r.mu.Lock()
	cur, next, self := r.cur, r.next, r.nodeID
	r.mu.Unlock()
	if next == nil || self == 0 {
		return nil
	}
	// Anonymous: a signed lookup would be refused if our key was retired.
	var rep regmsg.LookupOK
	if err := r.client.Call(ctx, &regmsg.Lookup{NodeID: self}, &rep); err != nil {
		return err
	}
	switch rep.PublicKey {
	case next.PublicKeyBase64():
		r.client.SetIdentity(next)
		r.adoptNextLocked("the registry holds the pending key")
	case cur.PublicKeyBase64():
		r.discardNextLocked("the registry holds the current key")
	default:
		r.log.Error("the registry holds neither the current nor the pending key of this node; keeping both",
			"node", self)
	}
	return nil
}

// adoptNextLocked makes the pending key current (file, memory, hooks).
func (r *Registrar) adoptNextLocked(why string) {
	r.mu.Lock()
	next := r.next
	r.cur, r.next = next, nil
	r.mu.Unlock()
	if err := identity.CommitNext(r.cfg.IdentityPath); err != nil {
		r.log.Error("cannot replace identity.json with the pending key", "err", err)
	}
	r.log.Info("adopted the pending key of an interrupted rotation", "why", why)
	r.resetKeyWarning()
	r.keyChanged(next, -1)
}

// discardNextLocked deletes the pending key.
func (r *Registrar) discardNextLocked(why string) {
	r.mu.Lock()
	r.next = nil
	r.mu.Unlock()
	if err := identity.DiscardNext(r.cfg.IdentityPath); err != nil {
		r.log.Error("cannot delete the pending key", "err", err)
	}
	r.log.Info("discarded the pending key of an interrupted rotation", "why", why)
}

// keyChanged notifies the hook and emits key.rotated. rotateCount < 0 =
// unknown (an adopted pending key): it is read from get_key_info.
func (r *Registrar) keyChanged(id *identity.Identity, rotateCount int64) {
	if rotateCount < 0 {
		rotateCount = 0
		if info, err := r.client.GetKeyInfo(context.Background(), r.NodeID()); err == nil {
			rotateCount = info.RotateCount
		}
	}
	if r.cfg.OnIdentity != nil {
		r.cfg.OnIdentity(id)
	}
	r.events.Emit("key.rotated", whmsg.Fields{
		{Key: "public_key", Value: id.PublicKeyBase64()}, {Key: "rotate_count", Value: rotateCount},
	})
}

func (r *Registrar) resetKeyWarning() {
	r.mu.Lock()
	r.warnAt, r.warnExp = time.Time{}, ""
	r.mu.Unlock()
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Reclaim is cli.md §4.8 `key reclaim` after the caller's checks: it
// deregisters the current node, binds this daemon's key to target with
// reassign_key (adminToken, signed by our key) and registers again, which
// adopts target. It returns the previous node ID. opMu keeps heartbeats
// and registrations out until the key is reassigned.
func (r *Registrar) Reclaim(ctx context.Context, target addr.NodeID, adminToken string) (addr.NodeID, error) {
	r.opMu.Lock()
	prev := r.NodeID()
	if err := r.client.Deregister(ctx); err != nil {
		r.opMu.Unlock()
		return prev, err
	}
	_, err := r.client.ReassignKey(ctx, target, regclient.WithAdminToken(adminToken))
	r.opMu.Unlock()
	if err != nil {
		// Our node is gone: register again (a new or the same ID).
		r.MarkDeregistered()
		r.Reregister()
		return prev, err
	}
	return prev, r.registerOnce(ctx, true)
}
