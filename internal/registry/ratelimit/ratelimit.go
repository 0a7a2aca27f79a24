// Package ratelimit implements the registry's request rate limits
// (registry.md §12): one token bucket (golang.org/x/time/rate) per
// (category, key), kept in bounded per-category maps whose idle entries expire
// after 10 minutes.
//
// "N/min / B" means a bucket of capacity B, full when created, refilled at
// N/60 tokens per second. Every request of a category takes one token; a
// request that finds less than one token is refused with the time until the
// bucket holds one token again (RetryAfter, reported to clients as
// retry_after_ms rounded up).
//
//	category        requests                          key          default
//	register_new    register with an unseen key       source IP    120/min:1000 (+ registry-wide 6000/min:10000)
//	register_known  register with a known key         key          10/min:5
//	heartbeat       heartbeat                         node         12/min:6
//	mutation        other signed writes               node         120/min:60
//	read            signed reads                      node         1200/min:300
//	anonymous       unsigned reads, legacy unsigned   source IP    3000/min:1000
//	token           token-only requests               source IP    600/min:200
//	auth_failure    failed authentication             node or IP   30/min:30
//
// The auth_failure category is both checked and charged: Check peeks at a
// bucket without taking a token (used before an admin token is evaluated),
// Allow takes one (used when a request fails authentication). See
// registry.md §12 for which key is used when.
//
// A Limiter is safe for concurrent use. Its clock is injectable (Config.Now)
// so that tests control refill without sleeping.
package ratelimit

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Category names a rate-limit class of registry.md §12. The string values
// are the `category` label of pilot_rate_limited_total.
type Category string

// The categories of registry.md §12.
const (
	RegisterNew   Category = "register_new"
	RegisterKnown Category = "register_known"
	Heartbeat     Category = "heartbeat"
	Mutation      Category = "mutation"
	Read          Category = "read"
	Anonymous     Category = "anonymous"
	Token         Category = "token"
	AuthFailure   Category = "auth_failure"
)

// Categories lists every category in the order of the spec table.
var Categories = []Category{RegisterNew, RegisterKnown, Heartbeat, Mutation, Read, Anonymous, Token, AuthFailure}

// Limit is a refill rate in tokens per minute and a bucket capacity.
type Limit struct {
	PerMinute float64
	Burst     int
}

// String renders the limit in the -rate-limit syntax, e.g. "12/min:6".
func (l Limit) String() string {
	return strconv.FormatFloat(l.PerMinute, 'f', -1, 64) + "/min:" + strconv.Itoa(l.Burst)
}

// Defaults holds the default limit of every category (registry.md §12).
func Defaults() map[Category]Limit {
	return map[Category]Limit{
		RegisterNew:   {120, 1000},
		RegisterKnown: {10, 5},
		Heartbeat:     {12, 6},
		Mutation:      {120, 60},
		Read:          {1200, 300},
		Anonymous:     {3000, 1000},
		Token:         {600, 200},
		AuthFailure:   {30, 30},
	}
}

// GlobalRegisterNew is the registry-wide bucket that every register_new
// request also draws from.
var GlobalRegisterNew = Limit{6000, 10000}

const (
	// DefaultIdleTTL is how long an untouched bucket is kept.
	DefaultIdleTTL = 10 * time.Minute
	// DefaultMaxKeys bounds the number of buckets per category.
	DefaultMaxKeys = 200_000
	sweepEvery     = time.Minute
)

// Config configures a Limiter. The zero value gives the defaults of
// registry.md §12 with the real clock.
type Config struct {
	// Overrides replaces the limits of the categories it names (see
	// ParseSpec). Categories it does not name keep their default.
	Overrides map[Category]Limit
	// Disabled turns every check into "allowed" (-rate-limit off).
	Disabled bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// IdleTTL is how long an untouched bucket survives; 0 means 10 min.
	IdleTTL time.Duration
	// MaxKeys bounds each category's map; 0 means DefaultMaxKeys. When a
	// map is full after expiring idle entries, an arbitrary entry is
	// evicted (its key restarts with a full bucket: lenient, never stuck).
	MaxKeys int
}

// Decision is the outcome of Allow or Check.
type Decision struct {
	Allowed bool
	// RetryAfter is the time until the bucket holds one token again; zero
	// when Allowed.
	RetryAfter time.Duration
	Category   Category
	Limit      Limit
	// Global reports that the registry-wide register_new bucket refused.
	Global bool
}

// RetryAfterMS is RetryAfter in whole milliseconds, rounded up
// (the retry_after_ms field of a rate_limited reply).
func (d Decision) RetryAfterMS() int64 {
	if d.RetryAfter <= 0 {
		return 0
	}
	return int64((d.RetryAfter + time.Millisecond - 1) / time.Millisecond)
}

// Message returns the human text of a rate_limited reply, e.g.
// "rate limited: too many heartbeats from node 42 (12/min); retry in 5 s".
// subject names the key ("node 42", "IP 192.0.2.1").
func (d Decision) Message(subject string) string {
	if d.Global {
		subject = "all sources"
	}
	secs := int64(math.Ceil(d.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return fmt.Sprintf("rate limited: too many %s from %s (%s/min); retry in %d s",
		nouns[d.Category], subject, strconv.FormatFloat(d.Limit.PerMinute, 'f', -1, 64), secs)
}

var nouns = map[Category]string{
	RegisterNew:   "registrations of new keys",
	RegisterKnown: "registrations",
	Heartbeat:     "heartbeats",
	Mutation:      "write requests",
	Read:          "read requests",
	Anonymous:     "unsigned requests",
	Token:         "token-authorized requests",
	AuthFailure:   "failed authentications",
}

// NodeKey is the bucket key of a signing node.
func NodeKey(id uint32) string { return "n" + strconv.FormatUint(uint64(id), 10) }

// IPKey is the bucket key of a source IP (IPv4-mapped IPv6 is unmapped so
// both forms share a bucket).
func IPKey(ip netip.Addr) string { return "i" + ip.Unmap().String() }

// PublicKeyKey is the bucket key of a public key (register_known).
func PublicKeyKey(b64 string) string { return "k" + b64 }

// Limiter holds the buckets. Create it with New.
type Limiter struct {
	// set once in New
	disabled bool
	now      func() time.Time
	idleTTL  time.Duration
	maxKeys  int
	limits   map[Category]Limit
	cats     map[Category]*table

	global *rate.Limiter // registry-wide register_new; guarded by globalMu
	// globalMu is taken after a table's mu when both are held.
	globalMu sync.Mutex
}

type table struct {
	mu        sync.Mutex
	limit     Limit
	entries   map[string]*entry // guarded by mu
	lastSweep time.Time         // guarded by mu
}

type entry struct {
	lim  *rate.Limiter
	last time.Time
}

// New returns a Limiter. Unknown categories in cfg.Overrides are an error.
func New(cfg Config) (*Limiter, error) {
	l := &Limiter{
		disabled: cfg.Disabled,
		now:      cfg.Now,
		idleTTL:  cfg.IdleTTL,
		maxKeys:  cfg.MaxKeys,
		limits:   Defaults(),
		cats:     make(map[Category]*table),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.idleTTL <= 0 {
		l.idleTTL = DefaultIdleTTL
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	for c, lim := range cfg.Overrides {
		if _, ok := l.limits[c]; !ok {
			return nil, fmt.Errorf("ratelimit: unknown category %q", c)
		}
		if err := lim.validate(); err != nil {
			return nil, fmt.Errorf("ratelimit: %s: %w", c, err)
		}
		l.limits[c] = lim
	}
	for c, lim := range l.limits {
		l.cats[c] = &table{limit: lim, entries: make(map[string]*entry)}
	}
	l.global = newBucket(GlobalRegisterNew, l.now())
	return l, nil
}

// Limit returns the effective limit of a category.
func (l *Limiter) Limit(c Category) Limit { return l.limits[c] }

// Disabled reports whether rate limiting is off.
func (l *Limiter) Disabled() bool { return l.disabled }

func newBucket(lim Limit, now time.Time) *rate.Limiter {
	b := rate.NewLimiter(rate.Limit(lim.PerMinute/60.0), lim.Burst)
	b.SetBurstAt(now, lim.Burst) // anchor the bucket at the injected clock, full
	return b
}

// Allow takes one token from the (c, key) bucket; a register_new request
// also takes one from the registry-wide bucket. When either holds less than
// one token nothing is taken and the Decision says how long to wait.
func (l *Limiter) Allow(c Category, key string) Decision {
	return l.take(c, key, true)
}

// Check reports whether the (c, key) bucket holds at least one token,
// without taking it (auth_failure gating, registry.md §12).
func (l *Limiter) Check(c Category, key string) Decision {
	return l.take(c, key, false)
}

func (l *Limiter) take(c Category, key string, consume bool) Decision {
	t, ok := l.cats[c]
	if !ok {
		panic(fmt.Sprintf("ratelimit: unknown category %q", c))
	}
	d := Decision{Allowed: true, Category: c, Limit: t.limit}
	if l.disabled {
		return d
	}
	now := l.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.getLocked(key, now, l)
	if wait := waitFor(e.lim, now); wait > 0 {
		d.Allowed, d.RetryAfter = false, wait
		return d
	}
	if c == RegisterNew {
		l.globalMu.Lock()
		defer l.globalMu.Unlock()
		if wait := waitFor(l.global, now); wait > 0 {
			d.Allowed, d.RetryAfter, d.Limit, d.Global = false, wait, GlobalRegisterNew, true
			return d
		}
		if consume {
			l.global.AllowN(now, 1)
		}
	}
	if consume {
		e.lim.AllowN(now, 1)
	}
	return d
}

// waitFor returns 0 when b holds at least one token at now, else the time
// until it does.
func waitFor(b *rate.Limiter, now time.Time) time.Duration {
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	r := float64(b.Limit())
	if r <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil((1 - tokens) / r * float64(time.Second)))
}

// AuthFailed charges one failed authentication (or one refused request
// whose non-matching admin_token decided it) to key: the signing node's
// NodeKey when a node signature verified, else the source IPKey
// (registry.md §12). When the Decision is not Allowed the request is
// answered rate_limited instead of its unauthenticated/permission_denied.
func (l *Limiter) AuthFailed(key string) Decision { return l.Allow(AuthFailure, key) }

// TokenGate reports whether key may still have an admin_token evaluated.
// Call it, without charging, before a request's outcome comes to depend
// on its admin_token: with the IPKey for requests without a verified node
// signature that carry an admin_token, with the NodeKey for signed
// requests that no signature-based step authorizes. A refused gate means
// rate_limited whether the token would match or not.
func (l *Limiter) TokenGate(key string) Decision { return l.Check(AuthFailure, key) }

// getLocked returns the bucket of key, creating a full one if needed.
func (t *table) getLocked(key string, now time.Time, l *Limiter) *entry {
	if now.Sub(t.lastSweep) >= sweepEvery {
		t.sweepLocked(now, l.idleTTL)
	}
	e, ok := t.entries[key]
	if !ok {
		if len(t.entries) >= l.maxKeys {
			t.sweepLocked(now, l.idleTTL)
			for k := range t.entries {
				if len(t.entries) < l.maxKeys {
					break
				}
				delete(t.entries, k)
			}
		}
		e = &entry{lim: newBucket(t.limit, now)}
		t.entries[key] = e
	}
	e.last = now
	return e
}

func (t *table) sweepLocked(now time.Time, ttl time.Duration) {
	t.lastSweep = now
	for k, e := range t.entries {
		if now.Sub(e.last) >= ttl {
			delete(t.entries, k)
		}
	}
}

// Len returns the number of live buckets of a category (tests, metrics).
func (l *Limiter) Len(c Category) int {
	t := l.cats[c]
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
