package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
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

// registerLike is the store work of one register of a new node (§7.1.1 as
// handlers/nodes.go runs it): the request nonce, the key binding lookup,
// the node, its audit row and the policy epoch of the reply. Its context
// can be cancelled, like that of a request.
func registerLike(d *DB, label string, nonce uint64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return d.Update(ctx, func(tx store.Tx) error {
		k := storetest.Key(label)
		var nc store.Nonce
		binary.BigEndian.PutUint64(nc[:], nonce)
		now := time.Now()
		if seen, err := tx.RecordNonce(k, nc, now, now.Add(2*time.Minute)); err != nil || seen {
			return fmt.Errorf("nonce: seen %v, %v", seen, err)
		}
		if _, err := tx.KeyBinding(k); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("key binding: %v", err)
		}
		n, err := tx.CreateNode(storetest.NewNode(label, now))
		if err != nil {
			return err
		}
		if _, err = tx.AppendAudit(now, "node.registered", n.ID, "self",
			[]identity.AuditAttr{{Key: "node_id", Value: int64(n.ID)}, {Key: "mode", Value: "new_node"}}); err != nil {
			return err
		}
		_, err = tx.PolicyEpoch()
		return err
	})
}

// cpuTime is the CPU time (user + system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRegisterPath measures the store work of registrations from 64
// concurrent callers per CPU under group commit, reporting the process CPU
// time per registration (cpu-µs/op), a figure that a shared, loaded machine
// distorts much less than ops/s.
func BenchmarkRegisterPath(b *testing.B) {
	d, err := Open(context.Background(), Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var n atomic.Int64
	commits := d.group.commits.Load()
	b.SetParallelism(64)
	b.ResetTimer()
	cpu0, start := cpuTime(), time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := registerLike(d, fmt.Sprint("r", i), uint64(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu, el := cpuTime()-cpu0, time.Since(start)
	b.ReportMetric(float64(cpu.Microseconds())/float64(n.Load()), "cpu-µs/op")
	b.ReportMetric(float64(n.Load())/el.Seconds(), "ops/s")
	if c := d.group.commits.Load() - commits; c > 0 {
		b.ReportMetric(float64(n.Load())/float64(c), "ops/commit")
	}
}
