package handlers

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/identity/edbatch"
)

// Shared signature batches (§5.2 step 4).
//
// Every signed request needs an Ed25519 verification, the largest CPU cost
// of a heartbeat. edbatch verifies many signatures for little more than
// half the cost each, so concurrent requests (one goroutine per
// connection) pool theirs by flat combining, like the store's group
// commit: a request queues its job; if no leader is running it becomes
// the leader, takes what is queued (at most edbatch.MaxBatch signatures,
// oldest first), verifies the batch on its own goroutine and hands out the
// verdicts. It leads again while its own job is still queued; once its
// verdict is out and jobs are still waiting, it passes the lead to the
// oldest waiter, whose wake-up was due anyway, and returns. A request that
// finds no leader waits for nobody: it yields the processor once
// (runtime.Gosched, which returns at once when nothing else is runnable)
// so that requests already runnable on other connections can queue, then
// verifies what is queued, alone with identity.Verify if it is alone.
// Under load a batch holds the jobs that arrived while the previous one
// was verified (about 14 per batch at 64 clients on 2 cores; without the
// yield, about half of the signatures were verified alone).

// keyCacheSize bounds the leader's cache of decoded public keys (two
// generations, at most 2 × keyCacheSize keys of about 230 bytes, 3.7 MB):
// a registry whose active nodes fit skips a square root per signature,
// about a tenth of a batched verification.
const keyCacheSize = 8192

// sigJob is one request's signatures: the request signature and, for
// rotate_key, the new key's proof.
type sigJob struct {
	items [2]edbatch.Item
	ok    [2]bool
	n     int
	wake  chan bool // cap 1, one send at most: true = verdicts in ok, false = lead
}

func (j *sigJob) add(pub, msg, sig []byte) {
	j.items[j.n] = edbatch.Item{PublicKey: pub, Message: msg, Signature: sig}
	j.n++
}

// sigBatcher is the flat combiner. mu guards queue and running; v, items,
// ok and batch belong to the leader: one goroutine at a time uses them,
// and the lead is handed over under mu.
type sigBatcher struct {
	pool sync.Pool // *sigJob

	mu      sync.Mutex
	queue   []*sigJob
	running bool // a leader exists (running or promoted and waking up)

	v     edbatch.Verifier
	items []edbatch.Item
	ok    []bool
	batch []*sigJob

	// leading, if set (tests), is called by a leader before it verifies a
	// batch of jobs; queued after a job was queued behind a leader.
	leading func(jobs int)
	queued  func()
}

func (b *sigBatcher) job() *sigJob {
	if j, ok := b.pool.Get().(*sigJob); ok {
		return j
	}
	return &sigJob{wake: make(chan bool, 1)}
}

// release returns a job whose verdicts were read.
func (b *sigBatcher) release(j *sigJob) {
	*j = sigJob{wake: j.wake}
	b.pool.Put(j)
}

// verify fills j.ok, in a batch with whatever else is queued.
func (b *sigBatcher) verify(j *sigJob) {
	b.mu.Lock()
	b.queue = append(b.queue, j)
	if b.running {
		b.mu.Unlock()
		if b.queued != nil {
			b.queued()
		}
		if <-j.wake {
			return // a leader verified it
		}
		b.mu.Lock() // promoted: lead, the job is first in the queue
	}
	b.running = true
	// Yield once before taking the batch: goroutines whose requests have
	// arrived and are runnable (one per connection) get to run up to the
	// queue first, so a loaded registry verifies them together. Nothing is
	// waited for: with nothing else runnable the scheduler returns at once.
	b.mu.Unlock()
	runtime.Gosched()
	b.mu.Lock()
	var bug any // a panic of the batch verifier, re-raised on the way out
	for {
		batch := b.takeLocked()
		b.mu.Unlock()
		done, p := b.run(batch, j)
		if bug == nil {
			bug = p
		}
		b.mu.Lock()
		if !done {
			continue
		}
		if len(b.queue) == 0 {
			b.running = false
		} else {
			b.queue[0].wake <- false
		}
		b.mu.Unlock()
		if bug != nil {
			panic(bug) // the server logs it; every verdict is out
		}
		return
	}
}

// takeLocked removes the oldest jobs holding at most edbatch.MaxBatch
// signatures (at least one job) from the queue.
func (b *sigBatcher) takeLocked() []*sigJob {
	b.batch = b.batch[:0]
	n, k := 0, 0
	for ; k < len(b.queue) && (k == 0 || n+b.queue[k].n <= edbatch.MaxBatch); k++ {
		n += b.queue[k].n
		b.batch = append(b.batch, b.queue[k])
	}
	rest := copy(b.queue, b.queue[k:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return b.batch
}

// run verifies a batch, wakes its jobs except self and reports whether
// self was in it, and the value of a panic in the batch verifier.
func (b *sigBatcher) run(batch []*sigJob, self *sigJob) (done bool, bug any) {
	b.items = b.items[:0]
	for _, j := range batch {
		b.items = append(b.items, j.items[:j.n]...)
	}
	if cap(b.ok) < len(b.items) {
		b.ok = make([]bool, len(b.items))
	}
	ok := b.ok[:len(b.items)]
	bug = b.verifyItems(len(batch), ok)
	clear(b.items) // keep no request's bytes
	for _, j := range batch {
		copy(j.ok[:j.n], ok[:j.n])
		ok = ok[j.n:]
		if j == self {
			done = true
		} else {
			j.wake <- true
		}
	}
	clear(b.batch)
	return done, bug
}

// verifyItems fills ok for b.items. If the random source fails, or the
// batch verifier panics (a bug: its value is returned, to be re-raised
// once every verdict is out and the lead is passed on, so that no request
// waits for ever), the signatures are checked one by one.
func (b *sigBatcher) verifyItems(jobs int, ok []bool) (bug any) {
	err := func() (err error) {
		defer func() {
			if bug = recover(); bug != nil {
				b.v = edbatch.Verifier{} // scratch state unknown
				err = fmt.Errorf("batch verifier panicked: %v", bug)
			}
		}()
		if b.leading != nil {
			b.leading(jobs)
		}
		if b.v.Keys == nil {
			b.v.Keys = edbatch.NewKeyCache(keyCacheSize)
		}
		return b.v.Verify(b.items, ok)
	}()
	if err != nil {
		for i, it := range b.items {
			ok[i] = identity.Verify(ed25519.PublicKey(it.PublicKey), it.Message, it.Signature)
		}
	}
	return bug
}
