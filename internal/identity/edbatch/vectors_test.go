package edbatch

import (
	"encoding/json"
	"testing"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/testvec"
)

// TestVectors_Signatures batches every Ed25519 signature of
// registry_auth.json (auth v2 and legacy v1), alone, together, and each
// next to a corrupted copy.
func TestVectors_Signatures(t *testing.T) {
	var f struct {
		About string `json:"about"`
		Keys  map[string]struct {
			SeedHex   string `json:"seed_hex"`
			PublicKey string `json:"public_key"`
			NodeID    uint32 `json:"node_id"`
		} `json:"keys"`
		AuthV2     json.RawMessage `json:"auth_v2"`
		AuditChain json.RawMessage `json:"audit_chain"`
		LegacyV1   json.RawMessage `json:"legacy_v1"`
	}
	testvec.Load(t, "registry_auth.json", &f)
	// The entries hold more fields; only these are needed here.
	var authV2 []struct {
		Canonical        string `json:"canonical"`
		SigningPublicKey string `json:"signing_public_key"`
		Signature        string `json:"signature"`
	}
	var legacyV1 []struct {
		Challenge string `json:"challenge"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(f.AuthV2, &authV2); err != nil {
		t.Fatalf("auth_v2: %v", err)
	}
	if err := json.Unmarshal(f.LegacyV1, &legacyV1); err != nil {
		t.Fatalf("legacy_v1: %v", err)
	}
	var items []Item
	for _, e := range authV2 {
		items = append(items, Item{PublicKey: parseKey(t, e.SigningPublicKey), Message: []byte(e.Canonical), Signature: parseSig(t, e.Signature)})
	}
	keyA := parseKey(t, f.Keys["A"].PublicKey)
	for _, e := range legacyV1 {
		items = append(items, Item{PublicKey: keyA, Message: []byte(e.Challenge), Signature: parseSig(t, e.Signature)})
	}
	if len(items) < 4 {
		t.Fatalf("only %d signatures in the vectors", len(items))
	}
	for i, ok := range want(items) {
		if !ok {
			t.Fatalf("vector signature %d does not verify with identity.Verify", i)
		}
	}
	var v Verifier
	check(t, &v, items)
	for i := range items {
		check(t, &v, items[i:i+1])
		bad := corruptions["S bit"](items[i])
		check(t, &v, append(append([]Item{}, items...), bad))
		mixed := append([]Item{}, items...)
		mixed[i] = corruptions["message bit"](items[i])
		check(t, &v, mixed)
	}
}

func parseKey(t *testing.T, s string) []byte {
	t.Helper()
	b, err := identity.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseSig(t *testing.T, s string) []byte {
	t.Helper()
	b, err := identity.ParseSignature(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
