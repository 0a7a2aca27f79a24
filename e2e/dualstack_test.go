package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// cli.md §3.1's default -listen ":0" is a dual-stack socket: IPv4 peers and
// the beacon (configured as 127.0.0.1:port) arrive as IPv4-mapped IPv6
// sources. Two daemons on that default discover their endpoint through
// the beacon (wire.md §4.1 accepts beacon messages only from the beacon's
// address), trust each other and exchange a ping.
func TestE2E_DefaultDualStackListen(t *testing.T) {
	c := newCluster(t)
	a := c.startDaemon("a", "-listen", ":0")
	b := c.startDaemon("b", "-listen", ":0")
	for _, d := range []*daemon{a, b} {
		log := d.p.log()
		if !strings.Contains(log, "public endpoint discovered") || strings.Contains(log, "beacon endpoint discovery failed") {
			t.Fatalf("%s: no endpoint discovered through the beacon:\n%s", d.name, d.p.tail(30))
		}
	}
	trustPair(t, a, b)
	if r := a.ok("ping", strconv.Itoa(b.id), "--count", "2", "--interval", "100ms"); r.int("received") != 2 {
		t.Fatalf("ping over the dual-stack sockets: %v", r.data)
	}
}
