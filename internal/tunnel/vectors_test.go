package tunnel

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/tunnel/session"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// tunnelFile mirrors testdata/vectors/tunnel.json.
type tunnelFile struct {
	About  string `json:"about"`
	Frames []struct {
		Name             string `json:"name"`
		FrameHex         string `json:"frame_hex"`
		SenderNode       uint32 `json:"sender_node"`
		Counter          uint64 `json:"counter"`
		NoncePrefix      string `json:"nonce_prefix"`
		PlaintextHex     string `json:"plaintext_hex"`
		PlaintextPacket  string `json:"plaintext_packet"`
		Ed25519Public    string `json:"ed25519_public"`
		Ed25519Seed      string `json:"ed25519_seed"`
		SignedMessageHex string `json:"signed_message_hex"`
		X25519Public     string `json:"x25519_public"`
	} `json:"frames"`
	MustReject []struct {
		Name     string `json:"name"`
		FrameHex string `json:"frame_hex"`
		Why      string `json:"why"`
	} `json:"must_reject"`
	X25519 struct {
		APrivate     string `json:"a_private"`
		APublic      string `json:"a_public"`
		BPrivate     string `json:"b_private"`
		BPublic      string `json:"b_public"`
		SharedSecret string `json:"shared_secret"`
		TunnelKey    string `json:"tunnel_key"`
	} `json:"x25519"`
}

// TestWire_C3_OriginalFrames feeds the original's frames of tunnel.json to
// a manager playing node 687 with the vector's X25519 key b: pila_a (node
// 686) builds the vector's tunnel key, pils_a_to_b opens under it and is
// then dropped by the inner checks (its packet's addresses are not 686 →
// 687, §5.3); every must_reject frame is rejected. Our answering PILA
// decodes and verifies with the frame codec as the original would read it.
func TestWire_C3_OriginalFrames(t *testing.T) {
	var v tunnelFile
	testvec.Load(t, "tunnel.json", &v)
	frames := map[string][]byte{}
	var edPub ed25519.PublicKey
	for _, f := range v.Frames {
		frames[f.Name] = testvec.Hex(t, f.FrameHex)
		if f.Name == "pila_a" {
			edPub = testvec.Hex(t, f.Ed25519Public)
		}
	}
	reject := map[string][]byte{}
	for _, f := range v.MustReject {
		reject[f.Name] = testvec.Hex(t, f.FrameHex)
	}
	bPriv, err := ecdh.X25519().NewPrivateKey(testvec.Hex(t, v.X25519.BPrivate))
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{})
		reg := newRegistry()
		reg.set(686, edPub, epOf(pubX))
		mustHost(t, n, pubB, pubX)
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{
			newKey: func() (keyPair, error) { return bPriv, nil },
		})
		raw := listen(t, n, pubX, 4000)

		mustWrite(t, raw, reject["pila_bad_signature"], epOf(pubB))
		waitUntil(t, time.Second, "bad signature rejected", func() bool { return b.m.Counters().KeyExchangeRejected == 1 })

		mustWrite(t, raw, frames["pila_a"], epOf(pubB))
		buf := make([]byte, 2048)
		_ = raw.SetReadDeadline(time.Now().Add(time.Second))
		nr, _, err := raw.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no PILA answer: %v", err)
		}
		var ans frame.PILA
		if err := ans.Decode(buf[:nr]); err != nil || nr != frame.SizePILA {
			t.Fatalf("answer %x: %v", buf[:nr], err)
		}
		if err := session.VerifyPILA(&ans); err != nil || ans.Sender != 687 ||
			!bytes.Equal(ans.X25519[:], testvec.Hex(t, v.X25519.BPublic)) || !bytes.Equal(ans.Ed25519[:], b.ident.PublicKey()) {
			t.Fatalf("answer PILA %+v: %v", ans, err)
		}

		// The truncated frame fails authentication and leaves the window
		// alone: the genuine frame with the same nonce still opens.
		mustWrite(t, raw, reject["pils_truncated_tag"], epOf(pubB))
		waitUntil(t, time.Second, "truncated tag", func() bool { return b.m.Counters().EncryptionFailure == 1 })
		mustWrite(t, raw, frames["pils_a_to_b"], epOf(pubB))
		waitUntil(t, time.Second, "pils_a_to_b opened", func() bool { return b.m.Counters().Opened == 1 })
		if c := b.m.Counters(); c.InnerDrops != 1 {
			t.Fatalf("pils_a_to_b: inner drops %d, want 1 (addresses are not 686 → 687)", c.InnerDrops)
		}
		mustWrite(t, raw, frames["pils_a_to_b"], epOf(pubB)) // same nonce again
		waitUntil(t, time.Second, "replay", func() bool { return b.m.Counters().Replays == 1 })

		dropped := b.m.Counters().Dropped
		mustWrite(t, raw, reject["pils_wrong_aad_sender"], epOf(pubB)) // claims to be 687: us
		waitUntil(t, time.Second, "wrong sender", func() bool { return b.m.Counters().Dropped == dropped+1 })
		if c := b.m.Counters(); c.Opened != 1 || c.EncryptionFailure != 1 {
			t.Fatalf("counters after must_reject: %+v", c)
		}
		if s, _ := b.m.Peer(686); !s.Authenticated || s.Endpoint != epOf(pubX) {
			t.Fatalf("peer 686: %+v", s)
		}
	})
}
