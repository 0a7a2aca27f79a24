package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/beacon"
)

type fixedStats beacon.Stats

func (f fixedStats) Stats() beacon.Stats { return beacon.Stats(f) }

func TestHandlerExposesBeaconMetrics(t *testing.T) {
	src := fixedStats{
		NodesPlain: 3, NodesAuth: 2, PeerNodes: 7,
		Messages: map[string]uint64{"discover": 11},
		Relay:    map[string]uint64{"not_found": 4},
		Drops:    map[string]uint64{"rate": 5},
	}
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`pilot_beacon_nodes{auth="signed"} 2`,
		`pilot_beacon_nodes{auth="plain"} 3`,
		`pilot_beacon_peer_nodes 7`,
		`pilot_beacon_messages_total{type="discover"} 11`,
		`pilot_beacon_messages_total{type="sync"} 0`,
		`pilot_beacon_relay_total{result="not_found"} 4`,
		`pilot_beacon_relay_total{result="forwarded"} 0`,
		`pilot_beacon_drops_total{reason="rate"} 5`,
		`pilot_beacon_drops_total{reason="auth"} 0`,
	} {
		if !strings.Contains("\n"+string(body), "\n"+want+"\n") {
			t.Errorf("missing line %q", want)
		}
	}
	if !strings.Contains(string(body), "\ngo_goroutines ") {
		t.Error("Go runtime collector missing")
	}
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
}
