package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/beacon"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// registryConnectTimeout is the TCP connect timeout of beacon.md §7.2; the
// per-exchange 10 s is regclient's default call deadline.
const registryConnectTimeout = 5 * time.Second

// registry adapts regclient to beacon.KeyLookup and beacon.Directory.
type registry struct {
	c    *regclient.Client
	addr string // registry host:port
}

func newRegistry(o *options) (*registry, error) {
	d := net.Dialer{Timeout: registryConnectTimeout}
	c, err := regclient.New(regclient.Config{
		Addr:        o.registry,
		TLS:         o.registryTLS,
		Fingerprint: o.registryFingerprint,
		Dialer:      d.DialContext,
	})
	if err != nil {
		return nil, err
	}
	return &registry{c: c, addr: o.registry}, nil
}

// LookupKey implements beacon.KeyLookup with an anonymous `lookup`.
func (r *registry) LookupKey(ctx context.Context, node addr.NodeID) (ed25519.PublicKey, error) {
	ok, err := r.c.Lookup(ctx, node)
	if err != nil {
		return nil, err
	}
	if ok.NodeID != node {
		return nil, fmt.Errorf("lookup %d: registry answered for node %d", node, ok.NodeID)
	}
	return identity.ParsePublicKey(ok.PublicKey)
}

// Register implements beacon.Directory: a wildcard or empty host in
// hostPort is replaced by the local IP used toward the registry.
func (r *registry) Register(ctx context.Context, id beaconmsg.BeaconID, hostPort, token string) error {
	hostPort, err := r.fillHost(hostPort)
	if err != nil {
		return err
	}
	_, err = r.c.BeaconRegister(ctx, regmsg.BeaconID(id), hostPort, token)
	return err
}

// List implements beacon.Directory, following next_cursor.
func (r *registry) List(ctx context.Context) ([]beacon.Peer, error) {
	entries, err := r.c.BeaconListAll(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := make([]beacon.Peer, 0, len(entries))
	for _, e := range entries {
		out = append(out, beacon.Peer{ID: beaconmsg.BeaconID(e.ID), Addr: e.Addr})
	}
	return out, nil
}

// fillHost replaces a wildcard host with the local IP the kernel routes
// toward the registry from (a connected UDP socket sends nothing; it only
// selects the source address, which is the one the registry TCP
// connection uses).
func (r *registry) fillHost(hostPort string) (string, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", fmt.Errorf("advertise address %q: %w", hostPort, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return hostPort, nil
	}
	c, err := net.Dial("udp", r.addr)
	if err != nil {
		return "", fmt.Errorf("find the local address toward the registry: %w", err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr).IP
	return net.JoinHostPort(local.String(), port), nil
}

func (r *registry) Close() error { return r.c.Close() }
