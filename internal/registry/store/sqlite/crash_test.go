package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

const crashChildEnv = "PILOT_STORE_CRASH_CHILD_DIR"

// crashChild is the child process: it commits mutations (node + audit row
// + nonce + epoch bump, as a handler would) and prints "ack <id>" for each
// one only after Update returned, i.e. after it was acknowledged.
func crashChild(dir string) {
	d, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	for w := range 4 { // concurrent writers: their mutations share commits
		wg.Go(func() {
			for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
				crashChildUpdate(d, fmt.Sprintf("crash-%d-%d-%d", os.Getpid(), w, i))
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

func crashChildUpdate(d *DB, label string) {
	var id addr.NodeID
	err := d.Update(context.Background(), func(tx store.Tx) error {
		n, err := tx.CreateNode(storetest.NewNode(label, time.Now()))
		if err != nil {
			return err
		}
		id = n.ID
		if _, err := tx.RecordNonce(n.PublicKey, store.Nonce{1}, time.Now(), time.Now().Add(time.Minute)); err != nil {
			return err
		}
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return err
		}
		_, err = tx.AppendAudit(time.Now(), "node.registered", n.ID, "self",
			[]identity.AuditAttr{{Key: "node_id", Value: int64(n.ID)}, {Key: "mode", Value: "new_node"}})
		return err
	})
	if err != nil {
		fmt.Println("update error:", err)
		os.Exit(3)
	}
	fmt.Fprintf(os.Stdout, "ack %d %s\n", id, label) // one write per ack, after Update returned
}

// TestStore_Item70_AcknowledgedSurvivesKill9 kills a writing child process
// at random moments and checks after each kill that every acknowledged
// mutation is in the reopened store and the audit chain verifies
// (§13.2 guarantee 2).
func TestStore_Item70_AcknowledgedSurvivesKill9(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(70, uint64(time.Now().UnixNano())))
	type ack struct {
		id    addr.NodeID
		label string
	}
	var acked []ack
	const iterations = 24
	for it := range iterations {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStore_Item70_AcknowledgedSurvivesKill9$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(25)
		sc := bufio.NewScanner(stdout)
		seen, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ack" {
				t.Fatalf("iteration %d: child says %q", it, line)
			}
			n, err := strconv.ParseUint(f[1], 10, 32)
			if err != nil {
				t.Fatalf("bad ack line %q", line)
			}
			acked = append(acked, ack{addr.NodeID(n), f[2]})
			if seen++; seen == killAfter && !killed {
				cmd.Process.Signal(syscall.SIGKILL) // mid-way through the next Update
				killed = true
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("iteration %d: child exited before %d acks", it, killAfter)
		}
		// Every acknowledged mutation is present after the crash.
		d := openT(t, dir, Options{})
		err = d.View(context.Background(), func(tx store.ReadTx) error {
			for _, a := range acked {
				n, err := tx.Node(a.id)
				if err != nil || n.PublicKey != storetest.Key(a.label) {
					return fmt.Errorf("acknowledged node %d (%s) lost: %+v, %v", a.id, a.label, n, err)
				}
			}
			epoch, err := tx.PolicyEpoch()
			if err == nil && epoch < uint64(len(acked)) {
				err = fmt.Errorf("policy epoch %d < %d acknowledged bumps", epoch, len(acked))
			}
			return err
		})
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		if n, _, err := d.VerifyAudit(context.Background()); err != nil || n < len(acked) {
			t.Fatalf("iteration %d: audit chain %d entries, %v", it, n, err)
		}
		if it == iterations-1 {
			storetest.CheckInvariants(t, d, time.Now())
		}
		d.Close()
	}
	t.Logf("%d kills, %d acknowledged mutations verified", iterations, len(acked))
}
