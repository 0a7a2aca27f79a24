package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// The backbone's created time is the store's first start, not the epoch
// (list_networks reports it as `created`, registry.md §7.4.6).
func TestBackboneCreatedAtFirstStart(t *testing.T) {
	start := time.Now()
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	var n store.Network
	err := d.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		n, err = tx.Network(0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.Created.Before(start.Add(-time.Minute)) || n.Created.After(time.Now().Add(time.Minute)) {
		t.Fatalf("backbone created %v, want about %v", n.Created, start)
	}
}
