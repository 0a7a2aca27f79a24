package handlers

import (
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Rate limits (registry.md §12, §6.4 step 2): anonymous and per-IP
// categories before authentication, signer-keyed ones right after it.

// rateLimited builds the rate_limited reply for a refused decision.
func (h *Handler) rateLimited(d ratelimit.Decision, subject string) error {
	h.m.RateLimited(string(d.Category))
	return &regmsg.Error{Code: regmsg.CodeRateLimited, Message: d.Message(subject), RetryAfterMS: d.RetryAfterMS()}
}

func (c *call) ipSubject() string { return "IP " + c.ip.String() }

// preLimits charges the categories keyed by source IP (or, for an unsigned
// register of a known key, by key) before authentication cost is paid.
func (c *call) preLimits() error {
	if c.h.lim.Disabled() {
		// -rate-limit off: every check allows; skip the key lookup below.
		return nil
	}
	if r, ok := c.req.(*regmsg.Register); ok {
		known, err := c.keyKnown(r.PublicKey)
		if err != nil {
			return err
		}
		switch {
		case !known:
			if d := c.h.lim.Allow(ratelimit.RegisterNew, ratelimit.IPKey(c.ip)); !d.Allowed {
				return c.h.rateLimited(d, c.ipSubject())
			}
		case c.kind != regmsg.AuthV2:
			// Unsigned (legacy) registration of a known key: keyed by key.
			if d := c.h.lim.Allow(ratelimit.RegisterKnown, ratelimit.PublicKeyKey(r.PublicKey)); !d.Allowed {
				return c.h.rateLimited(d, "this key")
			}
		}
		return nil
	}
	if c.kind == regmsg.AuthUnsigned {
		cat := ratelimit.Anonymous
		if c.req.AuthFields().HasAdminToken() {
			cat = ratelimit.Token
		}
		if d := c.h.lim.Allow(cat, ratelimit.IPKey(c.ip)); !d.Allowed {
			return c.h.rateLimited(d, c.ipSubject())
		}
	}
	return nil
}

// keyKnown reports whether a public key was ever seen (register_known vs
// register_new).
func (c *call) keyKnown(b64 string) (bool, error) {
	raw, err := regmsg.DecodePublicKey(b64)
	if err != nil {
		return false, nil
	}
	var k store.PublicKey
	copy(k[:], raw)
	known := false
	err = c.view(func(tx store.ReadTx) error {
		_, err := tx.KeyBinding(k)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		known = err == nil
		return err
	})
	if err != nil {
		return false, c.internal(err)
	}
	return known, nil
}

// postLimits charges the signer-keyed categories after the signature
// verified, and applies the source IP's auth_failure gate to requests
// without a verified node signature that carry an admin_token (§12).
func (c *call) postLimits() error {
	if c.h.lim.Disabled() {
		return nil
	}
	if c.signer == 0 && c.tokenPresent {
		if d := c.h.lim.TokenGate(ratelimit.IPKey(c.ip)); !d.Allowed {
			return c.h.rateLimited(d, c.ipSubject())
		}
	}
	switch r := c.req.(type) {
	case *regmsg.Register:
		if c.verified {
			if known, _ := c.keyKnown(r.PublicKey); known {
				if d := c.h.lim.Allow(ratelimit.RegisterKnown, ratelimit.PublicKeyKey(r.PublicKey)); !d.Allowed {
					return c.h.rateLimited(d, "this key")
				}
			}
		}
		return nil
	case *regmsg.ReassignKey:
		if c.verified {
			if d := c.h.lim.Allow(ratelimit.Token, ratelimit.IPKey(c.ip)); !d.Allowed {
				return c.h.rateLimited(d, c.ipSubject())
			}
		}
		return nil
	}
	if c.signer == 0 {
		return nil
	}
	cat := ratelimit.Mutation
	switch {
	case c.typ == regmsg.TypeHeartbeat:
		cat = ratelimit.Heartbeat
	case !isMutation(c.req) || c.typ == regmsg.TypePollHandshakes: // a draining read
		cat = ratelimit.Read
	}
	if d := c.h.lim.Allow(cat, ratelimit.NodeKey(uint32(c.signer))); !d.Allowed {
		return c.h.rateLimited(d, fmt.Sprintf("node %d", c.signer))
	}
	return nil
}

// tokenGate is the auth_failure gate applied before an admin_token decides
// a request's outcome: the signer's bucket for a signed request, the source
// IP's otherwise.
func (c *call) tokenGate() error {
	key, subject := ratelimit.IPKey(c.ip), c.ipSubject()
	if c.signer != 0 {
		key, subject = ratelimit.NodeKey(uint32(c.signer)), fmt.Sprintf("node %d", c.signer)
	}
	if d := c.h.lim.TokenGate(key); !d.Allowed {
		return c.h.rateLimited(d, subject)
	}
	return nil
}
