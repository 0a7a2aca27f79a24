package beacon

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// scriptedKeys returns whatever key is current, counting lookups.
type scriptedKeys struct {
	key   atomic.Pointer[ed25519.PublicKey]
	calls atomic.Int32
}

func (k *scriptedKeys) LookupKey(context.Context, addr.NodeID) (ed25519.PublicKey, error) {
	k.calls.Add(1)
	if p := k.key.Load(); p != nil {
		return *p, nil
	}
	return nil, errors.New("registry unreachable")
}

func (k *scriptedKeys) set(id *identity.Identity) {
	if id == nil {
		k.key.Store(nil)
		return
	}
	pub := id.PublicKey()
	k.key.Store(&pub)
}

// verifyHarness drives signed discovers through handle and the
// verification code synchronously (no goroutines): handle queues, the test
// drains the queue with verifyOne.
type verifyHarness struct {
	t    *testing.T
	s    *Server
	clk  *fakeClock
	keys *scriptedKeys
}

func newVerifyHarness(t *testing.T, limits Limits) *verifyHarness {
	clk := newFakeClock()
	keys := &scriptedKeys{}
	s, _ := newMemServer(t, Config{Now: clk.Now, Keys: keys, Limits: limits})
	return &verifyHarness{t: t, s: s, clk: clk, keys: keys}
}

// discover handles one signed Discover from ep and runs its verification
// if it was queued; it returns whether the entry was authenticated by it.
func (h *verifyHarness) discover(b []byte, ep netip.AddrPort) (queued, applied bool) {
	h.s.handle(b, ep, netip.Addr{})
	select {
	case j := <-h.s.verify.q:
		return true, h.s.verifyOne(context.Background(), j)
	default:
		return false, false
	}
}

func (h *verifyHarness) entry(node addr.NodeID) entry {
	e, _ := h.s.table.lookup(node, h.clk.Now())
	return e
}

var (
	epA = netip.MustParseAddrPort("198.51.100.7:41000")
	epB = netip.MustParseAddrPort("203.0.113.9:42000")
)

// The §4 vector: the spec's signed Discover verifies with pila_a's key.
func TestBeacon_SignedDiscoverVector(t *testing.T) {
	msg := testvec.Hex(t, "01000002ae010000019d2eca4c5859104a3fae11ff0c984dd65e55ca2721cc3c8380e2a2f27f7a1875dc85"+
		"0f45087acc8c3580c25ef26da6cb074d1f12f44cb5fae91ce9a12e9d4b2ef9b0518806")
	var tunnel struct {
		About  json.RawMessage `json:"about"`
		Frames []struct {
			Name             string          `json:"name"`
			Ed25519Seed      string          `json:"ed25519_seed"`
			FrameHex         json.RawMessage `json:"frame_hex"`
			SenderNode       json.RawMessage `json:"sender_node"`
			Counter          json.RawMessage `json:"counter"`
			NoncePrefix      json.RawMessage `json:"nonce_prefix"`
			PlaintextHex     json.RawMessage `json:"plaintext_hex"`
			PlaintextPacket  json.RawMessage `json:"plaintext_packet"`
			Ed25519Public    json.RawMessage `json:"ed25519_public"`
			SignedMessageHex json.RawMessage `json:"signed_message_hex"`
			X25519Public     json.RawMessage `json:"x25519_public"`
		} `json:"frames"`
		MustReject json.RawMessage `json:"must_reject"`
		X25519     json.RawMessage `json:"x25519"`
	}
	testvec.Load(t, "tunnel.json", &tunnel)
	var seed []byte
	for _, f := range tunnel.Frames {
		if f.Name == "pila_a" {
			seed = testvec.Hex(t, f.Ed25519Seed)
		}
	}
	id, err := identity.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	h := newVerifyHarness(t, Limits{})
	h.keys.set(id)
	h.clk.ns.Store(time.UnixMilli(1774606503000 + 59_000).UnixNano())
	if queued, applied := h.discover(msg, epA); !queued || !applied {
		t.Fatalf("vector: queued %v applied %v", queued, applied)
	}
	if e := h.entry(686); !e.auth || e.ep != epA || e.lastTS != 1774606503000 {
		t.Fatalf("entry %+v", e)
	}
}

func TestBeacon_SignedDiscoverRules(t *testing.T) {
	const node = addr.NodeID(5)
	id, other := testIdentity(t, 1), testIdentity(t, 2)

	t.Run("bad signature is applied as plain only", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{})
		h.keys.set(id)
		if queued, applied := h.discover(signedDiscover(t, other, node, h.clk.Now()), epA); !queued || applied {
			t.Fatalf("queued %v applied %v", queued, applied)
		}
		if e := h.entry(node); e.auth || e.ep != epA {
			t.Fatalf("entry %+v", e)
		}
	})
	t.Run("timestamp outside ±60 s", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{})
		h.keys.set(id)
		for _, d := range []time.Duration{-61 * time.Second, 61 * time.Second} {
			if queued, _ := h.discover(signedDiscover(t, id, node, h.clk.Now().Add(d)), epA); queued {
				t.Fatalf("offset %v queued", d)
			}
		}
		if queued, applied := h.discover(signedDiscover(t, id, node, h.clk.Now().Add(59*time.Second)), epA); !queued || !applied {
			t.Fatal("timestamp within the window rejected")
		}
	})
	t.Run("registry unreachable: plain, never authenticated", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{})
		if _, applied := h.discover(signedDiscover(t, id, node, h.clk.Now()), epA); applied {
			t.Fatal("applied without a key")
		}
		if e := h.entry(node); e.auth || e.ep != epA {
			t.Fatalf("entry %+v", e)
		}
		// The failed lookup is not retried within 30 s.
		h.keys.set(id)
		h.clk.Advance(time.Second)
		if _, applied := h.discover(signedDiscover(t, id, node, h.clk.Now()), epA); applied || h.keys.calls.Load() != 1 {
			t.Fatalf("retried within 30 s: %d lookups", h.keys.calls.Load())
		}
		h.clk.Advance(lookupRetry)
		if _, applied := h.discover(signedDiscover(t, id, node, h.clk.Now()), epA); !applied {
			t.Fatal("not verified after the retry delay")
		}
	})
	t.Run("key rotation refetches at most once per 30 s", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{})
		h.keys.set(id)
		if _, applied := h.discover(signedDiscover(t, id, node, h.clk.Now()), epA); !applied {
			t.Fatal("first signed discover not applied")
		}
		h.keys.set(other) // the node rotated its key
		h.clk.Advance(10 * time.Second)
		if _, applied := h.discover(signedDiscover(t, other, node, h.clk.Now()), epB); applied {
			t.Fatal("refetched within 30 s of the last lookup")
		}
		if e := h.entry(node); !e.auth || e.ep != epA {
			t.Fatalf("entry moved: %+v", e)
		}
		h.clk.Advance(lookupRetry)
		if _, applied := h.discover(signedDiscover(t, other, node, h.clk.Now()), epB); !applied {
			t.Fatal("rotated key not refetched")
		}
		if e := h.entry(node); !e.auth || e.ep != epB || h.keys.calls.Load() != 2 {
			t.Fatalf("entry %+v, %d lookups", e, h.keys.calls.Load())
		}
	})
	t.Run("key cache lives 10 minutes", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{})
		h.keys.set(id)
		for range 4 {
			h.clk.Advance(4 * time.Minute)
			if _, applied := h.discover(signedDiscover(t, id, node, h.clk.Now()), epA); !applied {
				t.Fatal("not applied")
			}
		}
		if n := h.keys.calls.Load(); n != 2 { // fetched at 4m; cached at 8m and 12m; refetched at 16m
			t.Fatalf("%d lookups, want 2", n)
		}
	})
	t.Run("lookup budget", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{LookupRate: 1, LookupBurst: 3})
		h.keys.set(id)
		applied := 0
		for n := addr.NodeID(100); n < 110; n++ {
			if _, ok := h.discover(signedDiscover(t, id, n, h.clk.Now()), epA); ok {
				applied++
			}
		}
		// Every node shares id's key in this fake registry; only three
		// lookups fit the budget, the others stay plain entries.
		if applied != 3 || h.keys.calls.Load() != 3 {
			t.Fatalf("applied %d with %d lookups, want 3", applied, h.keys.calls.Load())
		}
		if st := h.s.Stats(); st.NodesAuth != 3 || st.NodesPlain != 7 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("authenticated entry expires, then plain discovers work again", func(t *testing.T) {
		h := newVerifyHarness(t, Limits{})
		h.keys.set(id)
		h.discover(signedDiscover(t, id, node, h.clk.Now()), epA)
		h.s.handle(mustMarshal(t, beaconmsg.Discover{Node: node}), epB, netip.Addr{})
		if e := h.entry(node); e.ep != epA {
			t.Fatal("plain discover moved an authenticated entry")
		}
		h.clk.Advance(DefaultNodeTTL)
		h.s.handle(mustMarshal(t, beaconmsg.Discover{Node: node}), epB, netip.Addr{})
		if e := h.entry(node); e.auth || e.ep != epB {
			t.Fatalf("after expiry: %+v", e)
		}
	})
}
