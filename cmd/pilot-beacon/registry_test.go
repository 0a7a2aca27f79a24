package main

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/beacon"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// fakeRegistry answers lookup, beacon_register and beacon_list on one TCP
// connection at a time, recording the requests it saw.
func fakeRegistry(t *testing.T, key string) (string, chan regmsg.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan regmsg.Request, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1<<16)
				for {
					body, err := regmsg.ReadFrame(c, buf)
					if err != nil {
						return
					}
					req, err := regmsg.DecodeRequest(body)
					if err != nil {
						return
					}
					seen <- req
					var reply regmsg.Reply
					switch r := req.(type) {
					case *regmsg.Lookup:
						reply = &regmsg.LookupOK{NodeID: r.NodeID, PublicKey: key}
					case *regmsg.BeaconRegister:
						reply = &regmsg.BeaconRegisterOK{BeaconID: r.BeaconID}
					case *regmsg.BeaconList:
						reply = &regmsg.BeaconListOK{Beacons: regmsg.Array[regmsg.BeaconEntry]{{ID: 1, Addr: "127.0.0.1:9001"}, {ID: 2, Addr: "192.0.2.5:9001"}}}
					default:
						return
					}
					out, err := regmsg.MarshalReply(reply)
					if err != nil {
						return
					}
					frame, _ := regmsg.AppendFrame(nil, out)
					if _, err := c.Write(frame); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), seen
}

var (
	_ beacon.KeyLookup = (*registry)(nil)
	_ beacon.Directory = (*registry)(nil)
)

func TestRegistryAdapter(t *testing.T) {
	id, err := identity.FromSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	regAddr, seen := fakeRegistry(t, id.PublicKeyBase64())
	reg, err := newRegistry(&options{registry: regAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()

	key, err := reg.LookupKey(ctx, addr.NodeID(686))
	if err != nil || !bytes.Equal(key, id.PublicKey()) {
		t.Fatalf("LookupKey: %x, %v", key, err)
	}
	<-seen

	if err := reg.Register(ctx, 1, ":9001", "secret"); err != nil {
		t.Fatal(err)
	}
	r := (<-seen).(*regmsg.BeaconRegister)
	if r.BeaconID != 1 || r.Addr != "127.0.0.1:9001" || r.Token != "secret" {
		t.Fatalf("beacon_register %+v: the wildcard host must become the local IP toward the registry", r)
	}
	if err := reg.Register(ctx, 1, "beacon.example:9001", ""); err != nil {
		t.Fatal(err)
	}
	if r := (<-seen).(*regmsg.BeaconRegister); r.Addr != "beacon.example:9001" {
		t.Fatalf("advertised address rewritten: %q", r.Addr)
	}
	peers, err := reg.List(ctx)
	if err != nil || len(peers) != 2 || peers[1] != (beacon.Peer{ID: beaconmsg.BeaconID(2), Addr: "192.0.2.5:9001"}) {
		t.Fatalf("List: %+v, %v", peers, err)
	}
}
