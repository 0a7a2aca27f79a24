package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// harness runs daemons against one fake registry inside a synctest bubble.
type harness struct {
	opts   Options // extra options for start (dialer and events are set by start)
	t      *testing.T
	reg    *fakeRegistry
	dir    string
	events *recorder
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, reg: newFakeRegistry(t), dir: t.TempDir(), events: &recorder{}}
}

func (h *harness) config(args ...string) *Config {
	h.t.Helper()
	cfg, err := Parse(append([]string{"-state-dir", h.dir}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

// start runs a daemon until the returned stop is called.
func (h *harness) start(cfg *Config) (*Daemon, func()) {
	h.t.Helper()
	opts := h.opts
	opts.RegistryDialer, opts.Events, opts.ControlPlaneOnly = h.reg.dial, h.events, true
	d, err := New(cfg, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	synctest.Wait()
	return d, func() {
		cancel()
		<-done
	}
}

// advance lets virtual time pass and waits until every goroutine blocks.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// cli.md §5 item 6: no -identity keeps the same node ID across restarts,
// the identity living in <state-dir>/identity.json with mode 0600.
func TestCLI_6_IdentityPersistsAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		first := d.NodeID()
		stop()
		if first == 0 {
			t.Fatal("not registered")
		}
		path := filepath.Join(h.dir, "identity.json")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("identity.json mode %v, want 0600", fi.Mode().Perm())
		}
		for _, typ := range []string{regmsg.TypeDeregister, regmsg.TypeLeaveNetwork} {
			if n := len(h.reg.requests(typ)); n != 0 {
				t.Errorf("shutdown sent %s (%d)", typ, n)
			}
		}
		d, stop = h.start(h.config())
		defer stop()
		if d.NodeID() != first {
			t.Errorf("node ID after restart %d, want %d", d.NodeID(), first)
		}
		if n := len(h.events.named("node.registered")); n != 2 {
			t.Errorf("node.registered events %d, want one per start", n)
		}
		regs := h.reg.requests(regmsg.TypeRegister)
		if len(regs) != 2 || regs[0].(*regmsg.Register).PublicKey != regs[1].(*regmsg.Register).PublicKey {
			t.Errorf("register requests %d, want 2 with the same key", len(regs))
		}
		r := regs[0].(*regmsg.Register)
		if !equalStrings(r.Capabilities, []string{"auth-v2", "handshake-v2", "secure-v2"}) || r.Version != Version {
			t.Errorf("register capabilities %v version %q", r.Capabilities, r.Version)
		}
	})
}

func equalStrings(a, b []string) bool {
	return bytes.Equal([]byte(joinStrings(a)), []byte(joinStrings(b)))
}

func joinStrings(a []string) string {
	var b bytes.Buffer
	for _, s := range a {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.String()
}

// cli.md §5 item 7: a corrupt identity file stops the daemon with an error
// and is not overwritten.
func TestCLI_7_CorruptIdentityIsAnError(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "identity.json")
	bad := []byte(`{"private_key": "not base64", "public_key": ""}`)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(h.config(), Options{RegistryDialer: h.reg.dial}); err == nil {
		t.Fatal("New accepted a corrupt identity")
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, bad) {
		t.Error("corrupt identity file was modified")
	}
}

// A not_found heartbeat reply makes the daemon re-register: same key, same
// node ID, node.reregistered, hostname re-applied.
func TestReregisterAfterNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config("-hostname", "alpha", "-public"))
		defer stop()
		id := d.NodeID()
		h.reg.forget(id)
		advance(31 * time.Second)
		if d.NodeID() != id {
			t.Errorf("node ID %d after re-registration, want %d", d.NodeID(), id)
		}
		regs := h.reg.requests(regmsg.TypeRegister)
		if len(regs) != 2 {
			t.Fatalf("register requests %d, want 2", len(regs))
		}
		if regs[1].(*regmsg.Register).Hostname != "alpha" {
			t.Error("hostname not re-applied at re-registration")
		}
		if n := len(h.reg.requests(regmsg.TypeSetVisibility)); n != 2 {
			t.Errorf("set_visibility requests %d, want one per registration", n)
		}
		ev := h.events.named("node.reregistered")
		if len(ev) != 1 || ev[0].field("address") != addr.New(0, id).String() {
			t.Errorf("node.reregistered events %+v", ev)
		}
		if st := d.HealthSnapshot(); !st.RegistryOK {
			t.Errorf("health after re-registration: %+v", st)
		}
	})
}

// Registry loss: heartbeats fail, health degrades, and once the registry is
// back the daemon re-registers (same node ID) after 3 failures.
func TestReregisterAfterRegistryRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		id := d.NodeID()
		advance(31 * time.Second)
		if got := d.HealthStatus(time.Now()); got != "ok" {
			t.Fatalf("health %q before the outage", got)
		}
		h.reg.setDown(true)
		advance(31 * time.Second)
		hs := d.HealthSnapshot()
		if hs.RegistryOK || hs.RegistryState() != "unreachable" || hs.Status(time.Now()) != "degraded" || hs.LastError == "" {
			t.Errorf("health during the outage: %+v", hs)
		}
		advance(5 * time.Minute) // ≥ 3 failures, then registration retries with backoff
		if n := len(h.events.named("node.reregistered")); n != 0 {
			t.Fatalf("re-registered while the registry was down (%d)", n)
		}
		h.reg.setDown(false)
		// The next attempt is at most 30 s (registration backoff) plus
		// 10 s (the client's redial backoff) away.
		advance(41 * time.Second)
		if n := len(h.events.named("node.reregistered")); n != 1 {
			t.Fatalf("node.reregistered events %d after recovery, want 1", n)
		}
		if d.NodeID() != id || !d.HealthSnapshot().RegistryOK {
			t.Errorf("after recovery: node %d (want %d), health %+v", d.NodeID(), id, d.HealthSnapshot())
		}
	})
}

// ipc.md §5.14: after Deregister the daemon registers again at its next
// heartbeat.
func TestDeregisterThenRegisterAtNextHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		h.reg.forget(d.NodeID())
		d.Registrar().MarkDeregistered()
		advance(31 * time.Second)
		if n := len(h.reg.requests(regmsg.TypeRegister)); n != 2 {
			t.Errorf("register requests %d, want 2", n)
		}
		if n := len(h.reg.requests(regmsg.TypeHeartbeat)); n != 0 {
			t.Errorf("heartbeat sent %d times instead of registering", n)
		}
	})
}

// services.md §9 item 22 / §8.3: key.expiring on the first warning, not
// again within 6 h, again after 6 h and at once when expires_at changes.
func TestServices_22_KeyExpiringAtMostEvery6h(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		exp := time.Now().Add(20 * time.Hour).UTC().Format(time.RFC3339)
		h.reg.warnExpiry = exp
		d, stop := h.start(h.config())
		defer stop()
		advance(30*time.Second + time.Millisecond)
		ev := h.events.named("key.expiring")
		if len(ev) != 1 {
			t.Fatalf("key.expiring after the first warning: %d events", len(ev))
		}
		if ev[0].field("expires_at") != exp || ev[0].field("hours_left") != int64(19) {
			t.Errorf("key.expiring data %+v", ev[0].data)
		}
		if got := d.HealthSnapshot().KeyExpiresAt.Format(time.RFC3339); got != exp {
			t.Errorf("health key_expires_at %s, want %s", got, exp)
		}
		advance(5*time.Hour + 59*time.Minute)
		if n := len(h.events.named("key.expiring")); n != 1 {
			t.Fatalf("key.expiring within 6 h: %d events, want 1", n)
		}
		advance(time.Minute + time.Second)
		if n := len(h.events.named("key.expiring")); n != 2 {
			t.Fatalf("key.expiring after 6 h: %d events, want 2", n)
		}
		h.reg.mu.Lock()
		h.reg.warnExpiry = time.Now().Add(10 * time.Hour).UTC().Format(time.RFC3339)
		h.reg.mu.Unlock()
		advance(31 * time.Second)
		if n := len(h.events.named("key.expiring")); n != 3 {
			t.Errorf("key.expiring after an expiry change: %d events, want 3", n)
		}
	})
}

// The key has expired: Health says degraded even though heartbeats work.
func TestHealthDegradedWhenKeyExpired(t *testing.T) {
	h := Health{RegistryOK: true, KeyExpiresAt: time.Unix(1000, 0)}
	if h.Status(time.Unix(999, 0)) != "ok" || h.Status(time.Unix(1000, 0)) != "degraded" {
		t.Error("status does not follow key expiry")
	}
	if (Health{}).Status(time.Unix(0, 0)) != "degraded" {
		t.Error("status ok before any heartbeat")
	}
}

// A network added by someone else (policy_epoch change) raises
// network.sync_joined; a kick raises network.sync_left; the daemon's own
// auto-join does not.
func TestMembershipSyncOnPolicyEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.reg.addNetwork(1, "open", "")
		h.reg.addNetwork(2, "open", "")
		d, stop := h.start(h.config("-networks", "1"))
		defer stop()
		advance(31 * time.Second)
		if n := len(h.events.named("network.sync_joined")); n != 0 {
			t.Fatalf("auto-join reported as sync_joined (%d)", n)
		}
		id := d.NodeID()
		d.admission.mu.Lock()
		d.admission.trust[50] = trustEntry{pair: true, expires: time.Now().Add(time.Hour)}
		d.admission.mu.Unlock()
		h.reg.mu.Lock()
		h.reg.networks[2].members[id] = true
		delete(h.reg.networks[1].members, id)
		h.reg.epoch++
		h.reg.mu.Unlock()
		advance(31 * time.Second)
		j, l := h.events.named("network.sync_joined"), h.events.named("network.sync_left")
		if len(j) != 1 || j[0].field("network_id") != uint64(2) || len(l) != 1 || l[0].field("network_id") != uint64(1) {
			t.Errorf("sync events joined %+v left %+v", j, l)
		}
		if _, ok := d.Admission().Cached(50, 80); ok {
			t.Error("admission cache survived a new policy_epoch")
		}
		if got := d.Memberships().List(); len(got) != 1 || got[0] != 2 {
			t.Errorf("memberships %v, want [2]", got)
		}
	})
}

// Key rotation (cli.md §4.8 steps 1–3): identity.json replaced, no .next,
// key.rotated, and later requests are signed by the new key.
func TestKeyRotateSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		old := d.Identity().PublicKeyBase64()
		rep, err := d.Registrar().RotateKey(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(h.dir, "identity.json")
		onDisk, err := identity.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if onDisk.PublicKeyBase64() != rep.PublicKey || rep.PublicKey == old || d.Identity().PublicKeyBase64() != rep.PublicKey {
			t.Error("identity not switched to the new key")
		}
		if _, err := os.Stat(identity.NextPath(path)); !os.IsNotExist(err) {
			t.Errorf("identity.json.next left behind: %v", err)
		}
		ev := h.events.named("key.rotated")
		if len(ev) != 1 || ev[0].field("public_key") != rep.PublicKey || ev[0].field("rotate_count") != int64(1) {
			t.Errorf("key.rotated %+v", ev)
		}
		advance(31 * time.Second) // the fake verifies signatures with the new key
		if !d.HealthSnapshot().RegistryOK {
			t.Errorf("heartbeat after rotation failed: %s", d.HealthSnapshot().LastError)
		}
	})
}

// Step 4: an error reply deletes the pending key and keeps the old one.
func TestKeyRotateErrorReplyDiscardsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		old := d.Identity().PublicKeyBase64()
		_, err := d.Registrar().RotateKey(context.Background(), "not-a-time")
		if err == nil {
			t.Fatal("rotation with a refused expiry succeeded")
		}
		path := filepath.Join(h.dir, "identity.json")
		if _, err := os.Stat(identity.NextPath(path)); !os.IsNotExist(err) {
			t.Errorf("identity.json.next kept after an error reply: %v", err)
		}
		if d.Identity().PublicKeyBase64() != old {
			t.Error("key changed after an error reply")
		}
	})
}

// Step 5 at run time: no reply → .next kept → the next heartbeat tick asks
// the registry (lookup) and adopts the key it holds.
func TestKeyRotateOutcomeUnknownResolvedAtNextContact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		h.reg.mu.Lock()
		h.reg.loseRotate = true
		h.reg.mu.Unlock()
		_, err := d.Registrar().RotateKey(context.Background(), "")
		if err == nil {
			t.Fatal("rotation without a reply reported success")
		}
		path := filepath.Join(h.dir, "identity.json")
		next, err := identity.LoadNext(path)
		if err != nil {
			t.Fatalf("pending key not kept: %v", err)
		}
		advance(31 * time.Second)
		cur, _ := identity.Load(path)
		if cur.PublicKeyBase64() != next.PublicKeyBase64() || d.Identity().PublicKeyBase64() != next.PublicKeyBase64() {
			t.Error("the key the registry holds was not adopted")
		}
		if _, err := os.Stat(identity.NextPath(path)); !os.IsNotExist(err) {
			t.Error("identity.json.next left behind")
		}
		if !d.HealthSnapshot().RegistryOK {
			t.Errorf("heartbeat failed after adoption: %s", d.HealthSnapshot().LastError)
		}
	})
}

// Step 5 at start: the daemon stopped before it learned the outcome; at
// the next start the registry refuses the retired key and the daemon
// adopts the pending one, keeping its node ID.
func TestKeyRotateOutcomeUnknownResolvedAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config("-heartbeat", "1h"))
		id := d.NodeID()
		h.reg.mu.Lock()
		h.reg.loseRotate = true
		h.reg.mu.Unlock()
		if _, err := d.Registrar().RotateKey(context.Background(), ""); err == nil {
			t.Fatal("rotation without a reply reported success")
		}
		stop()
		path := filepath.Join(h.dir, "identity.json")
		next, err := identity.LoadNext(path)
		if err != nil {
			t.Fatal(err)
		}
		d, stop = h.start(h.config())
		defer stop()
		if d.NodeID() != id || d.Identity().PublicKeyBase64() != next.PublicKeyBase64() {
			t.Errorf("after restart: node %d key %s; want node %d with the pending key", d.NodeID(),
				d.Identity().PublicKeyBase64(), id)
		}
		if cur, _ := identity.Load(path); cur.PublicKeyBase64() != next.PublicKeyBase64() {
			t.Error("identity.json does not hold the adopted key")
		}
	})
}

// Step 5, other outcome: the registry never applied the rotation; the
// pending key is discarded at the next start.
func TestPendingKeyDiscardedWhenRegistryKeptOldKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		path, cur, _ := h.withPendingKey()
		d, stop := h.start(h.config())
		defer stop()
		if d.Identity().PublicKeyBase64() != cur.PublicKeyBase64() {
			t.Error("pending key adopted although the registry holds the current one")
		}
		if _, err := os.Stat(identity.NextPath(path)); !os.IsNotExist(err) {
			t.Error("pending key not discarded")
		}
	})
}

// withPendingKey creates the daemon's identity and a pending rotation key
// (identity.json.next), as a rotation whose outcome was never learnt
// leaves them.
func (h *harness) withPendingKey() (path string, cur, pending *identity.Identity) {
	h.t.Helper()
	path = filepath.Join(h.dir, "identity.json")
	cur, _, err := identity.LoadOrCreate(path)
	if err != nil {
		h.t.Fatal(err)
	}
	pending, err = identity.Generate(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := identity.SaveNext(path, pending); err != nil {
		h.t.Fatal(err)
	}
	return path, cur, pending
}

// cli.md §3.1 "never silently replaces an existing identity": a pending
// key is tried only when the registry says the current key was replaced;
// when it refuses the current key as expired (an admin can extend it),
// both keys are kept and no node is created with the pending one.
func TestPendingKeyKeptWhenCurrentKeyExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		path, cur, pending := h.withPendingKey()
		h.reg.mu.Lock()
		h.reg.expired = map[string]bool{cur.PublicKeyBase64(): true}
		h.reg.mu.Unlock()
		_, stop := h.start(h.config())
		defer stop()
		h.reg.mu.Lock()
		_, created := h.reg.idByKey[pending.PublicKeyBase64()]
		h.reg.mu.Unlock()
		if created {
			t.Error("registered a node with the pending key after an expired-key refusal")
		}
		if now, _ := identity.Load(path); now.PublicKeyBase64() != cur.PublicKeyBase64() {
			t.Error("identity.json replaced after an expired-key refusal")
		}
		if _, err := identity.LoadNext(path); err != nil {
			t.Errorf("pending key not kept: %v", err)
		}
	})
}

// cli.md §3.1 start-up order: IPC and the services start after the first
// registration attempt (and auto-join): with a registry that takes 3 s to
// answer, the daemon says it started only once it is registered.
func TestStartupWaitsForTheFirstRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.reg.mu.Lock()
		h.reg.regDelay = 3 * time.Second
		h.reg.mu.Unlock()
		var log lockedBuffer
		h.opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
		d, stop := h.start(h.config())
		defer stop()
		if strings.Contains(log.String(), "pilot-daemon started") || d.NodeID() != 0 {
			t.Fatalf("started before the registry answered (node %d)", d.NodeID())
		}
		advance(3 * time.Second)
		if !strings.Contains(log.String(), "pilot-daemon started") || d.NodeID() == 0 {
			t.Fatalf("not started after the registration (node %d):\n%s", d.NodeID(), log.String())
		}
	})
}

// services.md §5.4: poll_handshakes after every successful heartbeat.
func TestHeartbeatPollsHandshakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		_, stop := h.start(h.config())
		defer stop()
		if n := len(h.reg.requests(regmsg.TypePollHandshakes)); n != 0 {
			t.Fatalf("polled %d times before any heartbeat", n)
		}
		advance(61 * time.Second)
		if n := len(h.reg.requests(regmsg.TypePollHandshakes)); n != 2 {
			t.Errorf("polled %d times after 2 heartbeats, want 2", n)
		}
	})
}

// register carries the tunnel's endpoint (listen_addr), the LAN addresses,
// the owner and the hostname.
func TestRegisterRequestFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.opts.ListenAddr = func() string { return "198.51.100.4:4000" }
		h.opts.LANAddrs = func() []string { return []string{"10.0.0.5:4000"} }
		_, stop := h.start(h.config("-email", "ops@example.com", "-hostname", "alpha"))
		defer stop()
		regs := h.reg.requests(regmsg.TypeRegister)
		if len(regs) != 1 {
			t.Fatalf("%d register requests", len(regs))
		}
		r := regs[0].(*regmsg.Register)
		if r.ListenAddr != "198.51.100.4:4000" || len(r.LANAddrs) != 1 || r.LANAddrs[0] != "10.0.0.5:4000" ||
			r.Owner != "ops@example.com" || r.Hostname != "alpha" {
			t.Errorf("register %+v", r)
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for a logger and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
