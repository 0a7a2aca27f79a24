//go:build !linux

package beacon

import (
	"errors"
	"net/netip"
)

// enablePktinfo is not implemented outside Linux: New fails for a wildcard
// listen address, so that the reply-source rule (beacon.md §1) is never
// silently broken; bind the beacon to a specific address instead.
func (u *udpConn) enablePktinfo() error {
	return errors.New("per-packet source selection is only implemented on Linux; listen on a specific address")
}

func parseLocal([]byte) netip.Addr { return netip.Addr{} }

func sourceOOB(netip.Addr, bool) []byte { return nil }
