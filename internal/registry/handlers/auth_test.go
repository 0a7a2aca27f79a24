package handlers

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/server"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// sigCase is one signature for the batcher tests and its true verdict.
type sigCase struct {
	pub, msg, sig []byte
	valid         bool
}

func sigCases(t *testing.T, n int) []sigCase {
	t.Helper()
	out := make([]sigCase, n)
	for i := range out {
		seed := make([]byte, identity.SeedSize)
		seed[0], seed[1] = byte(i), byte(i>>8)
		id, err := identity.FromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Appendf(nil, "canonical %d", i)
		c := sigCase{pub: id.PublicKey(), msg: msg, sig: id.Sign(msg), valid: true}
		switch i % 5 {
		case 1:
			c.msg = append(bytes.Clone(msg), '!')
			c.valid = false
		case 3:
			c.sig = bytes.Clone(c.sig)
			c.sig[40] ^= 4
			c.valid = false
		}
		if identity.Verify(c.pub, c.msg, c.sig) != c.valid {
			t.Fatalf("case %d: test setup", i)
		}
		out[i] = c
	}
	return out
}

// submit verifies one or two cases as one job and checks the verdicts.
func submit(t *testing.T, b *sigBatcher, cs ...sigCase) {
	j := b.job()
	defer b.release(j)
	for _, c := range cs {
		j.add(c.pub, c.msg, c.sig)
	}
	b.verify(j)
	for i, c := range cs {
		if j.ok[i] != c.valid {
			t.Errorf("signature %q: verdict %v, want %v", c.msg, j.ok[i], c.valid)
		}
	}
}

// TestSigBatcher_Concurrent: many goroutines with good and bad signatures,
// single and paired (rotate_key), each get exact verdicts.
func TestSigBatcher_Concurrent(t *testing.T) {
	cases := sigCases(t, 40)
	var b sigBatcher
	var mu sync.Mutex
	var sizes []int
	b.leading = func(jobs int) {
		mu.Lock()
		sizes = append(sizes, jobs)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 15 {
				a, c := cases[r.IntN(len(cases))], cases[r.IntN(len(cases))]
				if r.IntN(3) == 0 {
					submit(t, &b, a, c)
				} else {
					submit(t, &b, a)
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != 24*15 {
		t.Fatalf("batches hold %d jobs, want %d", total, 24*15)
	}
	if b.running || len(b.queue) != 0 {
		t.Fatalf("batcher not idle: running %v, %d queued", b.running, len(b.queue))
	}
}

// TestSigBatcher_Alone: an idle request leads a batch of its own.
func TestSigBatcher_Alone(t *testing.T) {
	cases := sigCases(t, 4)
	var b sigBatcher
	var sizes []int
	b.leading = func(jobs int) { sizes = append(sizes, jobs) }
	b.queued = func() { t.Error("a lone request queued behind a leader") }
	for _, c := range cases {
		submit(t, &b, c)
	}
	submit(t, &b, cases[0], cases[1])
	if !slices.Equal(sizes, []int{1, 1, 1, 1, 1}) {
		t.Fatalf("batches %v, want five of one job", sizes)
	}
}

// TestSigBatcher_Shares holds a leader while jobs queue behind it: the
// leader hands the lead to the oldest waiter, which verifies the queued
// jobs in batches of at most 64 signatures.
func TestSigBatcher_Shares(t *testing.T) {
	cases := sigCases(t, 80)
	for _, tc := range []struct {
		name  string
		pairs bool
		jobs  int
		want  []int // batch sizes in jobs after the held one
	}{
		{"ten", false, 10, []int{10}},
		{"seventy", false, 70, []int{64, 6}},
		{"pairs", true, 40, []int{32, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b sigBatcher
			held, release := make(chan struct{}), make(chan struct{})
			queued := make(chan struct{}, tc.jobs)
			var mu sync.Mutex
			var sizes []int
			b.leading = func(jobs int) {
				mu.Lock()
				first := sizes == nil
				sizes = append(sizes, jobs)
				mu.Unlock()
				if first {
					close(held)
					<-release
				}
			}
			b.queued = func() { queued <- struct{}{} }
			var wg sync.WaitGroup
			wg.Go(func() { submit(t, &b, cases[0]) })
			<-held
			for i := range tc.jobs {
				wg.Go(func() {
					if tc.pairs {
						submit(t, &b, cases[1+i], cases[2+i])
					} else {
						submit(t, &b, cases[1+i])
					}
				})
				// Queue in a known order: the next job starts once this
				// one waits.
				<-queued
			}
			close(release)
			wg.Wait()
			if want := append([]int{1}, tc.want...); !slices.Equal(sizes, want) {
				t.Fatalf("batches %v, want %v", sizes, want)
			}
		})
	}
}

// TestAuth_ConcurrentVerdicts sends good and bad signatures concurrently
// through Handle: each request gets its own verdict and error text, while
// the signatures share batches.
func TestAuth_ConcurrentVerdicts(t *testing.T) {
	e := newEnv(t)
	nodes := make([]*node, 6)
	for i := range nodes {
		nodes[i] = e.register()
	}
	stranger := newIdentity(t)
	type job struct {
		body []byte
		want string // reply type, or a fragment of the error message
	}
	var jobs []job
	for i := range 90 {
		n := nodes[i%len(nodes)]
		switch i % 5 {
		case 0, 2:
			jobs = append(jobs, job{regmsg.AppendRequest(nil, e.sign(&regmsg.Heartbeat{NodeID: n.ID}, n.id)), "heartbeat_ok"})
		case 1:
			jobs = append(jobs, job{regmsg.AppendRequest(nil, e.sign(&regmsg.Heartbeat{NodeID: n.ID}, stranger)),
				fmt.Sprintf("signature does not verify under the current key of node %d;", n.ID)})
		case 3:
			id := newIdentity(t)
			jobs = append(jobs, job{regmsg.AppendRequest(nil, e.sign(&regmsg.Register{PublicKey: id.PublicKeyBase64()}, id)), "register_ok"})
		case 4:
			id := newIdentity(t)
			jobs = append(jobs, job{regmsg.AppendRequest(nil, e.sign(&regmsg.Register{PublicKey: id.PublicKeyBase64()}, stranger)),
				"signature does not verify under the public key carried in the request"})
		}
	}
	replies := make([][]byte, len(jobs))
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := w; i < len(jobs); i += 12 {
				resp := e.h.Handle(context.Background(), &server.Request{Body: jobs[i].body, RemoteIP: e.ip,
					Remote: netip.AddrPortFrom(e.ip, uint16(40000+w))})
				replies[i] = resp.Body
			}
		})
	}
	wg.Wait()
	for i, j := range jobs {
		if !bytes.Contains(replies[i], []byte(j.want)) {
			t.Errorf("request %d: reply %s, want %q", i, replies[i], j.want)
		}
	}
}

// TestSigBatcher_VerifierPanics: a panic in the batch verifier reaches the
// leader's caller only after every job of the batch got its exact verdict
// (checked one by one) and the lead was passed on.
func TestSigBatcher_VerifierPanics(t *testing.T) {
	cases := sigCases(t, 8)
	var b sigBatcher
	held, release := make(chan struct{}), make(chan struct{})
	queued := make(chan struct{}, len(cases))
	calls := 0 // leader-only
	b.leading = func(jobs int) {
		calls++
		switch calls {
		case 1:
			close(held)
			<-release
		case 2:
			panic("verifier bug")
		}
	}
	b.queued = func() { queued <- struct{}{} }
	var wg sync.WaitGroup
	wg.Go(func() { submit(t, &b, cases[0]) })
	<-held
	panics := make(chan any, len(cases))
	for i := 1; i < len(cases); i++ {
		wg.Go(func() {
			defer func() { panics <- recover() }()
			submit(t, &b, cases[i])
		})
		<-queued
	}
	close(release)
	wg.Wait()
	close(panics)
	var got []any
	for p := range panics {
		if p != nil {
			got = append(got, p)
		}
	}
	if len(got) != 1 || got[0] != "verifier bug" {
		t.Fatalf("panics %v, want the one of the batch's leader", got)
	}
	b.leading, b.queued = nil, nil
	submit(t, &b, cases[2], cases[3]) // the batcher still works
}

// BenchmarkSigBatcher_Alone is the idle path: one request at a time, each
// leading a batch of its own (compare with identity.Verify).
func BenchmarkSigBatcher_Alone(b *testing.B) {
	seed := make([]byte, identity.SeedSize)
	id, _ := identity.FromSeed(seed)
	msg := []byte("canonical")
	pub, sig := id.PublicKey(), id.Sign(msg)
	b.Run("batcher", func(b *testing.B) {
		var sb sigBatcher
		for b.Loop() {
			j := sb.job()
			j.add(pub, msg, sig)
			sb.verify(j)
			if !j.ok[0] {
				b.Fatal("rejected")
			}
			sb.release(j)
		}
	})
	b.Run("identity.Verify", func(b *testing.B) {
		for b.Loop() {
			if !identity.Verify(pub, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
}

// TestAuth_ConcurrentReplay: copies of one signed heartbeat sent at once
// are accepted exactly once.
func TestAuth_ConcurrentReplay(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	body := regmsg.AppendRequest(nil, e.sign(&regmsg.Heartbeat{NodeID: n.ID}, n.id))
	const copies = 16
	replies := make([][]byte, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() {
			resp := e.h.Handle(context.Background(), &server.Request{Body: body, RemoteIP: e.ip,
				Remote: netip.AddrPortFrom(e.ip, uint16(40000+i))})
			replies[i] = resp.Body
		})
	}
	wg.Wait()
	accepted := 0
	for _, r := range replies {
		switch {
		case bytes.Contains(r, []byte(`"heartbeat_ok"`)):
			accepted++
		case !bytes.Contains(r, []byte("replayed request: this nonce was already accepted")):
			t.Fatalf("reply %s", r)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d copies accepted, want 1", accepted)
	}
}

func TestNonceCache_Window(t *testing.T) {
	const window = 2 * time.Minute
	c := newNonceCache(window)
	t0 := time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)
	var k store.PublicKey
	var a, b store.Nonce
	a[0], b[0] = 1, 2
	if c.seenOrAdd(k, a, t0) {
		t.Fatal("fresh nonce seen")
	}
	if !c.seenOrAdd(k, a, t0.Add(window-time.Nanosecond)) || !c.seen(k, a, t0.Add(window-time.Nanosecond)) {
		t.Fatal("nonce forgotten within the window")
	}
	c.add(k, b, t0.Add(window/2))
	// The generation that holds a rotates at t0+window; a expires then,
	// b stays in the old generation until its own window ends.
	if c.seen(k, a, t0.Add(window)) {
		t.Fatal("nonce remembered for a whole window")
	}
	if !c.seen(k, b, t0.Add(window+window/2-time.Nanosecond)) {
		t.Fatal("nonce of the old generation forgotten within its window")
	}
	if c.seenOrAdd(k, b, t0.Add(window+window/2)) {
		t.Fatal("nonce remembered for a whole window")
	}
	// At t0+4·window the generations turn once more: only b, added again
	// at 1.5 windows, is left (in the old one).
	c.seen(k, a, t0.Add(4*window))
	if len(c.cur)+len(c.old) > 1 {
		t.Fatalf("%d entries after two rotations", len(c.cur)+len(c.old))
	}
}

// Table 5.4: a signature on a message that no node signs is refused, and
// the message says to send it unsigned (naming a signer field could not
// help).
func TestRegistry_SignatureOnUnsignedMessage(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	r := e.signed(&regmsg.GetKeyInfo{NodeID: n.ID}, n.id)
	e.fail(r, regmsg.CodeUnauthenticated)
	if !strings.Contains(r.err.Message, "get_key_info is not a signed message") {
		t.Fatalf("message %q", r.err.Message)
	}
}
