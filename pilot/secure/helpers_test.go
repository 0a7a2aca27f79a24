package secure

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/pilot"
)

const (
	clientNode addr.NodeID = 0x2AE
	serverNode addr.NodeID = 0x1F00
)

// testKey derives a deterministic identity key.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pilotAddr(node addr.NodeID, port addr.Port) *pilot.Addr {
	return &pilot.Addr{Addr: addr.New(0, node), Port: port}
}

// pconn gives a net.Conn Pilot addresses, records what is written through
// it and lets a test rewrite each Write.
type pconn struct {
	net.Conn
	local, remote *pilot.Addr

	mu      sync.Mutex
	written bytes.Buffer
	writes  int
	hook    func(b []byte) []byte // nil: pass through
	dls     []time.Time           // SetDeadline calls
	quiet   bool                  // do not record (benchmarks)
	closed  atomic.Bool
}

func (c *pconn) LocalAddr() net.Addr  { return c.local }
func (c *pconn) RemoteAddr() net.Addr { return c.remote }

func (c *pconn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if !c.quiet {
		c.written.Write(b)
	}
	c.writes++
	hook := c.hook
	c.mu.Unlock()
	if hook != nil {
		out := hook(bytes.Clone(b))
		if out == nil {
			return len(b), nil // dropped
		}
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *pconn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (c *pconn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.dls = append(c.dls, t)
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *pconn) deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.dls...)
}

func (c *pconn) setHook(h func([]byte) []byte) {
	c.mu.Lock()
	c.hook = h
	c.mu.Unlock()
}

func (c *pconn) bytesWritten() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written.Bytes())
}

// pipe returns the two ends of a stream between clientNode and
// serverNode (port 443).
func pipe() (cl, sv *pconn) {
	a, b := net.Pipe()
	cl = &pconn{Conn: a, local: pilotAddr(clientNode, 49152), remote: pilotAddr(serverNode, Port)}
	sv = &pconn{Conn: b, local: pilotAddr(serverNode, Port), remote: pilotAddr(clientNode, 49152)}
	return cl, sv
}

// keyStore is a KeyStore whose answers the test controls: stale is
// returned until the first refresh, then fresh.
type keyStore struct {
	mu        sync.Mutex
	stale     map[addr.NodeID]PeerInfo
	fresh     map[addr.NodeID]PeerInfo
	refreshed bool
	lookups   int
	refreshes int
}

func newKeyStore(m map[addr.NodeID]PeerInfo) *keyStore { return &keyStore{stale: m, fresh: m} }

func (k *keyStore) PeerKey(_ context.Context, node addr.NodeID, refresh bool) (PeerInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lookups++
	m := k.stale
	if refresh {
		k.refreshes++
		k.refreshed = true
	}
	if k.refreshed {
		m = k.fresh
	}
	p, ok := m[node]
	if !ok {
		return PeerInfo{}, errors.New("unknown node")
	}
	return p, nil
}

func (k *keyStore) counts() (lookups, refreshes int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lookups, k.refreshes
}

var v2Caps = []string{"auth-v2", CapabilityV2}

// setup is a pair of configurations whose key stores publish the right
// keys with secure-v2.
func setup() (ccfg, scfg *Config) {
	ck, sk := testKey(1), testKey(2)
	ccfg = &Config{Signer: Ed25519Signer(ck), Keys: newKeyStore(map[addr.NodeID]PeerInfo{
		serverNode: {PublicKey: sk.Public().(ed25519.PublicKey), Capabilities: v2Caps}})}
	scfg = &Config{Signer: Ed25519Signer(sk), Keys: newKeyStore(map[addr.NodeID]PeerInfo{
		clientNode: {PublicKey: ck.Public().(ed25519.PublicKey), Capabilities: v2Caps}})}
	return ccfg, scfg
}

type result struct {
	c   *Conn
	err error
}

// handshakePair runs Client and Server concurrently over cl and sv.
func handshakePair(t testing.TB, cl, sv net.Conn, ccfg, scfg *Config) (client, server result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		c, err := Server(ctx, sv, scfg)
		done <- result{c, err}
	}()
	c, err := Client(ctx, cl, ccfg)
	client = result{c, err}
	server = <-done
	t.Cleanup(func() {
		for _, r := range []result{client, server} {
			if r.c != nil {
				r.c.Close()
			}
		}
	})
	return client, server
}

func mustPair(t testing.TB, cl, sv net.Conn, ccfg, scfg *Config) (client, server *Conn) {
	t.Helper()
	c, s := handshakePair(t, cl, sv, ccfg, scfg)
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", c.err, s.err)
	}
	return c.c, s.c
}
