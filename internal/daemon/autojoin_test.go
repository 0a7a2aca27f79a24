package daemon

import (
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks(" 1, 3=my-secret ,1,65535,3=other")
	if err != nil {
		t.Fatal(err)
	}
	want := []NetworkEntry{{1, ""}, {3, "my-secret"}, {65535, ""}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := ParseNetworks(""); err != nil || got != nil {
		t.Errorf("empty list: %v, %v", got, err)
	}
	for _, bad := range []string{"1,x", "0", "65536", "1,,2", "-1", "01", "3=", "=tok", "1.5", "2,3=a,x=b"} {
		_, err := ParseNetworks(bad)
		if err == nil {
			t.Errorf("ParseNetworks(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "tok") && strings.Contains(bad, "=tok") && !strings.Contains(err.Error(), `""`) {
			t.Errorf("error for %q leaks the token: %v", bad, err)
		}
	}
	if _, err := ParseNetworks("1,x"); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("error does not name the entry: %v", err)
	}
}

func FuzzParseNetworks(f *testing.F) {
	for _, s := range []string{"1,3", "1,3=my-secret", "1,x", "", "65535,65536", "3=a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseNetworks(s)
		if err != nil {
			return
		}
		seen := map[addr.NetworkID]bool{}
		for _, e := range got {
			if e.ID == 0 || seen[e.ID] {
				t.Fatalf("ParseNetworks(%q) = %+v: zero or duplicate ID", s, got)
			}
			seen[e.ID] = true
		}
		// Round trip through the textual form.
		var parts []string
		for _, e := range got {
			p := strconv.Itoa(int(e.ID))
			if e.Token != "" {
				p += "=" + e.Token
			}
			parts = append(parts, p)
		}
		again, err := ParseNetworks(strings.Join(parts, ","))
		if err != nil || len(again) != len(got) {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}

// joinRequests returns the join_network requests for one network, in order.
func joinRequests(f *fakeRegistry, net addr.NetworkID) []*regmsg.JoinNetwork {
	var out []*regmsg.JoinNetwork
	for _, r := range f.requests(regmsg.TypeJoinNetwork) {
		if j := r.(*regmsg.JoinNetwork); j.NetworkID == net {
			out = append(out, j)
		}
	}
	return out
}

// cli.md §5 item 8 and services.md §9 item 21: open and token networks
// joined, admin_token only in the retry after permission_denied, one
// network.auto_joined per actual join (none after a restart: already a
// member), invite-only never joined, refusals never stop the daemon.
func TestCLI_8_FleetAutoJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.reg.adminToken = "ADMIN"
		h.reg.addNetwork(1, "open", "")
		h.reg.addNetwork(3, "token", "my-secret")
		h.reg.addNetwork(5, "invite", "")
		h.reg.addNetwork(7, "token", "seven")
		args := []string{"-networks", "1,3=my-secret,5,7,9,1", "-admin-token", "ADMIN"}
		d, stop := h.start(h.config(args...))
		id := d.NodeID()
		check := func(round int) {
			t.Helper()
			for _, tc := range []struct {
				net       addr.NetworkID
				requests  int
				adminLast bool
			}{{1, 1, false}, {3, 1, false}, {5, 1, false}, {7, 2, true}, {9, 1, false}} {
				reqs := joinRequests(h.reg, tc.net)
				reqs = reqs[len(reqs)-min(len(reqs), tc.requests):]
				if len(reqs) != tc.requests {
					t.Fatalf("round %d network %d: %d join requests, want %d", round, tc.net, len(reqs), tc.requests)
				}
				if reqs[0].HasAdminToken() {
					t.Errorf("round %d network %d: first join carries admin_token", round, tc.net)
				}
				if tc.adminLast && !reqs[len(reqs)-1].HasAdminToken() {
					t.Errorf("round %d network %d: retry without admin_token", round, tc.net)
				}
			}
			for _, r := range joinRequests(h.reg, 3) {
				if r.Token != "my-secret" {
					t.Errorf("network 3 joined without its token")
				}
			}
		}
		check(1)
		ev := h.events.named("network.auto_joined")
		if len(ev) != 3 {
			t.Fatalf("network.auto_joined %d events, want 3 (networks 1, 3, 7)", len(ev))
		}
		for i, net := range []addr.NetworkID{1, 3, 7} {
			if ev[i].field("network_id") != uint64(net) || ev[i].field("address") != addr.New(net, id).String() {
				t.Errorf("event %d: %+v", i, ev[i].data)
			}
		}
		if h.reg.networks[5].members[id] {
			t.Error("joined an invite-only network")
		}
		stop()
		// Restart: the same config converges without new events.
		n := len(h.reg.requests(regmsg.TypeJoinNetwork))
		_, stop = h.start(h.config(args...))
		defer stop()
		advance(time.Minute)
		// The registry checks the join token before membership (registry.md
		// §7.4.2), so network 7 again needs the retry with the admin token,
		// which then answers already_exists.
		if got := len(h.reg.requests(regmsg.TypeJoinNetwork)) - n; got != 6 {
			t.Errorf("second start sent %d joins, want 6", got)
		}
		check(2)
		if got := len(h.events.named("network.auto_joined")); got != 3 {
			t.Errorf("network.auto_joined after restart: %d events, want still 3", got)
		}
	})
}

// Transient failures are retried in the background, 5 s doubling; refusals
// are not retried until the next registration.
func TestAutoJoinRetriesTransientFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.reg.addNetwork(1, "open", "")
		h.reg.joinFail[1] = 2
		_, stop := h.start(h.config("-networks", "1,2", "-heartbeat", "1h"))
		defer stop()
		if n := len(joinRequests(h.reg, 1)); n != 1 {
			t.Fatalf("%d joins of network 1 at start", n)
		}
		advance(5 * time.Second)
		if n := len(joinRequests(h.reg, 1)); n != 2 {
			t.Fatalf("%d joins of network 1 after 5 s, want 2", n)
		}
		advance(9 * time.Second)
		if n := len(joinRequests(h.reg, 1)); n != 2 {
			t.Fatalf("retry earlier than 10 s after the second failure")
		}
		advance(time.Second)
		if n := len(joinRequests(h.reg, 1)); n != 3 {
			t.Fatalf("%d joins of network 1 after 15 s, want 3", n)
		}
		if n := len(h.events.named("network.auto_joined")); n != 1 {
			t.Errorf("network.auto_joined %d events, want 1", n)
		}
		advance(10 * time.Minute)
		if n := len(joinRequests(h.reg, 2)); n != 1 {
			t.Errorf("not_found network joined %d times, want 1 (no retry)", n)
		}
	})
}
