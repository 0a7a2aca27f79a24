package secure

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

type recordVector struct {
	Plaintext string `json:"plaintext"`
	RecordHex string `json:"record_hex"`
}

// serviceVectors mirrors testdata/vectors/services.json; only secure_v2
// belongs to this package.
type serviceVectors struct {
	About       string          `json:"about"`
	HandshakeV2 json.RawMessage `json:"handshake_v2"`
	SecureV2    struct {
		ClientNodeID              uint32       `json:"client_node_id"`
		ClientIdentitySeedHex     string       `json:"client_identity_seed_hex"`
		ServerNodeID              uint32       `json:"server_node_id"`
		ServerIdentitySeedHex     string       `json:"server_identity_seed_hex"`
		ClientEphemeralPrivateHex string       `json:"client_ephemeral_private_hex"`
		ServerEphemeralPrivateHex string       `json:"server_ephemeral_private_hex"`
		ClientHelloHex            string       `json:"client_hello_hex"`
		ServerHelloHex            string       `json:"server_hello_hex"`
		ClientFinishHex           string       `json:"client_finish_hex"`
		SharedSecretHex           string       `json:"shared_secret_hex"`
		TranscriptHashHex         string       `json:"transcript_hash_hex"`
		KC2SHex                   string       `json:"k_c2s_hex"`
		KS2CHex                   string       `json:"k_s2c_hex"`
		FirstClientRecord         recordVector `json:"first_client_record"`
		FirstServerRecord         recordVector `json:"first_server_record"`
	} `json:"secure_v2"`
	WebhookSignature json.RawMessage `json:"webhook_signature"`
}

func key32(t testing.TB, s string) [KeyLen]byte {
	t.Helper()
	b := testvec.Hex(t, s)
	if len(b) != KeyLen {
		t.Fatalf("%q is not 32 bytes", s)
	}
	return [KeyLen]byte(b)
}

// vectorSession replays the secure_v2 vector's handshake from the seeds
// and private keys and checks each message byte for byte.
type vectorSession struct {
	ch   ClientHello
	sh   ServerHello
	cf   ClientFinish
	keys Keys
}

func runVector(t testing.TB) (serviceVectors, vectorSession) {
	var all serviceVectors
	testvec.Load(t, "services.json", &all)
	v := all.SecureV2
	clientID := ed25519.NewKeyFromSeed(testvec.Hex(t, v.ClientIdentitySeedHex))
	serverID := ed25519.NewKeyFromSeed(testvec.Hex(t, v.ServerIdentitySeedHex))
	cPriv, sPriv := key32(t, v.ClientEphemeralPrivateHex), key32(t, v.ServerEphemeralPrivateHex)
	cPub, err := EphemeralPublic(cPriv)
	if err != nil {
		t.Fatal(err)
	}
	sPub, err := EphemeralPublic(sPriv)
	if err != nil {
		t.Fatal(err)
	}

	var s vectorSession
	s.ch = ClientHello{Ephemeral: cPub, NodeID: addr.NodeID(v.ClientNodeID)}
	if got := hex.EncodeToString(s.ch.Marshal()); got != v.ClientHelloHex {
		t.Fatalf("ClientHello %s, want %s", got, v.ClientHelloHex)
	}
	s.sh = ServerHello{Ephemeral: sPub, NodeID: addr.NodeID(v.ServerNodeID)}
	if err := SignServer(serverID, s.ch, &s.sh); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(s.sh.Marshal()); got != v.ServerHelloHex {
		t.Fatalf("ServerHello %s, want %s", got, v.ServerHelloHex)
	}
	if s.cf, err = SignClient(clientID, s.ch, s.sh); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(s.cf.Marshal()); got != v.ClientFinishHex {
		t.Fatalf("ClientFinish %s, want %s", got, v.ClientFinishHex)
	}
	shared, err := SharedSecret(cPriv, sPub)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(shared[:]); got != v.SharedSecretHex {
		t.Fatalf("shared secret %s, want %s", got, v.SharedSecretHex)
	}
	if s.keys, err = DeriveKeys(shared, s.ch, s.sh, s.cf); err != nil {
		t.Fatal(err)
	}
	return all, s
}

// TestServices_13_SecureV2Vector reproduces every field of the secure_v2
// vector in both directions (services.md §9 item 13).
func TestServices_13_SecureV2Vector(t *testing.T) {
	all, s := runVector(t)
	v := all.SecureV2
	serverID := ed25519.NewKeyFromSeed(testvec.Hex(t, v.ServerIdentitySeedHex))
	clientID := ed25519.NewKeyFromSeed(testvec.Hex(t, v.ClientIdentitySeedHex))

	// Decoding side: parse the three messages and verify both signatures.
	ch, err := ParseClientHello(testvec.Hex(t, v.ClientHelloHex))
	if err != nil || ch != s.ch {
		t.Fatalf("ParseClientHello: %+v %v", ch, err)
	}
	sh, err := ParseServerHello(testvec.Hex(t, v.ServerHelloHex))
	if err != nil || sh != s.sh {
		t.Fatalf("ParseServerHello: %+v %v", sh, err)
	}
	cf, err := ParseClientFinish(testvec.Hex(t, v.ClientFinishHex))
	if err != nil || cf != s.cf {
		t.Fatalf("ParseClientFinish: %+v %v", cf, err)
	}
	serverPub, clientPub := serverID.Public().(ed25519.PublicKey), clientID.Public().(ed25519.PublicKey)
	if err := VerifyServer(serverPub, addr.NodeID(v.ServerNodeID), ch, sh); err != nil {
		t.Errorf("VerifyServer: %v", err)
	}
	if err := VerifyClient(clientPub, addr.NodeID(v.ClientNodeID), ch, sh, cf); err != nil {
		t.Errorf("VerifyClient: %v", err)
	}
	// The server side computes the same secret.
	shared, err := SharedSecret(key32(t, v.ServerEphemeralPrivateHex), ch.Ephemeral)
	if err != nil || hex.EncodeToString(shared[:]) != v.SharedSecretHex {
		t.Errorf("server shared secret %x %v", shared, err)
	}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"transcript hash", s.keys.TranscriptHash[:], v.TranscriptHashHex},
		{"k_c2s", s.keys.C2S[:], v.KC2SHex},
		{"k_s2c", s.keys.S2C[:], v.KS2CHex},
	} {
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("%s %x, want %s", c.name, c.got, c.want)
		}
	}

	for _, r := range []struct {
		name string
		vec  recordVector
		key  [KeyLen]byte
		dir  Direction
	}{
		{"client", v.FirstClientRecord, s.keys.C2S, ClientToServer},
		{"server", v.FirstServerRecord, s.keys.S2C, ServerToClient},
	} {
		want := testvec.Hex(t, r.vec.RecordHex)
		sealer, err := NewSealer(r.key, r.dir, ModeV2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sealer.Seal(nil, []byte(r.vec.Plaintext))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s record %x (%v), want %x", r.name, got, err, want)
		}
		opener, err := NewOpener(r.key, r.dir, ModeV2)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := ReadRecord(iotest.OneByteReader(bytes.NewReader(want)), nil)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := opener.Open(nil, rec)
		if err != nil || string(pt) != r.vec.Plaintext {
			t.Errorf("%s record opens to %q (%v)", r.name, pt, err)
		}
	}
}

// TestServices_14_WrongServer: a sig_s made by another key, or a server
// claiming another node, fails the dial (services.md §9 item 14).
func TestServices_14_WrongServer(t *testing.T) {
	all, s := runVector(t)
	v := all.SecureV2
	impostor := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	registry := ed25519.NewKeyFromSeed(testvec.Hex(t, v.ServerIdentitySeedHex)).Public().(ed25519.PublicKey)
	forged := s.sh
	if err := SignServer(impostor, s.ch, &forged); err != nil {
		t.Fatal(err)
	}
	if err := VerifyServer(registry, addr.NodeID(v.ServerNodeID), s.ch, forged); !errors.Is(err, ErrAuth) {
		t.Errorf("forged sig_s accepted: %v", err)
	}
	if err := VerifyServer(registry, addr.NodeID(v.ServerNodeID)+1, s.ch, s.sh); !errors.Is(err, ErrAuth) {
		t.Errorf("server of another node accepted: %v", err)
	}
	clientPub := ed25519.NewKeyFromSeed(testvec.Hex(t, v.ClientIdentitySeedHex)).Public().(ed25519.PublicKey)
	if err := VerifyClient(clientPub, addr.NodeID(v.ClientNodeID)+1, s.ch, s.sh, s.cf); !errors.Is(err, ErrAuth) {
		t.Errorf("client from another stream accepted: %v", err)
	}
	replayed := s.sh
	replayed.Ephemeral[0] ^= 1 // a fresh server ephemeral under a recorded ClientFinish
	if err := VerifyClient(clientPub, addr.NodeID(v.ClientNodeID), s.ch, replayed, s.cf); !errors.Is(err, ErrAuth) {
		t.Errorf("replayed ClientFinish accepted: %v", err)
	}
	for _, pub := range []ed25519.PublicKey{nil, make([]byte, 5)} {
		if err := VerifyServer(pub, addr.NodeID(v.ServerNodeID), s.ch, s.sh); !errors.Is(err, ErrAuth) {
			t.Errorf("key of %d bytes: %v", len(pub), err)
		}
	}
	if err := SignServer(nil, s.ch, &forged); !errors.Is(err, ErrAuth) {
		t.Errorf("SignServer with no key: %v", err)
	}
}

func TestLowOrderPointAborts(t *testing.T) {
	var priv [KeyLen]byte
	priv[0] = 1
	var zero [KeyLen]byte
	if _, err := SharedSecret(priv, zero); err == nil {
		t.Fatal("all-zero shared secret accepted")
	}
}

func TestHelloParseErrors(t *testing.T) {
	_, s := runVector(t)
	ch, sh := s.ch.Marshal(), s.sh.Marshal()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"short ClientHello", func() error { _, err := ParseClientHello(ch[:39]); return err }()},
		{"long ClientHello", func() error { _, err := ParseClientHello(append(ch, 0)); return err }()},
		{"bad magic", func() error { _, err := ParseClientHello(append([]byte("PSC1"), ch[4:]...)); return err }()},
		{"short ServerHello", func() error { _, err := ParseServerHello(sh[:103]); return err }()},
		{"ServerHello magic", func() error { _, err := ParseServerHello(append([]byte("XSC2"), sh[4:]...)); return err }()},
		{"short ClientFinish", func() error { _, err := ParseClientFinish(make([]byte, 63)); return err }()},
		{"short auth record", func() error { _, err := ParseAuthRecord(make([]byte, 91)); return err }()},
	} {
		if !errors.Is(tc.err, ErrMalformed) {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
	}
}

func FuzzParseHandshake(f *testing.F) {
	_, s := runVector(f)
	f.Add(s.ch.Marshal())
	f.Add(s.sh.Marshal())
	f.Add(s.cf.Marshal())
	f.Add(AuthRecord{NodeID: 685, Timestamp: 1}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if ch, err := ParseClientHello(b); err == nil && !bytes.Equal(ch.Marshal(), b) {
			t.Fatalf("ClientHello round trip %x", b)
		}
		if sh, err := ParseServerHello(b); err == nil && !bytes.Equal(sh.Marshal(), b) {
			t.Fatalf("ServerHello round trip %x", b)
		}
		if cf, err := ParseClientFinish(b); err == nil && !bytes.Equal(cf.Marshal(), b) {
			t.Fatalf("ClientFinish round trip %x", b)
		}
		if a, err := ParseAuthRecord(b); err == nil && !bytes.Equal(a.Marshal(), b) {
			t.Fatalf("auth record round trip %x", b)
		}
	})
}

// readAll splits a byte stream into records with ReadRecord.
func readAll(t *testing.T, stream []byte) [][]byte {
	t.Helper()
	r := bytes.NewReader(stream)
	var out [][]byte
	for {
		rec, err := ReadRecord(r, nil)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}
