package daemon

import (
	"encoding/json"
	"testing"
)

// ipc.md §10.4: network.members entries always carry hostname, online and
// tags, although the registry omits unset hostnames and tags.
func TestDecorateMember_FillsMemberKeys(t *testing.T) {
	out := []byte(`{"nodes":[`)
	for i, in := range []string{
		`{"node_id":4,"address":"1:0001.0000.0004","public":false,"role":"owner","last_seen":"2026-03-27T10:15:03Z"}`,
		`{"node_id":5,"address":"1:0001.0000.0005","public":true,"role":"member","last_seen":"2026-03-27T10:15:03Z","offline":true,"hostname":"beta","tags":["gpu"]}`,
	} {
		b, err := decorateMember(json.RawMessage(in))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	out = append(out, "]}"...)
	var got struct {
		Nodes []struct {
			NodeID   uint32    `json:"node_id"`
			Hostname *string   `json:"hostname"`
			Online   *bool     `json:"online"`
			Tags     *[]string `json:"tags"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Nodes) != 2 {
		t.Fatalf("nodes: %s", out)
	}
	a, b := got.Nodes[0], got.Nodes[1]
	if a.Hostname == nil || *a.Hostname != "" || a.Tags == nil || len(*a.Tags) != 0 || a.Online == nil || !*a.Online {
		t.Fatalf("defaults missing for node 4: %s", out)
	}
	if *b.Hostname != "beta" || len(*b.Tags) != 1 || *b.Online {
		t.Fatalf("node 5 changed: %s", out)
	}
}
