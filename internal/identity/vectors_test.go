package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

// authFile mirrors testdata/vectors/registry_auth.json. auth_v2 and
// legacy_v1 belong to the packages that build the canonical strings; this
// package decodes only what it needs from them (the signatures).
type authFile struct {
	About string `json:"about"`
	Keys  map[string]struct {
		SeedHex   string `json:"seed_hex"`
		PublicKey string `json:"public_key"`
		NodeID    uint32 `json:"node_id"`
	} `json:"keys"`
	AuthV2     json.RawMessage `json:"auth_v2"`
	AuditChain struct {
		About   string `json:"about"`
		Entries []struct {
			Row       json.RawMessage `json:"row"`
			Canonical string          `json:"canonical"`
			PrevHash  string          `json:"prev_hash"`
			Hash      string          `json:"hash"`
		} `json:"entries"`
	} `json:"audit_chain"`
	LegacyV1 json.RawMessage `json:"legacy_v1"`
}

func loadAuth(t *testing.T) authFile {
	t.Helper()
	var v authFile
	testvec.Load(t, "registry_auth.json", &v)
	if len(v.Keys) == 0 || len(v.AuditChain.Entries) == 0 {
		t.Fatal("registry_auth.json: no keys or audit entries")
	}
	return v
}

func TestVectors_Keys(t *testing.T) {
	v := loadAuth(t)
	for name, k := range v.Keys {
		t.Run(name, func(t *testing.T) {
			id, err := FromSeed(testvec.Hex(t, k.SeedHex))
			if err != nil {
				t.Fatal(err)
			}
			if got := id.PublicKeyBase64(); got != k.PublicKey {
				t.Fatalf("public key %s, want %s", got, k.PublicKey)
			}
			pub, err := ParsePublicKey(k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pub, id.PublicKey()) {
				t.Fatal("ParsePublicKey disagrees with the derived key")
			}
			back, err := ParseFile(MarshalFile(id))
			if err != nil || back.PublicKeyBase64() != k.PublicKey {
				t.Fatalf("file round trip: %v", err)
			}
		})
	}
}

// TestVectors_AuthV2Signatures signs every auth v2 canonical string with its
// key: Ed25519 is deterministic, so the signature must be the vector's.
func TestVectors_AuthV2Signatures(t *testing.T) {
	v := loadAuth(t)
	var entries []struct {
		Name             string `json:"name"`
		Canonical        string `json:"canonical"`
		SigningSeedHex   string `json:"signing_seed_hex"`
		SigningPublicKey string `json:"signing_public_key"`
		Signature        string `json:"signature"`
	}
	if err := json.Unmarshal(v.AuthV2, &entries); err != nil || len(entries) == 0 {
		t.Fatalf("auth_v2: %v (%d entries)", err, len(entries))
	}
	for _, e := range entries {
		t.Run(e.Name, func(t *testing.T) {
			id, err := FromSeed(testvec.Hex(t, e.SigningSeedHex))
			if err != nil {
				t.Fatal(err)
			}
			if id.PublicKeyBase64() != e.SigningPublicKey {
				t.Fatalf("public key %s, want %s", id.PublicKeyBase64(), e.SigningPublicKey)
			}
			msg := []byte(e.Canonical)
			if got := id.SignBase64(msg); got != e.Signature {
				t.Fatalf("signature %s, want %s", got, e.Signature)
			}
			checkVerify(t, id.PublicKey(), msg, e.Signature)
		})
	}
}

// TestVectors_LegacyV1Signatures checks the original's v1 challenge
// signatures, made by key A.
func TestVectors_LegacyV1Signatures(t *testing.T) {
	v := loadAuth(t)
	var entries []struct {
		Message   string `json:"message"`
		Challenge string `json:"challenge"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(v.LegacyV1, &entries); err != nil || len(entries) == 0 {
		t.Fatalf("legacy_v1: %v (%d entries)", err, len(entries))
	}
	a, err := FromSeed(testvec.Hex(t, v.Keys["A"].SeedHex))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Message, func(t *testing.T) {
			if got := a.SignBase64([]byte(e.Challenge)); got != e.Signature {
				t.Fatalf("signature %s, want %s", got, e.Signature)
			}
			checkVerify(t, a.PublicKey(), []byte(e.Challenge), e.Signature)
		})
	}
}

// checkVerify verifies sig and that any change to message or signature
// makes verification fail.
func checkVerify(t *testing.T, pub []byte, msg []byte, sigB64 string) {
	t.Helper()
	sig, err := ParseSignature(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(pub, msg, sig) {
		t.Fatal("Verify rejects the vector's signature")
	}
	if Verify(pub, append(bytes.Clone(msg), '\n'), sig) {
		t.Fatal("Verify accepts a signature over a different message")
	}
	bad := bytes.Clone(sig)
	bad[10] ^= 1
	if Verify(pub, msg, bad) {
		t.Fatal("Verify accepts a corrupted signature")
	}
}

// TestVectors_AuditChain reproduces every audit_chain entry: canonical bytes
// from the typed row (attrs in §9.3 order) and from the generic JSON value,
// the parse of the canonical bytes, each hash from its prev_hash, and the
// whole chain from hash_0.
func TestVectors_AuditChain(t *testing.T) {
	v := loadAuth(t)
	var chain [32]byte // hash_0
	for i, e := range v.AuditChain.Entries {
		row := decodeAuditRow(t, e.Row)
		t.Run(fmt.Sprintf("seq%d_%s", row.Seq, row.Action), func(t *testing.T) {
			if row.Seq != uint64(i+1) {
				t.Fatalf("seq %d at index %d", row.Seq, i)
			}
			got, err := CanonicalAuditRow(row)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != e.Canonical {
				t.Fatalf("canonical\n got %s\nwant %s", got, e.Canonical)
			}
			generic, err := CanonicalJSON(decodeGeneric(t, e.Row))
			if err != nil || string(generic) != e.Canonical {
				t.Fatalf("CanonicalJSON of the row: %s, %v", generic, err)
			}
			// bytes -> value: the canonical text parses back to the row.
			if !reflect.DeepEqual(decodeGeneric(t, []byte(e.Canonical)), decodeGeneric(t, e.Row)) {
				t.Fatal("canonical bytes do not parse back to the row")
			}
			prev := hash32(t, e.PrevHash)
			if prev != chain {
				t.Fatalf("prev_hash %s, chain so far %x", e.PrevHash, chain)
			}
			h, err := AuditHash(prev, row)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(h[:]) != e.Hash {
				t.Fatalf("hash %x, want %s", h, e.Hash)
			}
			chain = h
		})
	}
	last := v.AuditChain.Entries[len(v.AuditChain.Entries)-1].Hash
	if hex.EncodeToString(chain[:]) != last {
		t.Fatalf("chain head %x, want %s", chain, last)
	}
}

func hash32(t *testing.T, s string) [32]byte {
	t.Helper()
	var h [32]byte
	if b := testvec.Hex(t, s); len(b) != 32 {
		t.Fatalf("hash %q is not 32 bytes", s)
	} else {
		copy(h[:], b)
	}
	return h
}

func decodeGeneric(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// decodeAuditRow decodes a vector row keeping the attributes in file order.
func decodeAuditRow(t *testing.T, data []byte) AuditRow {
	t.Helper()
	var head struct {
		Seq         uint64          `json:"seq"`
		Time        string          `json:"time"`
		Action      string          `json:"action"`
		ActorNodeID uint32          `json:"actor_node_id"`
		AuthVia     string          `json:"auth_via"`
		Attrs       json.RawMessage `json:"attrs"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&head); err != nil {
		t.Fatal(err)
	}
	row := AuditRow{Seq: head.Seq, Time: head.Time, Action: head.Action, ActorNodeID: head.ActorNodeID, AuthVia: head.AuthVia}
	dec = json.NewDecoder(bytes.NewReader(head.Attrs))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("attrs: %v %v", tok, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw any
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		row.Attrs = append(row.Attrs, AuditAttr{Key: tok.(string), Value: typedAttr(t, raw)})
	}
	return row
}

func typedAttr(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			t.Fatalf("attr number %s: %v", x, err)
		}
		return n
	case string, bool:
		return x
	case []any:
		if len(x) == 0 {
			return []string{}
		}
		if _, ok := x[0].(string); ok {
			out := make([]string, len(x))
			for i, e := range x {
				out[i] = e.(string)
			}
			return out
		}
		out := make([]int64, len(x))
		for i, e := range x {
			out[i] = typedAttr(t, e).(int64)
		}
		return out
	}
	t.Fatalf("unexpected attr value %T", v)
	return nil
}

func TestParsePublicKeyErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrKeyLength},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31)), ErrKeyLength},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), ErrKeyLength},
		{"64 bytes", base64.StdEncoding.EncodeToString(make([]byte, 64)), ErrKeyLength},
		{"unpadded", strings.TrimRight(good, "="), ErrBase64},
		{"url alphabet", strings.Repeat("_", 43) + "=", ErrBase64},
		{"newline inside", good[:20] + "\n" + good[20:], ErrBase64},
		{"trailing bits set", good[:42] + "B=", ErrBase64},
		{"not base64", strings.Repeat("!", 44), ErrBase64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePublicKey(tc.in)
			if err == nil || !errors.Is(err, tc.want) {
				t.Fatalf("ParsePublicKey(%q) = %v, want %v", tc.in, err, tc.want)
			}
			if !strings.Contains(err.Error(), "public key") {
				t.Fatalf("error %q does not name the field", err)
			}
		})
	}
	if _, err := ParsePublicKey(good); err != nil {
		t.Fatal(err)
	}
}
