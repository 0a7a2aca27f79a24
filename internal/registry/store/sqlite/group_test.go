package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

func TestConformance_WithoutGroupCommit(t *testing.T) {
	b := storetest.Backend{
		New: func(t *testing.T) store.Store { return openT(t, t.TempDir(), Options{DisableGroupCommit: true}) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			d := s.(*DB)
			d.Close()
			return openT(t, d.opts.DataDir, Options{DisableGroupCommit: true})
		},
	}
	storetest.Run(t, b)
}

// TestGroupCommit_Item70_FailingMemberLeavesOthersIntact makes ten
// mutations share one commit: the failing and the panicking ones undo only
// themselves, the others are all committed together.
func TestGroupCommit_Item70_FailingMemberLeavesOthersIntact(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	const n = 10
	release, started := make(chan struct{}), make(chan struct{})
	errs := make([]error, n)
	panicked := make([]any, n)
	var wg sync.WaitGroup
	commitsBefore, leadsBefore := d.group.commits.Load(), d.group.leads.Load()
	boom := errors.New("member failed")
	for i := range n {
		wg.Go(func() {
			defer func() { panicked[i] = recover() }()
			errs[i] = d.Update(context.Background(), func(tx store.Tx) error {
				if i == 0 {
					close(started)
					<-release // hold the writer until everyone else queues
				}
				if _, err := tx.CreateNode(storetest.NewNode(fmt.Sprint("g", i), storetest.T0)); err != nil {
					return err
				}
				if _, err := tx.BumpPolicyEpoch(); err != nil {
					return err
				}
				switch i {
				case 3:
					return boom
				case 6:
					panic("handler bug")
				}
				return nil
			})
		})
		if i == 0 {
			<-started // member 0 holds the writer
		}
	}
	for d.group.waiting.Load() < n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if got := d.group.commits.Load() - commitsBefore; got != 1 {
		t.Errorf("%d commits for one batch, want 1", got)
	}
	// The members learn from their done channel that the leader ran
	// them; none takes the writer only to find its request done.
	if got := d.group.leads.Load() - leadsBefore; got != 1 {
		t.Errorf("the writer was taken %d times for one batch, want 1 (the leader)", got)
	}
	for i := range n {
		switch i {
		case 3:
			if !errors.Is(errs[i], boom) {
				t.Errorf("member 3 error = %v", errs[i])
			}
		case 6:
			if panicked[i] == nil {
				t.Errorf("member 6 panic swallowed")
			}
		default:
			if errs[i] != nil || panicked[i] != nil {
				t.Errorf("member %d: %v %v", i, errs[i], panicked[i])
			}
		}
	}
	d.View(context.Background(), func(tx store.ReadTx) error {
		for i := range n {
			_, err := tx.NodeByKey(storetest.Key(fmt.Sprint("g", i)))
			if failed := i == 3 || i == 6; failed != errors.Is(err, store.ErrNotFound) {
				t.Errorf("member %d: node lookup %v", i, err)
			}
			_, err = tx.KeyBinding(storetest.Key(fmt.Sprint("g", i)))
			if failed := i == 3 || i == 6; failed != errors.Is(err, store.ErrNotFound) {
				t.Errorf("member %d: key binding %v", i, err)
			}
		}
		if e, _ := tx.PolicyEpoch(); e != n-2 {
			t.Errorf("policy epoch %d, want %d", e, n-2)
		}
		return nil
	})
	dirMatchesTable(t, d)
}

// TestGroupCommit_CanceledContext: a caller whose context is done before
// it runs changes nothing and does not break the batch.
func TestGroupCommit_CanceledContext(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := d.Update(ctx, func(tx store.Tx) error { _, err := tx.BumpPolicyEpoch(); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with canceled ctx = %v", err)
	}
	if err := d.Update(context.Background(), func(tx store.Tx) error { _, err := tx.BumpPolicyEpoch(); return err }); err != nil {
		t.Fatal(err)
	}
	d.View(context.Background(), func(tx store.ReadTx) error {
		if e, _ := tx.PolicyEpoch(); e != 1 {
			t.Errorf("epoch = %d, want 1", e)
		}
		return nil
	})
}

// TestGroupCommit_GoexitReleasesWriter: a fn that ends its goroutine
// (t.FailNow in a test) while leading a batch still releases the writer.
func TestGroupCommit_GoexitReleasesWriter(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Update(context.Background(), func(tx store.Tx) error {
			if _, err := tx.BumpPolicyEpoch(); err != nil {
				return err
			}
			runtime.Goexit()
			return nil
		})
	}()
	<-done
	if err := d.Update(context.Background(), func(tx store.Tx) error { _, err := tx.BumpPolicyEpoch(); return err }); err != nil {
		t.Fatal(err)
	}
	d.View(context.Background(), func(tx store.ReadTx) error {
		if e, _ := tx.PolicyEpoch(); e != 1 {
			t.Errorf("epoch = %d, want 1 (the exited member undone)", e)
		}
		return nil
	})
}

// TestGroupCommit_CloseFailsQueued: Update after Close fails with
// ErrClosed.
func TestGroupCommit_CloseFailsQueued(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	d.Close()
	if err := d.Update(context.Background(), func(tx store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Update after Close = %v", err)
	}
}
