package conformance

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signNonce signs req as signer with key k, using the given nonce.
func signNonce(req obj, k ed25519.PrivateKey, signer int64, nonce string) obj {
	ts := time.Now().UnixMilli()
	req["ts"] = ts
	req["nonce"] = nonce
	sig := ed25519.Sign(k, []byte(canonical(req["type"].(string), signer, ts, nonce, params(req))))
	req["signature"] = base64.StdEncoding.EncodeToString(sig)
	return req
}

// §5.2 step 5: "The nonce is recorded only after step 4 succeeds." and the
// replay key is "the pair (verifying key, nonce)".
func TestConf_5_2_NonceRecordedAfterVerification(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	nonce := newNonce()
	// A forged request (bad signature) with the nonce must not burn it.
	bad := signNonce(obj{"type": "set_visibility", "node_id": a.id, "public": true}, a.key, a.id, nonce)
	bad["public"] = false
	c.fail(bad, "unauthenticated", "")
	c.ok(signNonce(obj{"type": "set_visibility", "node_id": a.id, "public": true}, a.key, a.id, nonce))
	// The same nonce under another node's key is a different pair: accepted.
	c.ok(signNonce(obj{"type": "set_visibility", "node_id": b.id, "public": true}, b.key, b.id, nonce))
	// The same nonce again under a's key is a replay, even in a fresh request.
	c.fail(signNonce(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, nonce), "unauthenticated", "replayed request")
}

// §5.2 step 5 applies to reads too: "For reads and heartbeats an in-memory
// cache per process suffices."
func TestConf_5_2_ReadReplay(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	req := a.sign(obj{"type": "lookup", "requester_id": a.id, "node_id": a.id})
	c.ok(req)
	c.fail(req, "unauthenticated", "replayed request")
	req = a.sign(obj{"type": "list_networks", "node_id": a.id})
	c.ok(req)
	c.fail(req, "unauthenticated", "replayed request")
}

// §5.2 step 4: "Ed25519 verification of the signature over the canonical
// string (strict: non-canonical S and wrong lengths fail)."
func TestConf_5_2_StrictSignature(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	// S + L is the same scalar mod L, but non-canonical.
	L, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	req := a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true})
	sig, _ := base64.StdEncoding.DecodeString(req["signature"].(string))
	le := func(b []byte) []byte {
		o := make([]byte, len(b))
		for i := range b {
			o[len(b)-1-i] = b[i]
		}
		return o
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, L)
	sb := s.FillBytes(make([]byte, 32))
	copy(sig[32:], le(sb))
	req["signature"] = b64(sig)
	c.fail(req, "unauthenticated", "")
	// wrong lengths: 63 and 65 bytes
	for _, n := range []int{63, 65} {
		req = a.sign(obj{"type": "heartbeat", "node_id": a.id})
		sig, _ = base64.StdEncoding.DecodeString(req["signature"].(string))
		if n == 63 {
			sig = sig[:63]
		} else {
			sig = append(sig, 0)
		}
		req["signature"] = b64(sig)
		c.fail(req, "unauthenticated", "")
	}
	// §5.2 step 1: not b64 (URL alphabet), nonce of 17 bytes, nonce without padding.
	req = a.sign(obj{"type": "heartbeat", "node_id": a.id})
	req["signature"] = strings.NewReplacer("+", "-", "/", "_").Replace(req["signature"].(string)) + "!"
	c.fail(req, "unauthenticated", "")
	req = signNonce(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, b64(make([]byte, 17)))
	c.fail(req, "unauthenticated", "")
	req = signNonce(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, strings.TrimRight(newNonce(), "="))
	c.fail(req, "unauthenticated", "")
	// §5.5: signature + ts (no nonce) is a v2 request; step 1 fails.
	req = a.sign(obj{"type": "heartbeat", "node_id": a.id})
	delete(req, "nonce")
	p := c.fail(req, "unauthenticated", "")
	if strings.Contains(p.msg(), "-legacy-v1-auth") {
		t.Errorf("a request with ts is v2, not v1: %s", p)
	}
}

// §4.4: "`limit` and `cursor` are never part of a signature."
func TestConf_4_4_LimitCursorUnsigned(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	for _, n := range []string{"lc1", "lc2", "lc3"} {
		c.createNet(o, n, "", nil)
	}
	req := o.sign(obj{"type": "list_networks", "node_id": o.id})
	req["limit"] = 1
	p := c.ok(req)
	var page struct {
		Networks   []map[string]any `json:"networks"`
		NextCursor string           `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &page)
	if len(page.Networks) != 1 || page.NextCursor == "" {
		t.Fatalf("page 1: %s", p)
	}
	req = o.sign(obj{"type": "list_networks", "node_id": o.id})
	req["limit"] = 1
	req["cursor"] = page.NextCursor
	p = c.ok(req)
	page.Networks = nil
	json.Unmarshal(p.raw, &page)
	if len(page.Networks) != 1 || page.Networks[0]["name"] != "lc2" {
		t.Errorf("page 2: %s", p)
	}
	// poll_invites, poll_handshakes, get_audit_log, list_nodes the same way
	for _, q := range []obj{
		{"type": "poll_invites", "node_id": o.id},
		{"type": "poll_handshakes", "node_id": o.id},
		{"type": "list_nodes", "node_id": o.id, "network_id": 1},
		{"type": "get_audit_log", "node_id": o.id, "network_id": 1},
	} {
		q = o.sign(q)
		q["limit"] = 1
		c.ok(q)
	}
}

// §5.2 step 2: "`|registry_now_ms − ts| ≤ skew` (flag `-auth-skew`, default 60 s)".
func TestConf_5_2_AuthSkewFlag(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-auth-skew", "5s")
	c := r.dial()
	a := c.register(nil)
	c.fail(signWith(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, 7*time.Second), "unauthenticated", "NTP")
	c.fail(signWith(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, -7*time.Second), "unauthenticated", "NTP")
	c.ok(signWith(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, 3*time.Second))
	c.ok(signWith(obj{"type": "heartbeat", "node_id": a.id}, a.key, a.id, -3*time.Second))
}

// §5.4: a `new_key_signature` "that is malformed or does not verify under
// `new_public_key` is `unauthenticated`"; §7.1.7 a retired key as
// `new_public_key` is `already_exists`; §10 rule 3 "The expiry of the old
// key does not carry over."
func TestConf_5_4_RotateKeyDetails(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	nk := newKey()
	req := a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	req["new_key_signature"] = "not base64 !!"
	c.fail(req, "unauthenticated", "")
	req = a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	req["new_key_signature"] = b64(make([]byte, 64))
	c.fail(req, "unauthenticated", "")
	req = a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64(), "expires_at": "2001-01-01T00:00:00Z"})
	req["new_key_signature"] = signCanon(nk, req, a.id)
	c.fail(req, "invalid_argument", "")
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	c.ok(a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": exp}))
	old := *a
	req = a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	req["new_key_signature"] = signCanon(nk, req, a.id)
	p := c.ok(req)
	if _, ok := p.m["expires_at"]; ok {
		t.Errorf("rotate_key without expires_at kept an expiry: %s", p)
	}
	ki := c.ok(obj{"type": "get_key_info", "node_id": a.id})
	if _, ok := ki.m["expires_at"]; ok {
		t.Errorf("old expiry carried over: %s", ki)
	}
	nk.id = a.id
	// rotating back to the retired key: already_exists
	req = nk.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": old.pubB64()})
	req["new_key_signature"] = signCanon(&old, req, a.id)
	c.fail(req, "already_exists", "")
	// reassign_key to a retired key: already_exists (§7.1.10 "MUST NOT be retired")
	c.fail(signWith(obj{"type": "reassign_key", "node_id": a.id, "new_public_key": old.pubB64(), "admin_token": adminTok}, old.key, 0, 0), "already_exists", "")
	// §7.1.10 effects: rotate_count + 1, rotated_at, expires_at cleared.
	c.ok(nk.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": exp}))
	rk := newKey()
	c.ok(signWith(obj{"type": "reassign_key", "node_id": a.id, "new_public_key": rk.pubB64(), "admin_token": adminTok}, rk.key, 0, 0))
	ki = c.ok(obj{"type": "get_key_info", "node_id": a.id})
	if ki.num("rotate_count") != 2 || !secTime.MatchString(ki.str("rotated_at")) || ki.m["expired"] != false {
		t.Errorf("get_key_info after reassign: %s", ki)
	}
	if _, ok := ki.m["expires_at"]; ok {
		t.Errorf("reassign_key did not clear expires_at: %s", ki)
	}
	p = c.ok(obj{"type": "lookup", "node_id": a.id})
	if p.str("public_key") != rk.pubB64() {
		t.Errorf("lookup after reassign: %s", p)
	}
	// §7.1.9: rotated_at absent if never rotated; expires_at absent if not set.
	b := c.register(nil)
	ki = c.ok(obj{"type": "get_key_info", "node_id": b.id})
	for _, k := range []string{"rotated_at", "expires_at"} {
		if _, ok := ki.m[k]; ok {
			t.Errorf("get_key_info of a fresh node has %s: %s", k, ki)
		}
	}
	if ki.num("node_id") != b.id {
		t.Errorf("get_key_info node_id: %s", ki)
	}
	c.fail(obj{"type": "get_key_info", "node_id": 4242}, "not_found", "")
}

// vectorsFile is testdata/vectors/registry_auth.json (the spec's vectors).
func vectorsFile(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "registry_auth.json"))
	if err != nil {
		t.Fatalf("the spec vectors are part of the repository: %v", err)
	}
	return b
}

// §5.1 / §9.2 / §14 items 15, 65: the harness reproduces the spec's vectors
// (canonical strings, signatures, audit chain), so every other test here
// signs and hashes exactly as the spec says.
func TestConf_15_65_Vectors(t *testing.T) {
	var v struct {
		AuthV2 []struct {
			Name       string         `json:"name"`
			Signer     int64          `json:"signer_node_id"`
			Canonical  string         `json:"canonical"`
			Seed       string         `json:"signing_seed_hex"`
			Signature  string         `json:"signature"`
			NewKeySeed string         `json:"new_key_seed_hex"`
			NewKeySig  string         `json:"new_key_signature"`
			Request    map[string]any `json:"request"`
		} `json:"auth_v2"`
		AuditChain struct {
			Entries []struct {
				Row       json.RawMessage `json:"row"`
				Canonical string          `json:"canonical"`
				Prev      string          `json:"prev_hash"`
				Hash      string          `json:"hash"`
			} `json:"entries"`
		} `json:"audit_chain"`
	}
	if err := json.Unmarshal(vectorsFile(t), &v); err != nil {
		t.Fatal(err)
	}
	for _, e := range v.AuthV2 {
		req := obj(e.Request)
		ts := int64(req["ts"].(float64))
		got := canonical(req["type"].(string), e.Signer, ts, req["nonce"].(string), params(req))
		if got != e.Canonical {
			t.Errorf("%s: canonical\n got %q\nwant %q", e.Name, got, e.Canonical)
		}
		seed, _ := hex.DecodeString(e.Seed)
		sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(e.Canonical))
		if b64(sig) != e.Signature {
			t.Errorf("%s: signature differs", e.Name)
		}
		if e.NewKeySeed != "" {
			seed, _ = hex.DecodeString(e.NewKeySeed)
			if b64(ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(e.Canonical))) != e.NewKeySig {
				t.Errorf("%s: new_key_signature differs", e.Name)
			}
		}
	}
	prev := make([]byte, 32)
	for i, e := range v.AuditChain.Entries {
		row, err := decode(e.Row)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		jcs(&buf, row)
		if buf.String() != e.Canonical {
			t.Errorf("entry %d: jcs\n got %s\nwant %s", i, buf.String(), e.Canonical)
		}
		if hex.EncodeToString(prev) != e.Prev {
			t.Errorf("entry %d: prev hash", i)
		}
		h := sha256.New()
		h.Write(prev)
		h.Write([]byte(e.Canonical))
		prev = h.Sum(nil)
		if hex.EncodeToString(prev) != e.Hash {
			t.Errorf("entry %d: hash %x want %s", i, prev, e.Hash)
		}
	}
}
