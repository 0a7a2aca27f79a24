package ratelimit

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(t *testing.T, cfg Config) (*Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

// §14 item 67: 1,000 distinct nodes heartbeating every 30 s from one source
// IP are never limited (heartbeats are keyed by node, not IP).
func TestRegistry_67_ManyNodesOneIP(t *testing.T) {
	l, c := newTest(t, Config{})
	for round := 0; round < 20; round++ {
		for n := uint32(4); n < 1004; n++ {
			if d := l.Allow(Heartbeat, NodeKey(n)); !d.Allowed {
				t.Fatalf("round %d node %d limited (retry %v)", round, n, d.RetryAfter)
			}
		}
		c.advance(30 * time.Second)
	}
	if got := l.Len(Heartbeat); got != 1000 {
		t.Fatalf("buckets = %d, want 1000", got)
	}
}

// §14 item 68: back-to-back heartbeats: 6 accepted, the 7th limited with
// retry_after_ms ≤ 5000; a node heartbeating every 5 s is never limited.
func TestRegistry_68_HeartbeatBurst(t *testing.T) {
	l, c := newTest(t, Config{})
	key := NodeKey(42)
	for i := 1; i <= 6; i++ {
		if d := l.Allow(Heartbeat, key); !d.Allowed {
			t.Fatalf("heartbeat %d limited", i)
		}
	}
	d := l.Allow(Heartbeat, key)
	if d.Allowed {
		t.Fatal("7th heartbeat allowed")
	}
	if ms := d.RetryAfterMS(); ms <= 0 || ms > 5000 {
		t.Fatalf("retry_after_ms = %d, want 1..5000", ms)
	}
	if ms := d.RetryAfterMS(); ms != 5000 {
		t.Fatalf("retry_after_ms = %d, want exactly 5000 with a frozen clock", ms)
	}
	msg := d.Message("node 42")
	if !strings.HasPrefix(msg, "rate limited: ") || !strings.Contains(msg, "12/min") || !strings.Contains(msg, "retry in 5 s") {
		t.Fatalf("message %q", msg)
	}
	// After the advertised wait one more is allowed.
	c.advance(d.RetryAfter)
	if d := l.Allow(Heartbeat, key); !d.Allowed {
		t.Fatalf("after retry_after still limited: %v", d.RetryAfter)
	}
	// Steady 5 s cadence is never limited, starting from an empty bucket.
	for i := 0; i < 200; i++ {
		c.advance(5 * time.Second)
		if d := l.Allow(Heartbeat, key); !d.Allowed {
			t.Fatalf("5 s cadence limited at %d", i)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	l, c := newTest(t, Config{Overrides: map[Category]Limit{Read: {PerMinute: 7, Burst: 1}}})
	k := NodeKey(5)
	l.Allow(Read, k)
	c.advance(time.Millisecond / 3)
	d := l.Allow(Read, k)
	// 60/7 s = 8571.428…ms, minus 0.33 µs elapsed: rounds up to 8572.
	if d.Allowed || d.RetryAfterMS() != 8572 {
		t.Fatalf("got allowed=%v ms=%d", d.Allowed, d.RetryAfterMS())
	}
}

func TestAuthFailureCheckDoesNotConsume(t *testing.T) {
	l, _ := newTest(t, Config{})
	ip := IPKey(netip.MustParseAddr("::ffff:192.0.2.7"))
	if ip != IPKey(netip.MustParseAddr("192.0.2.7")) {
		t.Fatal("mapped and plain IPv4 keys differ")
	}
	for i := 0; i < 100; i++ {
		if !l.Check(AuthFailure, ip).Allowed {
			t.Fatal("Check consumed tokens")
		}
	}
	for i := 1; i <= 30; i++ {
		if !l.Allow(AuthFailure, ip).Allowed {
			t.Fatalf("failure %d refused", i)
		}
	}
	if d := l.Check(AuthFailure, ip); d.Allowed || d.RetryAfterMS() != 2000 {
		t.Fatalf("after 30 failures: allowed=%v retry=%d ms", d.Allowed, d.RetryAfterMS())
	}
	// Another IP and the node-keyed bucket are unaffected.
	if !l.Check(AuthFailure, IPKey(netip.MustParseAddr("192.0.2.8"))).Allowed {
		t.Fatal("other IP limited")
	}
	if !l.Check(AuthFailure, NodeKey(9)).Allowed {
		t.Fatal("node key limited")
	}
}

// §14 item 69 (limiter level): 30 failures from one IP close the token gate
// for that IP only; a node-keyed budget is independent of the IP's.
func TestRegistry_69_AuthFailureGate(t *testing.T) {
	l, c := newTest(t, Config{})
	ip := IPKey(netip.MustParseAddr("198.51.100.4"))
	for i := 0; i < 30; i++ {
		if !l.TokenGate(ip).Allowed || !l.AuthFailed(ip).Allowed {
			t.Fatalf("failure %d refused", i+1)
		}
	}
	if d := l.AuthFailed(ip); d.Allowed {
		t.Fatal("31st failure allowed")
	}
	if d := l.TokenGate(ip); d.Allowed || !strings.HasPrefix(d.Message("IP 198.51.100.4"), "rate limited: too many failed authentications from IP 198.51.100.4 (30/min)") {
		t.Fatalf("gate open after 30 failures: %+v %q", d, d.Message("IP 198.51.100.4"))
	}
	for n := uint32(10); n < 20; n++ { // nodes behind that IP keep their own budget
		if !l.TokenGate(NodeKey(n)).Allowed {
			t.Fatalf("node %d gated", n)
		}
	}
	c.advance(2 * time.Second) // one token refilled
	if !l.TokenGate(ip).Allowed {
		t.Fatal("gate still closed after refill")
	}
}

func TestRegisterNewGlobalBucket(t *testing.T) {
	l, _ := newTest(t, Config{Overrides: map[Category]Limit{RegisterNew: {PerMinute: 6000, Burst: 100_000}}})
	var i int
	for i = 0; i < 20_000; i++ {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if d := l.Allow(RegisterNew, IPKey(ip)); !d.Allowed {
			if d.Limit != GlobalRegisterNew || !d.Global || !strings.Contains(d.Message("IP x"), "from all sources (6000/min)") {
				t.Fatalf("limited by %v (%q), want the global bucket", d.Limit, d.Message("IP x"))
			}
			break
		}
	}
	if i != GlobalRegisterNew.Burst {
		t.Fatalf("global bucket refused at %d, want %d", i, GlobalRegisterNew.Burst)
	}
}

func TestDisabled(t *testing.T) {
	l, _ := newTest(t, Config{Disabled: true})
	for i := 0; i < 100; i++ {
		if !l.Allow(Heartbeat, NodeKey(1)).Allowed {
			t.Fatal("disabled limiter refused")
		}
	}
}

func TestIdleExpiryAndBound(t *testing.T) {
	l, c := newTest(t, Config{MaxKeys: 10})
	for i := uint32(0); i < 25; i++ {
		l.Allow(Mutation, NodeKey(i))
	}
	if n := l.Len(Mutation); n > 10 {
		t.Fatalf("map holds %d > 10", n)
	}
	c.advance(DefaultIdleTTL)
	l.Allow(Mutation, NodeKey(999))
	if n := l.Len(Mutation); n != 1 {
		t.Fatalf("after idle TTL map holds %d, want 1", n)
	}
}

func TestParseSpec(t *testing.T) {
	o, off, err := ParseSpec(" heartbeat=30/min:10, read=0.5/min:1 ")
	if err != nil || off {
		t.Fatal(err, off)
	}
	if o[Heartbeat] != (Limit{30, 10}) || o[Read] != (Limit{0.5, 1}) || len(o) != 2 {
		t.Fatalf("got %v", o)
	}
	if _, off, err := ParseSpec("off"); err != nil || !off {
		t.Fatal("off not recognised")
	}
	if o, off, err := ParseSpec(""); err != nil || off || o != nil {
		t.Fatal("empty spec")
	}
	bad := map[string]string{
		"heartbeat":                 "want category=N/min:burst",
		"bogus=1/min:1":             `unknown category "bogus"`,
		"heartbeat=1/min":           "want N/min:burst",
		"heartbeat=1/s:1":           "want N/min",
		"heartbeat=x/min:1":         "not a number",
		"heartbeat=1/min:x":         "not an integer",
		"heartbeat=0/min:1":         "positive",
		"heartbeat=1/min:0":         "at least 1",
		"read=1/min:1,read=2/min:2": "given twice",
	}
	for in, want := range bad {
		_, _, err := ParseSpec(in)
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%q) = %v, want error containing %q", in, err, want)
		}
	}
}

func TestDefaultsMatchSpec(t *testing.T) {
	want := map[Category]string{
		RegisterNew: "120/min:1000", RegisterKnown: "10/min:5", Heartbeat: "12/min:6",
		Mutation: "120/min:60", Read: "1200/min:300", Anonymous: "3000/min:1000",
		Token: "600/min:200", AuthFailure: "30/min:30",
	}
	d := Defaults()
	for c, s := range want {
		if d[c].String() != s {
			t.Errorf("%s = %s, want %s", c, d[c], s)
		}
	}
	if len(d) != len(Categories) {
		t.Fatalf("%d defaults for %d categories", len(d), len(Categories))
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"", "off", "heartbeat=12/min:6", "read=1200/min:300,token=1/min:1", "x=1", "heartbeat=1e400/min:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, _, err := ParseSpec(s)
		if err != nil {
			return
		}
		if _, err := New(Config{Overrides: o}); err != nil {
			t.Fatalf("ParseSpec(%q) accepted %v, New refused: %v", s, o, err)
		}
	})
}
