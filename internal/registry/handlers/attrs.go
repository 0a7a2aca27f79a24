package handlers

import (
	"errors"
	"slices"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Node attributes (registry.md §7.2): the four setters are signed by the
// subject (self) or authorized by the global admin token on its behalf;
// a request that changes nothing succeeds without an audit event.

// setAttr authorizes a setter and runs fn on the subject's record inside
// one transaction; fn returns whether it changed the node and the audit
// attributes to append.
func (c *call) setAttr(subject addr.NodeID, fn func(tx store.Tx, n *store.Node, g grant) error) error {
	g, err := c.authzSubject(false)
	if err != nil {
		return err
	}
	return c.update(func(tx store.Tx) error {
		n, err := c.subjectNode(tx, subject)
		if err != nil {
			return err
		}
		return fn(tx, &n, g)
	})
}

func (c *call) setVisibility(r *regmsg.SetVisibility) (regmsg.Reply, error) {
	err := c.setAttr(r.NodeID, func(tx store.Tx, n *store.Node, g grant) error {
		if n.Public == r.Public {
			return nil
		}
		old := n.Public
		n.Public = r.Public
		if err := tx.UpdateNode(*n); err != nil {
			return err
		}
		return c.audit(tx, g, regmsg.ActionVisibilityChanged, aInt("node_id", n.ID), aBool("public", r.Public),
			aBool("old_public", old), aBool("new_public", r.Public))
	})
	if err != nil {
		return nil, err
	}
	vis := regmsg.VisibilityPrivate
	if r.Public {
		vis = regmsg.VisibilityPublic
	}
	return &regmsg.SetVisibilityOK{NodeID: r.NodeID, Visibility: vis}, nil
}

func (c *call) setHostname(r *regmsg.SetHostname) (regmsg.Reply, error) {
	err := c.setAttr(r.NodeID, func(tx store.Tx, n *store.Node, g grant) error {
		if n.Hostname == r.Hostname {
			return nil
		}
		if r.Hostname != "" {
			holder, err := tx.NodeByHostname(r.Hostname)
			if err == nil && holder.ID != n.ID {
				return exists("hostname %q is taken by another node; choose another one", r.Hostname)
			}
			if err != nil && !isNotFound(err) {
				return err
			}
		}
		old := n.Hostname
		n.Hostname = r.Hostname
		if err := tx.UpdateNode(*n); err != nil {
			if errors.Is(err, store.ErrHostnameTaken) {
				return exists("hostname %q is taken by another node; choose another one", r.Hostname)
			}
			return err
		}
		return c.audit(tx, g, regmsg.ActionHostnameChanged, aInt("node_id", n.ID), aStr("hostname", r.Hostname),
			aStr("old_hostname", old), aStr("new_hostname", r.Hostname))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.SetHostnameOK{NodeID: r.NodeID, Hostname: r.Hostname}, nil
}

func (c *call) setTags(r *regmsg.SetTags) (regmsg.Reply, error) {
	tags := regmsg.NormalizeTags(r.Tags)
	err := c.setAttr(r.NodeID, func(tx store.Tx, n *store.Node, g grant) error {
		if slices.Equal(n.Tags, tags) || (len(n.Tags) == 0 && len(tags) == 0) {
			return nil
		}
		old := len(n.Tags)
		n.Tags = tags
		if err := tx.UpdateNode(*n); err != nil {
			return err
		}
		return c.audit(tx, g, regmsg.ActionTagsChanged, aInt("node_id", n.ID), aStrs("tags", tags),
			aInt("old_tags_count", old), aInt("new_tags_count", len(tags)))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.SetTagsOK{NodeID: r.NodeID, Tags: tags}, nil
}

func (c *call) setTaskExec(r *regmsg.SetTaskExec) (regmsg.Reply, error) {
	err := c.setAttr(r.NodeID, func(tx store.Tx, n *store.Node, g grant) error {
		if n.TaskExec == r.Enabled {
			return nil
		}
		old := n.TaskExec
		n.TaskExec = r.Enabled
		if err := tx.UpdateNode(*n); err != nil {
			return err
		}
		return c.audit(tx, g, regmsg.ActionTaskExecChanged, aInt("node_id", n.ID), aBool("enabled", r.Enabled),
			aBool("old_enabled", old), aBool("new_enabled", r.Enabled))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.SetTaskExecOK{NodeID: r.NodeID, TaskExec: r.Enabled}, nil
}

func (c *call) resolveHostname(r *regmsg.ResolveHostname) (regmsg.Reply, error) {
	unknown := notFound("no node has hostname %q", r.Hostname)
	var reply *regmsg.ResolveHostnameOK
	err := c.view(func(tx store.ReadTx) error {
		n, err := tx.NodeByHostname(r.Hostname)
		if isNotFound(err) {
			return unknown
		}
		if err != nil {
			return err
		}
		if !n.Public {
			// A private target only for a signed requester that is the
			// target or related to it; otherwise exactly like unknown.
			if c.signer == 0 {
				return unknown
			}
			ok, err := resolvable(tx, c.signer, n)
			if err != nil {
				return err
			}
			if !ok {
				return unknown
			}
		}
		reply = &regmsg.ResolveHostnameOK{NodeID: n.ID, Address: addr.New(0, n.ID), Public: n.Public, Hostname: n.Hostname}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
