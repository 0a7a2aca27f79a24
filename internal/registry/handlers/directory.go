package handlers

import (
	"fmt"
	"math"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// The beacon directory (registry.md §7.10).

func (c *call) beaconRegister(r *regmsg.BeaconRegister) (regmsg.Reply, error) {
	if !c.legacyUnsigned() {
		if c.h.cfg.BeaconToken == "" {
			return nil, precondition("this registry has no -beacon-token, so beacon registration is disabled; start it with -beacon-token")
		}
		if !matchDigest(r.Token, store.DigestOf(c.h.cfg.BeaconToken)) {
			return nil, authErr(reasonBadToken, 0, regmsg.CodeUnauthenticated,
				"beacon token missing or not accepted; start the beacon with the registry's -beacon-token")
		}
	}
	err := c.update(func(tx store.Tx) error {
		return tx.UpsertBeacon(store.Beacon{ID: uint32(r.BeaconID), Addr: r.Addr, Updated: c.now})
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.BeaconRegisterOK{BeaconID: r.BeaconID}, nil
}

func (c *call) beaconList(r *regmsg.BeaconList) (regmsg.Reply, error) {
	last, _, err := parseCursor(r.Cursor, math.MaxUint32)
	if err != nil {
		return nil, err
	}
	limit := r.EffectiveLimit(listPageDefault, listPageMax)
	reply := &regmsg.BeaconListOK{}
	err = c.view(func(tx store.ReadTx) error {
		bs, err := tx.ListBeacons(c.now.Add(-BeaconTTL), uint32(last), limit+1)
		if err != nil {
			return err
		}
		more := len(bs) > limit
		if more {
			bs = bs[:limit]
		}
		entries := make([]regmsg.BeaconEntry, 0, len(bs))
		for _, b := range bs {
			entries = append(entries, regmsg.BeaconEntry{ID: regmsg.BeaconID(b.ID), Addr: b.Addr})
		}
		// A page of long addresses is cut to keep the reply within the
		// frame cap (§4.4); the cursor then resumes after the last entry.
		k := fit(entries)
		more = more || k < len(entries)
		reply.Beacons = entries[:k]
		if more && k > 0 {
			reply.NextCursor = fmt.Sprint(entries[k-1].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
