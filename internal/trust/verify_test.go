package trust

import (
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
)

func expectDrop(t *testing.T, n *node, remote addr.NodeID, raw []byte, want error) {
	t.Helper()
	err := n.m.HandleMessage(ctx, remote, raw)
	if !errors.Is(err, want) {
		t.Errorf("HandleMessage: %v, want %v", err, want)
	}
	if len(n.m.Pending().Pending) != 0 || len(n.events.names()) != 0 {
		t.Errorf("dropped message had an effect: pending %+v events %q", n.m.Pending(), n.events.names())
	}
}

// services.md §9 item 6: node_id must be the stream's remote node.
func TestServices_6_NodeIDMismatchDropped(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	w.add(1, true, nil)
	w.add(3, true, nil)
	raw := craft(w, handshake.Request, 1, 2, w.identity(1), nil, false, false)
	expectDrop(t, b, 3, raw, ErrDropSender)
}

// services.md §9 item 7: a public_key other than the registry's is dropped
// even when the signatures are valid for the included key; empty or
// malformed keys never crash.
func TestServices_7_RegistryKeyMismatchDropped(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	w.add(1, true, nil)
	impostor, _ := identity.Generate(nil)
	raw := craft(w, handshake.Request, 1, 2, impostor, nil, false, true)
	expectDrop(t, b, 1, raw, ErrDropKey)
	// Empty public_key but signed by the wrong key: the registry key decides.
	raw = craft(w, handshake.Request, 1, 2, impostor, func(m *handshake.Message) { m.PublicKey = "" }, false, false)
	expectDrop(t, b, 1, raw, ErrDropSignature)
	for _, bad := range []string{"not base64!", "AAAA", ""} {
		raw = craft(w, handshake.Request, 1, 2, w.identity(1), func(m *handshake.Message) { m.PublicKey = bad }, false, false)
		err := b.m.HandleMessage(ctx, 1, raw)
		if bad == "" {
			if err != nil {
				t.Errorf("valid message with empty public_key dropped: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrDropKey) {
			t.Errorf("public_key %q: %v", bad, err)
		}
	}
}

// services.md §9 item 8: a 6-minute-old timestamp, a timestamp more than
// 30 s ahead, and a repeated nonce are dropped.
func TestServices_8_StaleOrReplayedDropped(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	w.add(1, true, nil)
	old := craft(w, handshake.Request, 1, 2, w.identity(1), func(m *handshake.Message) { m.Timestamp -= 360 }, false, false)
	expectDrop(t, b, 1, old, ErrDropTime)
	future := craft(w, handshake.Request, 1, 2, w.identity(1), func(m *handshake.Message) { m.Timestamp += 31 }, false, false)
	expectDrop(t, b, 1, future, ErrDropTime)
	edge := craft(w, handshake.Accept, 1, 2, w.identity(1), func(m *handshake.Message) { m.Timestamp -= 300 }, false, false)
	if err := b.m.HandleMessage(ctx, 1, edge); err != nil {
		t.Errorf("timestamp exactly 300 s old dropped: %v", err)
	}
	raw := craft(w, handshake.Request, 1, 2, w.identity(1), nil, false, false)
	if err := b.m.HandleMessage(ctx, 1, raw); err != nil {
		t.Fatal(err)
	}
	b.events.reset()
	b.m.Reject(ctx, 1, "")
	b.events.reset()
	expectDrop(t, b, 1, raw, ErrDropReplay)
	// Same nonce in a different message: still a replay.
	var first handshake.Message
	first, _ = handshake.Parse(raw)
	again := craft(w, handshake.Request, 1, 2, w.identity(1), func(m *handshake.Message) {
		m.Nonce = first.Nonce
		m.Justification = "other"
	}, false, false)
	expectDrop(t, b, 1, again, ErrDropReplay)
}

// services.md §9 item 9: a v1-only message from a handshake-v2 peer is a
// downgrade and is dropped, even with -handshake-compat.
func TestServices_9_V1OnlyFromV2PeerDropped(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	w.add(1, true, nil)
	raw := craft(w, handshake.Request, 1, 2, w.identity(1), nil, true, false)
	expectDrop(t, b, 1, raw, ErrDropDowngrade)
}

// services.md §9 item 10: with -handshake-compat an original-format request
// from a peer without the capability lands in pending; without compat it
// is dropped; its replay (same bytes) is dropped.
func TestServices_10_CompatAcceptsOriginalFormat(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	w.add(1, false, nil)
	raw := craft(w, handshake.Request, 1, 2, w.identity(1), func(m *handshake.Message) { m.Nonce = "" }, true, false)
	if err := b.m.HandleMessage(ctx, 1, raw); err != nil {
		t.Fatalf("original-format request dropped: %v", err)
	}
	if p := b.m.Pending().Pending; len(p) != 1 || p[0].NodeID != 1 {
		t.Fatalf("pending %+v", p)
	}
	b.m.Reject(ctx, 1, "")
	b.events.reset()
	expectDrop(t, b, 1, raw, ErrDropReplay)

	strict := w.add(4, true, func(c *Config) { c.HandshakeCompat = false })
	raw = craft(w, handshake.Request, 1, 4, w.identity(1), nil, true, false)
	expectDrop(t, strict, 1, raw, ErrDropDowngrade)
	// Without any signature.
	raw = craft(w, handshake.Request, 1, 2, w.identity(1), func(m *handshake.Message) { m.Justification = "x" }, true, false)
	var m handshake.Message
	m, _ = handshake.Parse(raw)
	m.Signature = ""
	raw, _ = m.Marshal()
	expectDrop(t, b, 1, raw, ErrDropSignature)
}

// Step 4: a cached key is refreshed once when it no longer verifies (the
// peer rotated its key).
func TestVerifyRefreshesKeyOnce(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	w.add(1, true, nil)
	raw := craft(w, handshake.Accept, 1, 2, w.identity(1), nil, false, false)
	if err := b.m.HandleMessage(ctx, 1, raw); err != nil {
		t.Fatal(err)
	}
	rotated, _ := identity.Generate(nil)
	w.mu.Lock()
	w.ids[1] = rotated
	w.mu.Unlock()
	raw = craft(w, handshake.Accept, 1, 2, rotated, nil, false, false)
	if err := b.m.HandleMessage(ctx, 1, raw); err != nil {
		t.Errorf("message under the rotated key dropped: %v", err)
	}
}

// Step 1: malformed messages are dropped without effect.
func TestVerifyShape(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	for _, raw := range []string{``, `{`, `[]`, `{"type":"handshake_hello","node_id":1,"timestamp":1}`,
		`{"type":"handshake_request","node_id":-1,"timestamp":1}`, `{"type":"handshake_request","node_id":1}`} {
		expectDrop(t, b, 1, []byte(raw), ErrDropShape)
	}
	expectDrop(t, b, 99, craft(w, handshake.Request, 99, 2, w.identity(2), nil, false, false), ErrDropNoKey)
}

// The nonce cache holds at most 64 entries per sender for 10 minutes; a
// full sender is ignored until entries age out.
func TestReplayCacheBounds(t *testing.T) {
	var c replayCache
	now := time.Unix(0, 0)
	for i := range MaxNoncesPeer {
		if !c.check(7, string(rune('a'+i)), now) {
			t.Fatalf("entry %d refused", i)
		}
	}
	if c.check(7, "new", now) {
		t.Error("a full sender was not ignored")
	}
	if !c.check(8, "new", now) {
		t.Error("another sender was refused")
	}
	if c.check(7, "a", now.Add(ReplayWindow-time.Second)) {
		t.Error("replay within the window accepted")
	}
	if !c.check(7, "a", now.Add(ReplayWindow)) {
		t.Error("entry did not age out after 10 minutes")
	}
	if !c.check(10, "fresh", now.Add(ReplayWindow)) {
		t.Error("sender refused")
	}
	var full replayCache
	full.check(1, "x", now)
	full.total = MaxNoncesTotal // as if full of entries too young to sweep
	if full.check(9, "x", now.Add(time.Second)) {
		t.Error("total bound not enforced")
	}
}
