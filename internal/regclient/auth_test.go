package regclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// authVectors mirrors testdata/vectors/registry_auth.json.
type authVectors struct {
	About string `json:"about"`
	Keys  map[string]struct {
		SeedHex   string `json:"seed_hex"`
		PublicKey string `json:"public_key"`
		NodeID    uint32 `json:"node_id"`
	} `json:"keys"`
	AuthV2 []struct {
		Name             string          `json:"name"`
		SignerNodeID     uint32          `json:"signer_node_id"`
		Canonical        string          `json:"canonical"`
		SigningSeedHex   string          `json:"signing_seed_hex"`
		SigningPublicKey string          `json:"signing_public_key"`
		NewKeySeedHex    string          `json:"new_key_seed_hex"`
		Signature        string          `json:"signature"`
		NewKeySignature  string          `json:"new_key_signature"`
		Request          json.RawMessage `json:"request"`
		Note             string          `json:"note"`
	} `json:"auth_v2"`
	AuditChain json.RawMessage `json:"audit_chain"` // identity's vectors
	LegacyV1   []struct {
		Message   string `json:"message"`
		Challenge string `json:"challenge"`
		Signature string `json:"signature"`
	} `json:"legacy_v1"`
}

func seedIdentity(t *testing.T, seedHex string) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(testvec.Hex(t, seedHex))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRegistry_15_ClientSignsVectors: with the vector's clock, nonce and
// key, the client produces exactly the vector's request (same fields, same
// signatures), proof of possession and rotate_key's dual signature
// included.
func TestRegistry_15_ClientSignsVectors(t *testing.T) {
	var v authVectors
	testvec.Load(t, "registry_auth.json", &v)
	if len(v.AuthV2) == 0 {
		t.Fatal("no auth_v2 vectors")
	}
	for _, vec := range v.AuthV2 {
		t.Run(vec.Name, func(t *testing.T) {
			want, err := regmsg.DecodeRequest(vec.Request)
			if err != nil {
				t.Fatal(err)
			}
			wa := want.AuthFields()
			nonce, err := regmsg.DecodeNonce(*wa.Nonce)
			if err != nil {
				t.Fatal(err)
			}
			// The request to send: the vector's without its auth fields.
			req, _ := regmsg.DecodeRequest(vec.Request)
			a := req.AuthFields()
			a.TS, a.Nonce, a.Signature = nil, nil, nil
			var opts []CallOption
			if rk, ok := req.(*regmsg.RotateKey); ok {
				rk.NewKeySignature = nil
				opts = append(opts, NewKey(seedIdentity(t, vec.NewKeySeedHex)))
			}
			f := newFake(t, nil, nil)
			c, _ := newTestClient(t, f, func(cfg *Config) {
				cfg.Identity = seedIdentity(t, vec.SigningSeedHex)
				cfg.NodeID = addr.NodeID(vec.SignerNodeID)
				cfg.Clock = func() time.Time { return time.UnixMilli(*wa.TS) }
				cfg.Rand = bytes.NewReader(nonce)
			})
			if _, err := c.Do(ctxT(t), req, opts...); err != nil {
				t.Fatal(err)
			}
			got := f.last()
			if string(regmsg.CanonicalV2(got)) != vec.Canonical {
				t.Fatalf("canonical\n got %q\nwant %q", regmsg.CanonicalV2(got), vec.Canonical)
			}
			gb, _ := regmsg.MarshalRequest(got)
			wb, _ := regmsg.MarshalRequest(want)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("request\n got %s\nwant %s", gb, wb)
			}
		})
	}
}

// TestLegacyV1Vectors: in v1 mode the client signs exactly the v1
// challenge of §5.5 and sends no ts and no nonce.
func TestLegacyV1Vectors(t *testing.T) {
	var v authVectors
	testvec.Load(t, "registry_auth.json", &v)
	keyA := v.Keys["A"]
	node := addr.NodeID(keyA.NodeID)
	calls := map[string]func(c *Client) error{
		"heartbeat": func(c *Client) error { _, err := c.Heartbeat(ctxT(t)); return err },
		"join_network": func(c *Client) error {
			_, err := c.JoinNetwork(ctxT(t), 3, "")
			return err
		},
		"invite_to_network": func(c *Client) error {
			_, err := c.InviteToNetwork(ctxT(t), 3, 686)
			return err
		},
		"respond_handshake": func(c *Client) error {
			_, err := c.RespondHandshake(ctxT(t), 686, true)
			return err
		},
	}
	if len(v.LegacyV1) != len(calls) {
		t.Fatalf("%d legacy vectors, %d calls", len(v.LegacyV1), len(calls))
	}
	for _, vec := range v.LegacyV1 {
		t.Run(vec.Message, func(t *testing.T) {
			f := newFake(t, nil, nil)
			c, _ := newTestClient(t, f, func(cfg *Config) {
				cfg.Identity = seedIdentity(t, keyA.SeedHex)
				cfg.NodeID = node
				cfg.AuthMode = AuthV1
			})
			if err := calls[vec.Message](c); err != nil {
				t.Fatal(err)
			}
			got := f.last()
			a := got.AuthFields()
			if regmsg.AuthVersion(got) != regmsg.AuthV1 || a.TS != nil || a.Nonce != nil {
				t.Fatalf("not a v1 request: ts %v nonce %v", a.TS, a.Nonce)
			}
			if ch, _ := regmsg.V1Challenge(got); ch != vec.Challenge {
				t.Fatalf("challenge %q, want %q", ch, vec.Challenge)
			}
			if *a.Signature != vec.Signature {
				t.Fatalf("signature %s, want %s", *a.Signature, vec.Signature)
			}
		})
	}
}

// TestV2FreshNoncePerRequest: every request carries ts from the clock and
// a nonce never used before, and its signature verifies.
func TestV2FreshNoncePerRequest(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, nil)
	const n = 50
	for range n {
		if _, err := c.Heartbeat(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range f.requests() {
		verifyV2(t, r.req, pubOf(c.Identity()))
		a := r.req.AuthFields()
		if *a.TS != fixedNow.UnixMilli() {
			t.Fatalf("ts %d, want %d", *a.TS, fixedNow.UnixMilli())
		}
		if seen[*a.Nonce] {
			t.Fatalf("nonce %s reused", *a.Nonce)
		}
		seen[*a.Nonce] = true
	}
	if len(seen) != n {
		t.Fatalf("%d nonces for %d requests", len(seen), n)
	}
}

// TestRegisterProofAndNodeID: register is signed by the key it carries with
// signer 0, and the client adopts the returned node ID for later calls.
func TestRegisterProofAndNodeID(t *testing.T) {
	f := newFake(t, nil, func(_ int, req regmsg.Request) response {
		if req.Type() == regmsg.TypeRegister {
			return replyWith(t, &regmsg.RegisterOK{NodeID: 42, Address: nodeAddr(42), AuthVersions: []string{"v2"}})
		}
		return okReply(req.Type())
	})
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.NodeID = 0; cfg.AuthMode = AuthAuto })
	rep, err := c.Register(ctxT(t), &regmsg.Register{ListenAddr: "0.0.0.0:4000", Hostname: "alpha",
		Capabilities: []string{"auth-v2"}, Version: "1.5.0"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NodeID != 42 || c.NodeID() != 42 {
		t.Fatalf("node ID: reply %d, client %d", rep.NodeID, c.NodeID())
	}
	reg := f.last().(*regmsg.Register)
	if reg.Signer() != 0 || reg.PublicKey != c.Identity().PublicKeyBase64() {
		t.Fatalf("register carries key %s", reg.PublicKey)
	}
	pub, _ := identity.ParsePublicKey(reg.PublicKey)
	verifyV2(t, reg, pub)

	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	hb := f.last().(*regmsg.Heartbeat)
	if hb.NodeID != 42 {
		t.Fatalf("heartbeat node_id %d", hb.NodeID)
	}
	verifyV2(t, hb, pub)
}

// TestAuthAutoFollowsAuthVersions (cli.md §3.1): auto mode stays on v2
// when register_ok lists "v2" and drops to v1 when the field is missing;
// register itself always carries the v2 proof.
func TestAuthAutoFollowsAuthVersions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		want  AuthMode
	}{
		{"v2 listed", `{"type":"register_ok","node_id":9,"auth_versions":["v2","v1"]}`, AuthV2},
		{"original registry", `{"type":"register_ok","node_id":9}`, AuthV1},
		{"v1 only", `{"type":"register_ok","node_id":9,"auth_versions":["v1"]}`, AuthV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, nil, func(_ int, req regmsg.Request) response {
				if req.Type() == regmsg.TypeRegister {
					return response{body: []byte(tc.reply)}
				}
				return okReply(req.Type())
			})
			c, _ := newTestClient(t, f, func(cfg *Config) { cfg.NodeID = 0; cfg.AuthMode = AuthAuto })
			if c.AuthMode() != AuthV2 {
				t.Fatalf("auto starts with %v", c.AuthMode())
			}
			if _, err := c.Register(ctxT(t), nil); err != nil {
				t.Fatal(err)
			}
			if regmsg.AuthVersion(f.last()) != regmsg.AuthV2 {
				t.Fatal("register without v2 proof")
			}
			if c.AuthMode() != tc.want {
				t.Fatalf("mode %v, want %v", c.AuthMode(), tc.want)
			}
			if _, err := c.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			hb := f.last()
			switch tc.want {
			case AuthV2:
				verifyV2(t, hb, pubOf(c.Identity()))
			case AuthV1:
				if regmsg.AuthVersion(hb) != regmsg.AuthV1 {
					t.Fatalf("heartbeat is %v, want v1", regmsg.AuthVersion(hb))
				}
				verifySig(t, pubOf(c.Identity()), []byte("heartbeat:9"), *hb.AuthFields().Signature)
			}
		})
	}
}

// TestV1ModeKeepsV2WithoutChallenge: forced v1 signs challenges, but
// register and messages without a v1 challenge keep v2.
func TestV1ModeKeepsV2WithoutChallenge(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.AuthMode = AuthV1 })
	if _, err := c.ListNetworks(ctxT(t), false, regmsg.Page{}); err != nil {
		t.Fatal(err)
	}
	verifyV2(t, f.last(), pubOf(c.Identity()))
	if _, err := c.RotateKey(ctxT(t), testIdentity(t, 2), ""); err != nil {
		t.Fatal(err)
	}
	rk := f.last().(*regmsg.RotateKey)
	if regmsg.AuthVersion(rk) != regmsg.AuthV1 || rk.NewKeySignature != nil {
		t.Fatalf("v1 rotate_key: version %v, new_key_signature %v", regmsg.AuthVersion(rk), rk.NewKeySignature)
	}
	verifySig(t, pubOf(testIdentity(t, 1)), []byte("rotate:7"), *rk.Signature)
}

// TestRotateKeyDualSignature (§5.4): signature by the current key and
// new_key_signature by the new key over the same canonical string; the
// client then signs with the new key.
func TestRotateKeyDualSignature(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, nil)
	oldID, newID := c.Identity(), testIdentity(t, 2)
	if _, err := c.RotateKey(ctxT(t), newID, "2027-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	rk := f.last().(*regmsg.RotateKey)
	if rk.NewPublicKey != newID.PublicKeyBase64() || rk.ExpiresAt == nil || *rk.ExpiresAt != "2027-01-01T00:00:00Z" {
		t.Fatalf("rotate_key fields: %+v", rk)
	}
	msg := verifyV2(t, rk, pubOf(oldID))
	verifySig(t, pubOf(newID), msg, *rk.NewKeySignature)
	if c.Identity() != newID {
		t.Fatal("client did not switch to the new key")
	}
	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	verifyV2(t, f.last(), pubOf(newID))
}

// TestRotateKeyNotResent: a rotate_key whose connection dies after the
// write is not resent (the outcome is unknown) and the key stays.
func TestRotateKeyNotResent(t *testing.T) {
	f := newFake(t, nil, func(int, regmsg.Request) response { return response{close: true} })
	c, _ := newTestClient(t, f, nil)
	oldID := c.Identity()
	_, err := c.RotateKey(ctxT(t), testIdentity(t, 2), "")
	if !errors.Is(err, ErrTransport) {
		t.Fatalf("err = %v, want ErrTransport", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("rotate_key sent %d times", n)
	}
	if c.Identity() != oldID {
		t.Fatal("identity changed after an unknown outcome")
	}
}

// TestReassignKeySignedByNewKey (§7.1.10): signer 0, new_public_key and
// signature from the new identity, plus the admin token.
func TestReassignKeySignedByNewKey(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, nil)
	newID := testIdentity(t, 3)
	if _, err := c.ReassignKey(ctxT(t), 42, SignWith(newID), WithAdminToken("global-secret")); err != nil {
		t.Fatal(err)
	}
	ra := f.last().(*regmsg.ReassignKey)
	if ra.NodeID != 42 || ra.NewPublicKey != newID.PublicKeyBase64() || ra.Signer() != 0 {
		t.Fatalf("reassign_key fields: %+v", ra)
	}
	if ra.AdminToken == nil || *ra.AdminToken != "global-secret" {
		t.Fatal("admin_token missing")
	}
	verifyV2(t, ra, pubOf(newID))
	if c.NodeID() != 7 || c.Identity() == newID {
		t.Fatal("reassign_key changed the client's own state")
	}
}

// TestSignedCallNeedsIdentity: a signer without identity fails before
// sending; anonymous calls need none.
func TestSignedCallNeedsIdentity(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.Identity = nil })
	if _, err := c.Heartbeat(ctxT(t)); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("err = %v, want ErrNoIdentity", err)
	}
	if _, err := c.Register(ctxT(t), nil); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("register err = %v, want ErrNoIdentity", err)
	}
	if len(f.requests()) != 0 {
		t.Fatal("a request was sent")
	}
	c.SetNodeID(0)
	if _, err := c.Lookup(ctxT(t), 9); err != nil {
		t.Fatal(err)
	}
	if lk := f.last().(*regmsg.Lookup); regmsg.AuthVersion(lk) != regmsg.AuthUnsigned || lk.RequesterID != 0 {
		t.Fatalf("anonymous lookup: %+v", lk)
	}
}

// TestUnsignedTokenOnly: Unsigned sends no ts, nonce or signature, keeps
// the subject and carries the admin token.
func TestUnsignedTokenOnly(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, nil)
	if _, err := c.SetHostname(ctxT(t), "alpha", Unsigned(), WithAdminToken("tok-123")); err != nil {
		t.Fatal(err)
	}
	sh := f.last().(*regmsg.SetHostname)
	a := sh.AuthFields()
	if a.TS != nil || a.Nonce != nil || a.Signature != nil || sh.NodeID != 7 || *a.AdminToken != "tok-123" {
		t.Fatalf("token-only set_hostname: %+v", sh)
	}
}

// TestPublicKeyMustBeSigners: a register carrying another key is refused
// locally (nobody else can sign its proof).
func TestPublicKeyMustBeSigners(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, nil)
	other := testIdentity(t, 9).PublicKeyBase64()
	if _, err := c.Register(ctxT(t), &regmsg.Register{PublicKey: other}); err == nil {
		t.Fatal("register with a foreign key was sent")
	}
	if len(f.requests()) != 0 {
		t.Fatal("a request was sent")
	}
}
