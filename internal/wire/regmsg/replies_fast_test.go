package regmsg

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"pgregory.net/rapid"
)

// fields decodes a JSON object into its keys in order and their values.
func fields(t *rapid.T, b []byte) ([]string, []any) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	var vals []any
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		keys, vals = append(keys, k.(string)), append(vals, v)
	}
	return keys, vals
}

func strList(t *rapid.T, label string) []string {
	switch rapid.IntRange(0, 2).Draw(t, label+"-kind") {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	return rapid.SliceOfN(rapid.String(), 1, 4).Draw(t, label)
}

// The hot replies' hand-written encoding is the same JSON object as
// encoding/json's, key for key and in order, for any field values
// (arbitrary Unicode and invalid UTF-8 in strings, empty and nil lists).
func TestFastRepliesMatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		node := addr.NodeID(rapid.Uint32().Draw(t, "node"))
		a := addr.New(addr.NetworkID(rapid.Uint16().Draw(t, "net")), node)
		var nets []addr.NetworkID
		for _, n := range rapid.SliceOfN(rapid.Uint16(), 0, 4).Draw(t, "nets") {
			nets = append(nets, addr.NetworkID(n))
		}
		if rapid.Bool().Draw(t, "nil-nets") {
			nets = nil
		}
		replies := []fastReply{
			&RegisterOK{NodeID: node, NetworkID: addr.NetworkID(rapid.Uint16().Draw(t, "rnet")), Address: a,
				PublicKey: rapid.String().Draw(t, "pk"), ObservedAddr: rapid.String().Draw(t, "obs"),
				ProtocolVersion: rapid.IntRange(-5, 5).Draw(t, "pv"), Hostname: rapid.String().Draw(t, "host"),
				HostnameError: rapid.String().Draw(t, "herr"), AuthVersions: strList(t, "auth"),
				RegistryVersion: rapid.String().Draw(t, "rv"), HeartbeatIntervalS: rapid.Int().Draw(t, "hb"),
				PolicyEpoch: rapid.Uint64().Draw(t, "epoch")},
			&HeartbeatOK{Time: rapid.Int64().Draw(t, "time"), KeyExpiryWarning: rapid.Bool().Draw(t, "warn"),
				KeyExpiresAt: rapid.String().Draw(t, "exp"), PolicyEpoch: rapid.Uint64().Draw(t, "epoch2")},
			&LookupOK{NodeID: node, Address: a, PublicKey: rapid.String().Draw(t, "lpk"), Public: rapid.Bool().Draw(t, "pub"),
				PoloScore: rapid.Int64().Draw(t, "polo"), Capabilities: strList(t, "caps"), Version: rapid.String().Draw(t, "ver"),
				Networks: nets, Hostname: rapid.String().Draw(t, "lhost"), Tags: strList(t, "tags"),
				TaskExec: rapid.Bool().Draw(t, "task"), RealAddr: rapid.String().Draw(t, "real")},
			&ResolveOK{NodeID: node, RealAddr: rapid.String().Draw(t, "rreal"), LANAddrs: strList(t, "lan"),
				KeyAgeDays: rapid.Int64().Draw(t, "age"), PublicKey: rapid.String().Draw(t, "rpk"), Capabilities: strList(t, "rcaps")},
		}
		for _, r := range replies {
			fast, err := MarshalReply(r)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := marshalReflect(r)
			if err != nil {
				t.Fatal(err)
			}
			fk, fv := fields(t, fast)
			sk, sv := fields(t, slow)
			if !reflect.DeepEqual(fk, sk) || !reflect.DeepEqual(fv, sv) {
				t.Fatalf("%s:\nfast %s\nslow %s", r.ReplyType(), fast, slow)
			}
		}
	})
}
