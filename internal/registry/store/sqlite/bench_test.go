package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

// insert is one typical mutation: a new node with its audit row.
func insert(d *DB, label string) error {
	return d.Update(context.Background(), func(tx store.Tx) error {
		n, err := tx.CreateNode(storetest.NewNode(label, storetest.T0))
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(time.Now(), "node.registered", n.ID, "self",
			[]identity.AuditAttr{{Key: "node_id", Value: int64(n.ID)}, {Key: "mode", Value: "new_node"}})
		return err
	})
}

// verifyCost stands for the signature check a request pays before its
// Update (an Ed25519 verification).
func verifyCost(b *testing.B) func() {
	id, err := identity.FromSeed(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("register")
	sig := id.Sign(msg)
	return func() {
		if !identity.Verify(id.PublicKey(), msg, sig) {
			b.Error("verify")
		}
	}
}

func benchInsert(b *testing.B, opts Options, parallel bool) { benchInsertN(b, opts, parallel, 8, nil) }

func benchInsertN(b *testing.B, opts Options, parallel bool, par int, before func()) {
	d, err := Open(context.Background(), Options{DataDir: b.TempDir(), DisableGroupCommit: opts.DisableGroupCommit})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var n atomic.Int64
	commits := d.group.commits.Load()
	b.ResetTimer()
	start := time.Now()
	if parallel {
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if before != nil {
					before()
				}
				if err := insert(d, fmt.Sprint("b", n.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if err := insert(d, fmt.Sprint("b", n.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(n.Load())/el.Seconds(), "ops/s")
	if c := d.group.commits.Load() - commits; c > 0 {
		b.ReportMetric(float64(n.Load())/float64(c), "ops/commit")
	}
}

// BenchmarkUpdate measures acknowledged (fsynced) single-insert Updates:
// one caller at a time, and 16 concurrent callers with and without group
// commit.
func BenchmarkUpdate(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchInsert(b, Options{}, false) })
	b.Run("parallel/group-commit", func(b *testing.B) { benchInsert(b, Options{}, true) })
	b.Run("parallel/no-group-commit", func(b *testing.B) { benchInsert(b, Options{DisableGroupCommit: true}, true) })
	// 64 callers per CPU that each verify a signature first, like
	// registrations arriving from many clients: the batch size shows
	// whether group commit still groups when callers trickle in.
	b.Run("parallel64/verify-first", func(b *testing.B) { benchInsertN(b, Options{}, true, 64, verifyCost(b)) })
}
