package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// Secrets used by Populate; they must never appear in a store (item 74).
const (
	JoinSecret  = "join-secret-Kq7vX2pL"
	AdminSecret = "network-admin-secret-9fWz3mQe"
)

// Populate fills s with at least one row of every kind of state: nodes
// with every field set, a tombstone, a retired key, networks with tokens
// and policy, every role, invites, approvals and a pair, handshake queues,
// audit rows, nonces, beacons and a policy epoch.
func Populate(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		var ids []uint32
		for _, l := range []string{"o", "a", "m", "x", "gone"} {
			n := NewNode(l, T0)
			n.Hostname, n.Tags, n.LANAddrs, n.Version, n.Owner = "host-"+l, []string{"t1", "t2"}, []string{"10.0.0.1:1"}, "1.5.0", l+"@example.com"
			n.Public, n.TaskExec, n.PoloScore, n.KeyExpiresAt = l == "a", l == "m", 17, T0.Add(240*time.Hour)
			created, err := tx.CreateNode(n)
			if err != nil {
				return err
			}
			ids = append(ids, uint32(created.ID))
		}
		o, a, m, x, gone := ids[0], ids[1], ids[2], ids[3], ids[4]
		_ = gone
		nw, err := tx.CreateNetwork(store.Network{Name: "prod", JoinRule: store.JoinToken, TokenDigest: store.DigestOf(JoinSecret),
			AdminTokenDigest: store.DigestOf(AdminSecret), MaxMembers: 10, AllowedPorts: []uint16{443, 80},
			Description: "Prod <eu> & ü"}, nodeID(o), T0)
		if err != nil {
			return err
		}
		inv, err := tx.CreateNetwork(store.Network{Name: "club", JoinRule: store.JoinInvite}, nodeID(o), T0)
		if err != nil {
			return err
		}
		must(t, tx.AddMember(nw.ID, nodeID(a), store.RoleAdmin, T0))
		must(t, tx.AddMember(nw.ID, nodeID(m), store.RoleMember, T0))
		must(t, tx.CreateInvite(store.Invite{NetworkID: inv.ID, TargetID: nodeID(x), InviterID: nodeID(o), Created: T0, Expires: T0.Add(168 * time.Hour)}))
		for _, p := range [][2]uint32{{a, m}, {m, a}, {x, a}} {
			if _, _, err := tx.AddApproval(nodeID(p[0]), nodeID(p[1]), T0); err != nil {
				return err
			}
		}
		if _, err := tx.EnqueueHandshakeRequest(store.HandshakeRequest{FromID: nodeID(x), ToID: nodeID(m), Justification: "hi\nthere",
			Created: T0, Expires: T0.Add(168 * time.Hour)}); err != nil {
			return err
		}
		must(t, tx.EnqueueHandshakeResponse(store.HandshakeResponse{FromID: nodeID(m), ToID: nodeID(o), Accept: true, Created: T0,
			Expires: T0.Add(168 * time.Hour)}))
		if _, err := tx.RotateKey(nodeID(a), Key("a-rotated"), T0.Add(time.Minute), time.Time{}); err != nil {
			return err
		}
		if _, err := tx.TombstoneNode(nodeID(gone), T0.Add(time.Minute), "request"); err != nil {
			return err
		}
		if _, err := tx.RecordNonce(Key("o"), store.Nonce{1, 2}, T0, T0.Add(2*time.Minute)); err != nil {
			return err
		}
		must(t, tx.UpsertBeacon(store.Beacon{ID: 9, Addr: "beacon.example:9001", Updated: T0}))
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return err
		}
		for i, e := range []struct {
			action string
			attrs  []identity.AuditAttr
		}{
			{"network.created", []identity.AuditAttr{{Key: "network_id", Value: int(nw.ID)}, {Key: "name", Value: "prod"},
				{Key: "join_rule", Value: "token"}, {Key: "creator_node_id", Value: int64(o)}}},
			{"tags.changed", []identity.AuditAttr{{Key: "node_id", Value: int64(m)}, {Key: "tags", Value: []string{"t1", "t2"}},
				{Key: "old_tags_count", Value: 0}, {Key: "new_tags_count", Value: 2}}},
			{"trust.created", []identity.AuditAttr{{Key: "node_a", Value: int64(m)}, {Key: "node_b", Value: int64(a)},
				{Key: "mutual", Value: true}}},
		} {
			if _, err := tx.AppendAudit(T0.Add(time.Duration(i)*time.Second), e.action, nodeID(o), "role", e.attrs); err != nil {
				return err
			}
		}
		return nil
	})
}

// BackupRows returns the row lines of a backup of s (header and trailer
// stripped): equal results mean equal contents.
func BackupRows(t *testing.T, s store.Store) string {
	t.Helper()
	data := backup(t, s)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	return strings.Join(lines[1:len(lines)-1], "\n")
}

func backup(t *testing.T, s store.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	sum, err := s.Backup(ctx(), &buf, "test")
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if got := sha256.Sum256(buf.Bytes()[:bytes.LastIndexByte(buf.Bytes()[:buf.Len()-1], '\n')+1]); hex.EncodeToString(got[:]) != sum.SHA256 {
		t.Fatalf("Backup summary checksum %s does not match the file", sum.SHA256)
	}
	return buf.Bytes()
}

// BackupLines is a backup of s as lines, header and rows, without the
// trailer: edit them and Reseal them to craft a backup file.
func BackupLines(t *testing.T, s store.Store) []string {
	t.Helper()
	return splitBackup(backup(t, s))
}

// Reseal rebuilds a backup file from lines (header and rows) with a
// correct trailer.
func Reseal(lines []string) []byte {
	body := strings.Join(lines, "\n") + "\n"
	sum := sha256.Sum256([]byte(body))
	return []byte(body + fmt.Sprintf(`{"trailer":true,"rows":%d,"sha256":"%x"}`, len(lines)-1, sum) + "\n")
}

func splitBackup(data []byte) []string {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	return lines[:len(lines)-1]
}

func testBackupRestore(t *testing.T, b Backend) {
	src := open(t, b)
	Populate(t, src)
	data := backup(t, src)
	if !bytes.HasPrefix(data, []byte(`{"format":"pilot-registry-backup","format_version":1,"schema_version":`)) {
		t.Fatalf("header = %s", data[:bytes.IndexByte(data, '\n')])
	}
	dst := open(t, b)
	sum, err := dst.Restore(ctx(), data, store.RestoreOptions{})
	if err != nil {
		t.Fatalf("Restore into an empty store: %v", err)
	}
	if sum.Rows != strings.Count(string(data), "\n")-2 || sum.ChainErr != nil {
		t.Errorf("summary = %+v", sum)
	}
	if got, want := BackupRows(t, dst), BackupRows(t, src); got != want {
		t.Fatalf("restored rows differ:\n got %s\nwant %s", got, want)
	}
	n, head, err := dst.VerifyAudit(ctx())
	_, wantHead, _ := src.VerifyAudit(ctx())
	if err != nil || n != 3 || head != wantHead {
		t.Fatalf("audit verify after restore = %d %s %v", n, head, err)
	}
	CheckInvariants(t, dst, T0)
	// Allocators came along: IDs are not reused after a restore.
	a, c := mustCreate(t, src, "next"), mustCreate(t, dst, "next")
	if a != c {
		t.Errorf("next node ID %d after restore, %d in the source", c, a)
	}
}

func testRestoreCorrupt(t *testing.T, b Backend) {
	src := open(t, b)
	Populate(t, src)
	data := backup(t, src)
	dst := open(t, b)
	mustCreate(t, dst, "keep")
	before := BackupRows(t, dst)
	positions := []int{0, len(data) / 2, len(data) - 1, len(data) - 10, bytes.LastIndexByte(data[:len(data)-1], '\n') + 3}
	for p := 1; p < len(data); p += len(data)/40 + 1 {
		positions = append(positions, p)
	}
	for _, p := range positions {
		bad := bytes.Clone(data)
		bad[p] ^= 0x01
		_, err := dst.Restore(ctx(), bad, store.RestoreOptions{Force: true})
		if !errors.Is(err, store.ErrBackupCorrupt) {
			t.Fatalf("byte %d flipped: Restore error = %v, want corrupt", p, err)
		}
		if !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("error %q does not say nothing was changed", err)
		}
	}
	for _, cut := range []int{0, 1, len(data) / 2, len(data) - 1} {
		if _, err := dst.Restore(ctx(), data[:cut], store.RestoreOptions{Force: true}); !errors.Is(err, store.ErrBackupCorrupt) {
			t.Fatalf("truncated to %d: %v", cut, err)
		}
	}
	if after := BackupRows(t, dst); after != before {
		t.Fatal("a refused restore changed the target (item 73)")
	}
}

func testRestoreRefusals(t *testing.T, b Backend) {
	src := open(t, b)
	Populate(t, src)
	data := backup(t, src)
	dst := open(t, b)
	mustCreate(t, dst, "keep")
	before := BackupRows(t, dst)
	_, err := dst.Restore(ctx(), data, store.RestoreOptions{})
	wantErr(t, err, store.ErrNotEmpty)
	// Newer schema (step 2).
	lines := splitBackup(data)
	lines[0] = strings.Replace(lines[0], `"schema_version":`, `"schema_version":99`, 1)
	_, err = dst.Restore(ctx(), Reseal(lines), store.RestoreOptions{Force: true})
	wantErr(t, err, store.ErrSchemaTooNew)
	if BackupRows(t, dst) != before {
		t.Fatal("a refused restore changed the target")
	}
	// A broken audit chain aborts unless forced (step 4).
	lines = splitBackup(data)
	tampered := false
	for i, l := range lines {
		if strings.HasPrefix(l, `{"table":"audit"`) && strings.Contains(l, "tags.changed") {
			lines[i] = strings.Replace(l, `\"t2\"`, `\"t3\"`, 1)
			tampered = lines[i] != l
		}
	}
	if !tampered {
		t.Fatal("no audit row to tamper with")
	}
	_, err = dst.Restore(ctx(), Reseal(lines), store.RestoreOptions{Force: true})
	if err != nil {
		t.Fatalf("forced restore of a broken chain: %v", err)
	}
	var ce *store.ChainError
	if _, _, err := dst.VerifyAudit(ctx()); !errors.As(err, &ce) || ce.Seq != 2 || ce.Kind != store.ChainMismatch {
		t.Fatalf("VerifyAudit after forced restore = %v", err)
	}
	dst3 := open(t, b)
	before3 := BackupRows(t, dst3)
	_, err = dst3.Restore(ctx(), Reseal(lines), store.RestoreOptions{})
	if !errors.As(err, &ce) || ce.Seq != 2 {
		t.Fatalf("restore of a broken chain = %v, want chain error at seq 2", err)
	}
	if rows := BackupRows(t, dst3); rows != before3 {
		t.Fatal("refused restore changed an empty target")
	}
	// Force replaces a non-empty target.
	dst2 := open(t, b)
	mustCreate(t, dst2, "keep")
	if _, err := dst2.Restore(ctx(), data, store.RestoreOptions{Force: true}); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	if BackupRows(t, dst2) != BackupRows(t, src) {
		t.Fatal("forced restore did not replace the contents")
	}
}

func testNoCleartextSecrets(t *testing.T, b Backend) {
	s := open(t, b)
	Populate(t, s)
	data := string(backup(t, s))
	for _, secret := range []string{JoinSecret, AdminSecret} {
		if strings.Contains(data, secret) {
			t.Errorf("store holds %q in clear text", secret)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		nw, err := tx.NetworkByName("prod")
		if err != nil {
			return err
		}
		if nw.TokenDigest != store.DigestOf(JoinSecret) || nw.AdminTokenDigest != store.DigestOf(AdminSecret) {
			t.Error("digests not kept")
		}
		return nil
	})
}
