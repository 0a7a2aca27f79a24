package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

const networkCols = `id, name, join_rule, token_digest, admin_token_digest, created_at, max_members, allowed_ports, description`

// memberCount is a subquery counting members of the network aliased w;
// network 0 counts live nodes (every node is a backbone member).
const memberCount = `CASE WHEN w.id = 0 THEN (SELECT count(*) FROM nodes)
	ELSE (SELECT count(*) FROM memberships m WHERE m.network_id = w.id) END`

func scanNetwork(s scanner, extra ...any) (store.Network, error) {
	var (
		nw              store.Network
		id, created, mm int64
		rule, ports     string
		tok, adm        sql.NullString
	)
	dest := []any{&id, &nw.Name, &rule, &tok, &adm, &created, &mm, &ports, &nw.Description}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return nw, err
	}
	var err error
	nw.ID, nw.Created, nw.MaxMembers = addr.NetworkID(id), time.UnixMilli(created).UTC(), uint32(mm)
	if nw.JoinRule, err = store.ParseJoinRule(rule); err != nil {
		return nw, err
	}
	if nw.TokenDigest, err = parseDigest(tok); err != nil {
		return nw, err
	}
	if nw.AdminTokenDigest, err = parseDigest(adm); err != nil {
		return nw, err
	}
	nw.AllowedPorts, err = parseList[uint16](ports, "allowed_ports")
	return nw, err
}

func (t *tx) networkWhere(what, cond string, arg any) (store.Network, error) {
	nw, err := scanNetwork(t.q.QueryRowContext(t.ctx, `SELECT `+networkCols+` FROM networks WHERE `+cond, arg))
	if err == sql.ErrNoRows {
		return nw, notFound("%s", what)
	}
	return nw, err
}

func (t *tx) Network(id addr.NetworkID) (store.Network, error) {
	return t.networkWhere(fmt.Sprintf("network %d", id), "id = ?", int64(id))
}

func (t *tx) NetworkByName(name string) (store.Network, error) {
	return t.networkWhere(fmt.Sprintf("network %q", name), "name = ?", name)
}

func (t *tx) listNetworkRoles(q string, args ...any) ([]store.NetworkRole, error) {
	rows, err := t.q.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.NetworkRole
	for rows.Next() {
		var nr store.NetworkRole
		var role sql.NullString
		if nr.Network, err = scanNetwork(rows, &nr.Members, &role); err != nil {
			return nil, err
		}
		if role.Valid {
			if nr.Role, err = store.ParseRole(role.String); err != nil {
				return nil, err
			}
		}
		out = append(out, nr)
	}
	return out, rows.Err()
}

// ListNetworks lists networks with ID ≥ from (so that the first page,
// from = 0, includes the backbone), ascending. Role is RoleNone.
func (t *tx) ListNetworks(from addr.NetworkID, limit int) ([]store.NetworkRole, error) {
	return t.listNetworkRoles(`SELECT `+prefixed("w.", networkCols)+`, `+memberCount+`, NULL FROM networks w
		WHERE w.id >= ? ORDER BY w.id`+limitClause(limit), int64(from))
}

func (t *tx) ListNetworksOf(node addr.NodeID, after addr.NetworkID, limit int) ([]store.NetworkRole, error) {
	return t.listNetworkRoles(`SELECT `+prefixed("w.", networkCols)+`, `+memberCount+`, mb.role FROM networks w
		JOIN memberships mb ON mb.network_id = w.id WHERE mb.node_id = ? AND w.id > ? ORDER BY w.id`+limitClause(limit),
		int64(node), int64(after))
}

func (t *tx) networkIDs(q string, args ...any) ([]addr.NetworkID, error) {
	rows, err := t.q.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []addr.NetworkID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, addr.NetworkID(id))
	}
	return out, rows.Err()
}

func (t *tx) NetworkIDsOf(node addr.NodeID) ([]addr.NetworkID, error) {
	return t.networkIDs(`SELECT network_id FROM memberships WHERE node_id = ? ORDER BY network_id`, int64(node))
}

func (t *tx) Role(network addr.NetworkID, node addr.NodeID) (store.Role, error) {
	var role string
	err := t.q.QueryRowContext(t.ctx, `SELECT role FROM memberships WHERE network_id = ? AND node_id = ?`,
		int64(network), int64(node)).Scan(&role)
	if err == sql.ErrNoRows {
		return store.RoleNone, nil
	}
	if err != nil {
		return store.RoleNone, err
	}
	return store.ParseRole(role)
}

func (t *tx) Owner(network addr.NetworkID) (addr.NodeID, error) {
	var id int64
	err := t.q.QueryRowContext(t.ctx, `SELECT node_id FROM memberships WHERE network_id = ? AND role = 'owner'`,
		int64(network)).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, notFound("owner of network %d", network)
	}
	return addr.NodeID(id), err
}

func (t *tx) OwnedNetworks(node addr.NodeID) ([]addr.NetworkID, error) {
	return t.networkIDs(`SELECT network_id FROM memberships WHERE node_id = ? AND role = 'owner' ORDER BY network_id`, int64(node))
}

func (t *tx) CountMembers(network addr.NetworkID) (int, error) {
	if network == store.BackboneID {
		return t.count(`SELECT count(*) FROM nodes`)
	}
	return t.count(`SELECT count(*) FROM memberships WHERE network_id = ?`, int64(network))
}

func (t *tx) ListMembers(network addr.NetworkID, after addr.NodeID, limit int) ([]store.Member, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+nodeColsN+`, m.role FROM memberships m JOIN nodes n ON n.id = m.node_id
		WHERE m.network_id = ? AND m.node_id > ? ORDER BY m.node_id`+limitClause(limit), int64(network), int64(after))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Member
	for rows.Next() {
		var m store.Member
		var role string
		if m.Node, err = scanNode(rows, &role); err != nil {
			return nil, err
		}
		if m.Role, err = store.ParseRole(role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) SharedNetworks(a, b addr.NodeID) ([]addr.NetworkID, error) {
	return t.networkIDs(`SELECT x.network_id FROM memberships x JOIN memberships y ON x.network_id = y.network_id
		WHERE x.node_id = ? AND y.node_id = ? ORDER BY x.network_id`, int64(a), int64(b))
}

func (t *tx) CreateNetwork(nw store.Network, owner addr.NodeID, now time.Time) (store.Network, error) {
	if _, err := t.Node(owner); err != nil {
		return nw, err
	}
	if _, err := t.NetworkByName(nw.Name); err == nil {
		return nw, fmt.Errorf("network name %q is taken: %w", nw.Name, store.ErrNameTaken)
	} else if !isNotFound(err) {
		return nw, err
	}
	w, err := t.writer()
	if err != nil {
		return nw, err
	}
	next := w.cur.nextNetwork
	if next > int64(store.LastNetworkID) {
		return nw, fmt.Errorf("all network IDs up to %d were used: %w", store.LastNetworkID, store.ErrIDSpaceExhausted)
	}
	w.cur.nextNetwork = next + 1
	nw.ID, nw.Created = addr.NetworkID(next), now
	nw.AllowedPorts = normPorts(nw.AllowedPorts)
	if _, err := t.exec(`INSERT INTO networks(`+networkCols+`) VALUES (?,?,?,?,?,?,?,?,?)`, next, nw.Name,
		nw.JoinRule.String(), digestCol(nw.TokenDigest), digestCol(nw.AdminTokenDigest), now.UnixMilli(),
		int64(nw.MaxMembers), jsonList(nw.AllowedPorts), nw.Description); err != nil {
		return nw, err
	}
	_, err = t.exec(`INSERT INTO memberships(network_id, node_id, role, joined_at) VALUES (?, ?, 'owner', ?)`,
		next, int64(owner), now.UnixMilli())
	if err != nil {
		return nw, err
	}
	return t.Network(nw.ID)
}

func normPorts(p []uint16) []uint16 {
	p = slices.Clone(p)
	slices.Sort(p)
	return slices.Compact(p)
}

func (t *tx) UpdateNetwork(nw store.Network) error {
	if nw.ID == store.BackboneID {
		return fmt.Errorf("network 0: %w", store.ErrBackbone)
	}
	if _, err := t.Network(nw.ID); err != nil {
		return err
	}
	if other, err := t.NetworkByName(nw.Name); err == nil && other.ID != nw.ID {
		return fmt.Errorf("network name %q is taken by network %d: %w", nw.Name, other.ID, store.ErrNameTaken)
	} else if err != nil && !isNotFound(err) {
		return err
	}
	if nw.MaxMembers > 0 {
		n, err := t.CountMembers(nw.ID)
		if err != nil {
			return err
		}
		if n > int(nw.MaxMembers) {
			return fmt.Errorf("network %d has %d members, more than %d: %w", nw.ID, n, nw.MaxMembers, store.ErrNetworkFull)
		}
	}
	_, err := t.exec(`UPDATE networks SET name = ?, max_members = ?, allowed_ports = ?, description = ? WHERE id = ?`,
		nw.Name, int64(nw.MaxMembers), jsonList(normPorts(nw.AllowedPorts)), nw.Description, int64(nw.ID))
	return err
}

func (t *tx) DeleteNetwork(id addr.NetworkID) (store.NetworkRemoval, error) {
	var r store.NetworkRemoval
	if id == store.BackboneID {
		return r, fmt.Errorf("network 0: %w", store.ErrBackbone)
	}
	var err error
	if r.Network, err = t.Network(id); err != nil {
		return r, err
	}
	if r.Members, err = t.CountMembers(id); err != nil {
		return r, err
	}
	if r.InvitesRemoved, err = t.listInvites(`WHERE network_id = ? ORDER BY created_at, target_id`, int64(id)); err != nil {
		return r, err
	}
	for _, q := range []string{`DELETE FROM invites WHERE network_id = ?`, `DELETE FROM memberships WHERE network_id = ?`,
		`DELETE FROM networks WHERE id = ?`} {
		if _, err := t.exec(q, int64(id)); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (t *tx) AddMember(network addr.NetworkID, node addr.NodeID, role store.Role, now time.Time) error {
	if network == store.BackboneID {
		return fmt.Errorf("network 0: %w", store.ErrBackbone)
	}
	if role != store.RoleMember && role != store.RoleAdmin {
		return fmt.Errorf("%w: AddMember with role %q", store.ErrInvalid, role)
	}
	nw, err := t.Network(network)
	if err != nil {
		return err
	}
	if _, err := t.Node(node); err != nil {
		return err
	}
	if cur, err := t.Role(network, node); err != nil {
		return err
	} else if cur != store.RoleNone {
		return fmt.Errorf("node %d is already a member of network %d: %w", node, network, store.ErrAlreadyMember)
	}
	if nw.MaxMembers > 0 {
		n, err := t.CountMembers(network)
		if err != nil {
			return err
		}
		if n >= int(nw.MaxMembers) {
			return fmt.Errorf("network %d is full: %d of %d members: %w", network, n, nw.MaxMembers, store.ErrNetworkFull)
		}
	}
	_, err = t.exec(`INSERT INTO memberships(network_id, node_id, role, joined_at) VALUES (?, ?, ?, ?)`,
		int64(network), int64(node), role.String(), now.UnixMilli())
	return err
}

// memberRole returns node's role, refusing the backbone and non-members.
func (t *tx) memberRole(network addr.NetworkID, node addr.NodeID) (store.Role, error) {
	if network == store.BackboneID {
		return store.RoleNone, fmt.Errorf("network 0: %w", store.ErrBackbone)
	}
	r, err := t.Role(network, node)
	if err == nil && r == store.RoleNone {
		err = notFound("node %d in network %d", node, network)
	}
	return r, err
}

func (t *tx) SetRole(network addr.NetworkID, node addr.NodeID, role store.Role) error {
	if role != store.RoleMember && role != store.RoleAdmin {
		return fmt.Errorf("%w: SetRole with role %q", store.ErrInvalid, role)
	}
	cur, err := t.memberRole(network, node)
	if err != nil {
		return err
	}
	if cur == store.RoleOwner {
		return fmt.Errorf("node %d is the owner of network %d: %w", node, network, store.ErrOwner)
	}
	_, err = t.exec(`UPDATE memberships SET role = ? WHERE network_id = ? AND node_id = ?`,
		role.String(), int64(network), int64(node))
	return err
}

func (t *tx) TransferOwnership(network addr.NetworkID, newOwner addr.NodeID) (addr.NodeID, store.Role, error) {
	cur, err := t.memberRole(network, newOwner)
	if err != nil {
		return 0, cur, err
	}
	if cur == store.RoleOwner {
		return newOwner, cur, fmt.Errorf("node %d already owns network %d: %w", newOwner, network, store.ErrOwner)
	}
	old, err := t.Owner(network)
	if err != nil {
		return 0, cur, err
	}
	if _, err := t.exec(`UPDATE memberships SET role = 'admin' WHERE network_id = ? AND node_id = ?`,
		int64(network), int64(old)); err != nil {
		return old, cur, err
	}
	_, err = t.exec(`UPDATE memberships SET role = 'owner' WHERE network_id = ? AND node_id = ?`,
		int64(network), int64(newOwner))
	return old, cur, err
}

func (t *tx) RemoveMember(network addr.NetworkID, node addr.NodeID) ([]store.Invite, error) {
	cur, err := t.memberRole(network, node)
	if err != nil {
		return nil, err
	}
	if cur == store.RoleOwner {
		return nil, fmt.Errorf("node %d owns network %d: %w", node, network, store.ErrOwner)
	}
	removed, err := t.listInvites(`WHERE network_id = ? AND (target_id = ? OR inviter_id = ?) ORDER BY created_at, target_id`,
		int64(network), int64(node), int64(node))
	if err != nil {
		return nil, err
	}
	if _, err := t.exec(`DELETE FROM invites WHERE network_id = ? AND (target_id = ? OR inviter_id = ?)`,
		int64(network), int64(node), int64(node)); err != nil {
		return nil, err
	}
	_, err = t.exec(`DELETE FROM memberships WHERE network_id = ? AND node_id = ?`, int64(network), int64(node))
	return removed, err
}

// prefixed puts p before every column of a comma-separated list.
func prefixed(p, cols string) string {
	out := make([]byte, 0, len(cols)*2)
	start := true
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		if start && c != ' ' && c != '\n' && c != '\t' {
			out = append(out, p...)
			start = false
		}
		if c == ',' {
			start = true
		}
		out = append(out, c)
	}
	return string(out)
}
