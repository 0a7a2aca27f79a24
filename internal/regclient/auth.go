package regclient

import (
	"fmt"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// AuthMode is the -registry-auth setting (cli.md §3.1).
type AuthMode uint8

// The auth modes. The zero value is AuthAuto.
const (
	// AuthAuto uses v2, unless a register_ok without "v2" in its
	// auth_versions (the original implementation omits the field) selects
	// v1.
	AuthAuto AuthMode = iota
	// AuthV2 always signs with auth v2 (registry.md §5.1).
	AuthV2
	// AuthV1 signs the legacy v1 challenges (§5.5) where they exist.
	AuthV1
)

func (m AuthMode) String() string {
	switch m {
	case AuthAuto:
		return "auto"
	case AuthV2:
		return "v2"
	case AuthV1:
		return "v1"
	}
	return fmt.Sprintf("AuthMode(%d)", uint8(m))
}

// ParseAuthMode parses "auto", "v2" or "v1".
func ParseAuthMode(s string) (AuthMode, error) {
	switch s {
	case "auto":
		return AuthAuto, nil
	case "v2":
		return AuthV2, nil
	case "v1":
		return AuthV1, nil
	}
	return 0, fmt.Errorf("regclient: -registry-auth %q: want auto, v2 or v1", s)
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	adminToken *string
	unsigned   bool
	signWith   *identity.Identity
	newKey     *identity.Identity
	// noResend: do not retry a transport failure once the frame may have
	// reached the registry (rotate_key: a resent request is signed by a
	// key the first one may have retired).
	noResend bool
}

func collectOptions(opts []CallOption) callOptions {
	var o callOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// WithAdminToken sends tok as admin_token (a global or per-network admin
// token, §6.1). The token is a secret: it is never logged.
func WithAdminToken(tok string) CallOption {
	return func(o *callOptions) { o.adminToken = &tok }
}

// Unsigned sends the request without ts, nonce and signature: anonymous,
// or authorized by an admin token alone. The signer field is sent as set:
// in a node's own messages it then names the subject the token acts for
// (§6.1); in management messages a caller without signature is refused,
// so leave it 0 there.
func Unsigned() CallOption { return func(o *callOptions) { o.unsigned = true } }

// SignWith signs with id instead of the client's identity. For
// reassign_key this is the new identity, whose key the request carries.
func SignWith(id *identity.Identity) CallOption {
	return func(o *callOptions) { o.signWith = id }
}

// NewKey gives the new identity of a rotate_key, which signs
// new_key_signature (§5.4).
func NewKey(id *identity.Identity) CallOption {
	return func(o *callOptions) { o.newKey = id }
}

func noResend() CallOption { return func(o *callOptions) { o.noResend = true } }

// sign fills the auth fields of req for one attempt: a fresh ts and nonce
// and the signatures its mode needs, after clearing those of an earlier
// attempt. It returns the identity that signed (nil when unsigned).
func (c *Client) sign(req regmsg.Request, o *callOptions) (*identity.Identity, error) {
	a := req.AuthFields()
	a.TS, a.Nonce, a.Signature = nil, nil, nil
	rk, isRotate := req.(*regmsg.RotateKey)
	if isRotate {
		rk.NewKeySignature = nil
	}
	if o.adminToken != nil {
		a.AdminToken = o.adminToken
	}
	if o.unsigned {
		return nil, nil
	}
	signer := o.signWith
	if signer == nil {
		signer = c.auth.Load().id
	}

	switch r := req.(type) {
	case *regmsg.Register:
		// Proof of possession, always v2 (cli.md §3.1).
		if err := carriedKey(signer, &r.PublicKey, "public_key"); err != nil {
			return nil, err
		}
		c.signV2(req, signer)
		return signer, nil
	case *regmsg.ReassignKey:
		if err := carriedKey(signer, &r.NewPublicKey, "new_public_key"); err != nil {
			return nil, err
		}
		c.signV2(req, signer)
		return signer, nil
	}
	if req.Signer() == 0 {
		return nil, nil // no node signer: anonymous or token-only
	}
	if signer == nil {
		return nil, fmt.Errorf("regclient: %s as node %d: %w", req.Type(), req.Signer(), ErrNoIdentity)
	}
	if c.AuthMode() == AuthV1 {
		if challenge, ok := regmsg.V1Challenge(req); ok {
			sig := signer.SignBase64([]byte(challenge))
			a.Signature = &sig
			return signer, nil
		}
		// No legacy challenge: the original sends this message unsigned
		// and ignores auth fields it does not know, so keep v2.
	}
	if isRotate {
		if o.newKey == nil {
			return nil, fmt.Errorf("regclient: rotate_key needs the new identity (NewKey option)")
		}
		if err := carriedKey(o.newKey, &rk.NewPublicKey, "new_public_key"); err != nil {
			return nil, err
		}
	}
	msg := c.signV2(req, signer)
	if isRotate {
		nks := o.newKey.SignBase64(msg)
		rk.NewKeySignature = &nks
	}
	return signer, nil
}

// signV2 sets ts, nonce and signature (§5) and returns the signed bytes.
func (c *Client) signV2(req regmsg.Request, id *identity.Identity) []byte {
	a := req.AuthFields()
	ts := c.now().UnixMilli()
	nonce := c.newNonce()
	a.TS, a.Nonce = &ts, &nonce
	msg := regmsg.CanonicalV2(req)
	sig := id.SignBase64(msg)
	a.Signature = &sig
	return msg
}

func (c *Client) newNonce() string {
	if c.rand == nil {
		return identity.NewNonce(nil)
	}
	c.randMu.Lock()
	defer c.randMu.Unlock()
	return identity.NewNonce(c.rand)
}

// carriedKey fills the key a proof-of-possession message carries from id,
// or checks that the one given belongs to id.
func carriedKey(id *identity.Identity, field *string, name string) error {
	if id == nil {
		return fmt.Errorf("regclient: %s: %w", name, ErrNoIdentity)
	}
	pub := id.PublicKeyBase64()
	if *field == "" {
		*field = pub
		return nil
	}
	if *field != pub {
		return fmt.Errorf("regclient: %s is not the key of the signing identity; its owner must sign", name)
	}
	return nil
}
