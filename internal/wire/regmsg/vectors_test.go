package regmsg

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

type authFile struct {
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
	AuditChain json.RawMessage `json:"audit_chain"` // another package's vectors
	LegacyV1   []struct {
		Message   string `json:"message"`
		Challenge string `json:"challenge"`
		Signature string `json:"signature"`
	} `json:"legacy_v1"`
}

func loadVectors(t testing.TB, f *authFile) { testvec.Load(t, "registry_auth.json", f) }

func loadAuth(t testing.TB) authFile {
	var f authFile
	loadVectors(t, &f)
	if len(f.AuthV2) != 6 || len(f.LegacyV1) != 4 {
		t.Fatalf("vector counts changed: %d auth_v2, %d legacy_v1", len(f.AuthV2), len(f.LegacyV1))
	}
	return f
}

func verify(t *testing.T, seedHex string, msg []byte, sigB64 string) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(testvec.Hex(t, seedHex))
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatalf("signature does not verify over %q", msg)
	}
	if !bytes.Equal(ed25519.Sign(priv, msg), sig) {
		t.Fatalf("re-signing gives another signature")
	}
}

// TestAuthV2Vectors is conformance item 15: each vector request decodes, its
// canonical string is byte-identical, the signature verifies, and the
// request re-encodes to JSON that decodes to the same struct.
func TestAuthV2Vectors(t *testing.T) {
	f := loadAuth(t)
	for _, v := range f.AuthV2 {
		t.Run(v.Name, func(t *testing.T) {
			req, err := DecodeRequest(v.Request)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if AuthVersion(req) != AuthV2 {
				t.Fatalf("AuthVersion = %v", AuthVersion(req))
			}
			if uint32(req.Signer()) != v.SignerNodeID {
				t.Fatalf("Signer = %d, want %d", req.Signer(), v.SignerNodeID)
			}
			got := CanonicalV2(req)
			if string(got) != v.Canonical {
				t.Fatalf("canonical\n got %q\nwant %q", got, v.Canonical)
			}
			verify(t, v.SigningSeedHex, got, v.Signature)
			pub := ed25519.NewKeyFromSeed(testvec.Hex(t, v.SigningSeedHex)).Public().(ed25519.PublicKey)
			if base64.StdEncoding.EncodeToString(pub) != v.SigningPublicKey {
				t.Fatalf("seed does not give signing_public_key")
			}
			if reg, ok := req.(*Register); ok && reg.PublicKey != v.SigningPublicKey {
				t.Fatalf("register is verified with its own public_key")
			}
			if *req.AuthFields().Signature != v.Signature {
				t.Fatalf("signature field not kept verbatim")
			}
			if v.NewKeySeedHex != "" {
				rk := req.(*RotateKey)
				if rk.NewKeySignature == nil || *rk.NewKeySignature != v.NewKeySignature {
					t.Fatalf("new_key_signature not decoded")
				}
				verify(t, v.NewKeySeedHex, got, v.NewKeySignature)
			}
			// Encode direction: MarshalRequest → DecodeRequest → same struct
			// and the same canonical bytes.
			body, _ := MarshalRequest(req)
			again, err := DecodeRequest(body)
			if err != nil {
				t.Fatalf("re-decode %s: %v", body, err)
			}
			assertEqualRequests(t, req, again)
			if !bytes.Equal(CanonicalV2(again), got) {
				t.Fatalf("canonical changed after re-encoding")
			}
		})
	}
}

// TestAuthV2_C15_EveryChangeAltersCanonical: changing any signed parameter,
// ts, nonce, type or signer changes the canonical string.
func TestAuthV2_C15_EveryChangeAltersCanonical(t *testing.T) {
	f := loadAuth(t)
	for _, v := range f.AuthV2 {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(v.Request))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		req, err := DecodeRequest(v.Request)
		if err != nil {
			t.Fatal(err)
		}
		base := string(CanonicalV2(req))
		mutate := func(what string, change func(m map[string]any)) {
			t.Helper()
			c := map[string]any{}
			for k, x := range m {
				c[k] = x
			}
			change(c)
			body, _ := json.Marshal(c)
			r2, err := DecodeRequest(body)
			if err != nil {
				t.Fatalf("%s/%s: mutated request rejected: %v", v.Name, what, err)
			}
			if string(CanonicalV2(r2)) == base {
				t.Errorf("%s: changing %s leaves the canonical string unchanged", v.Name, what)
			}
		}
		mutate("ts", func(m map[string]any) { m["ts"] = json.Number("1774606599999") })
		mutate("nonce", func(m map[string]any) { m["nonce"] = "AAAAAAAAAAAAAAAAAAAAAA==" })
		if m["type"] == "heartbeat" {
			mutate("type", func(m map[string]any) { m["type"] = "deregister" })
		}
		if v.SignerNodeID != 0 {
			for _, k := range []string{"node_id", "from_node_id"} {
				if _, ok := m[k]; ok {
					mutate("signer", func(m map[string]any) { m[k] = json.Number("686") })
				}
			}
		}
		signed := map[string]any{
			"public_key": "5/FioQvsVZr+oZXk3OhLaVaNXSywlj60RsBoXisX8vA=", "listen_addr": "0.0.0.0:4001",
			"hostname": "beta", "owner": "x@example.com", "lan_addrs": []any{"10.0.0.6:4000"},
			"capabilities": []any{"auth-v2"}, "version": "1.5.1", "network_id": json.Number("4"),
			"token": "other", "allowed_ports": []any{json.Number("80")}, "to_node_id": json.Number("687"),
			"justification": "other", "new_public_key": "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",
		}
		for k, nv := range signed {
			if _, ok := m[k]; ok {
				mutate(k, func(m map[string]any) { m[k] = nv })
			}
		}
		// Adding an absent optional signed field also changes the string.
		switch m["type"] {
		case "set_network_policy":
			mutate("+max_members", func(m map[string]any) { m["max_members"] = json.Number("0") })
			mutate("+description", func(m map[string]any) { m["description"] = "" })
		case "rotate_key":
			mutate("+expires_at", func(m map[string]any) { m["expires_at"] = "2030-01-01T00:00:00Z" })
		}
	}
}

// TestLegacyV1Vectors (conformance item 19): each challenge is reproduced
// from a request of its message and verifies with key A.
func TestLegacyV1Vectors(t *testing.T) {
	f := loadAuth(t)
	keyA := f.Keys["A"]
	bodies := map[string]string{
		"heartbeat":         `{"type":"heartbeat","node_id":685,"signature":"x"}`,
		"join_network":      `{"type":"join_network","node_id":685,"network_id":3,"signature":"x"}`,
		"invite_to_network": `{"type":"invite_to_network","inviter_id":685,"network_id":3,"target_node_id":686,"signature":"x"}`,
		"respond_handshake": `{"type":"respond_handshake","node_id":685,"peer_id":686,"accept":true,"signature":"x"}`,
	}
	for _, v := range f.LegacyV1 {
		req, err := DecodeRequest([]byte(bodies[v.Message]))
		if err != nil {
			t.Fatalf("%s: %v", v.Message, err)
		}
		if AuthVersion(req) != AuthV1 {
			t.Fatalf("%s: AuthVersion = %v, want v1", v.Message, AuthVersion(req))
		}
		ch, ok := V1Challenge(req)
		if !ok || ch != v.Challenge {
			t.Fatalf("%s: challenge %q, want %q", v.Message, ch, v.Challenge)
		}
		if uint32(req.Signer()) != keyA.NodeID {
			t.Fatalf("%s: signer %d", v.Message, req.Signer())
		}
		verify(t, keyA.SeedHex, []byte(ch), v.Signature)
	}
}

func TestV1ChallengesTable(t *testing.T) {
	cases := map[string]string{
		`{"type":"deregister","node_id":7}`:                                  "deregister:7",
		`{"type":"set_visibility","node_id":7,"public":true}`:                "set_visibility:7",
		`{"type":"set_hostname","node_id":7,"hostname":"a"}`:                 "set_hostname:7",
		`{"type":"set_tags","node_id":7}`:                                    "set_tags:7",
		`{"type":"set_task_exec","node_id":7,"enabled":false}`:               "set_task_exec:7",
		`{"type":"set_key_expiry","node_id":7,"expires_at":""}`:              "set_key_expiry:7",
		`{"type":"rotate_key","node_id":7,"new_public_key":"` + keyB + `"}`:  "rotate:7",
		`{"type":"resolve","requester_id":7,"node_id":9}`:                    "resolve:7:9",
		`{"type":"punch","requester_id":7,"node_a":7,"node_b":9}`:            "punch:7:9",
		`{"type":"report_trust","node_id":7,"peer_id":9}`:                    "report_trust:7:9",
		`{"type":"revoke_trust","node_id":7,"peer_id":9}`:                    "revoke_trust:7:9",
		`{"type":"request_handshake","from_node_id":7,"to_node_id":9}`:       "handshake:7:9",
		`{"type":"poll_handshakes","node_id":7}`:                             "poll_handshakes:7",
		`{"type":"leave_network","node_id":7,"network_id":3}`:                "leave_network:7:3",
		`{"type":"poll_invites","node_id":7}`:                                "poll_invites:7",
		`{"type":"respond_invite","node_id":7,"network_id":3,"accept":true}`: "respond_invite:7:3",
	}
	for body, want := range cases {
		req := mustDecode(t, body)
		if got, ok := V1Challenge(req); !ok || got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
	if _, ok := V1Challenge(mustDecode(t, `{"type":"lookup","node_id":7}`)); ok {
		t.Errorf("lookup has no v1 challenge")
	}
}

const keyB = "5/FioQvsVZr+oZXk3OhLaVaNXSywlj60RsBoXisX8vA="

func mustDecode(t testing.TB, body string) Request {
	t.Helper()
	req, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return req
}

func TestSignerZeroForProofMessages(t *testing.T) {
	r := mustDecode(t, `{"type":"reassign_key","node_id":42,"new_public_key":"`+keyB+`","ts":5,"nonce":"n"}`)
	got := string(CanonicalV2(r))
	want := strings.Join([]string{"pilot-reg-v2", "reassign_key", "0", "5", "n", "42", keyB}, "\n")
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	var _ addr.NodeID = r.Signer()
}
