package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// hookEvent is one webhook delivery (services.md §8.2).
type hookEvent struct {
	EventID uint64         `json:"event_id"`
	Event   string         `json:"event"`
	NodeID  int            `json:"node_id"`
	Data    map[string]any `json:"data"`
}

// hookServer records webhook deliveries in arrival order.
type hookServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []hookEvent
	bad    []string
	signed []bool // per event: carried a valid signature for secret
	secret []byte // HMAC key (services.md §8.4), nil = none expected
}

// validSignature checks the Standard Webhooks headers of services.md §8.4.
func validSignature(key []byte, r *http.Request, body []byte) bool {
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if id == "" || ts == "" || !strings.HasPrefix(sig, "v1,") {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev hookEvent
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
			!strings.HasPrefix(r.Header.Get("User-Agent"), "pilot-daemon/") || json.Unmarshal(body, &ev) != nil {
			h.bad = append(h.bad, r.Method+" "+string(body))
		} else {
			h.events = append(h.events, ev)
			h.signed = append(h.signed, h.secret != nil && validSignature(h.secret, r, body))
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// named returns the events with the given name.
func (h *hookServer) named(name string) []hookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookEvent
	for _, e := range h.events {
		if e.Event == name {
			out = append(out, e)
		}
	}
	return out
}

func (h *hookServer) all() []hookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookEvent(nil), h.events...)
}

// Fleet auto-join (cli.md §3.4, §5 item 8) across daemon restarts, with
// the network.auto_joined webhook emitted once per actual join, and the
// runtime webhook commands of pilotctl.
func TestE2E_FleetAutoJoinWebhooks(t *testing.T) {
	c := newCluster(t)
	hooks := newHookServer(t)
	owner := c.startDaemon("owner")
	open := owner.ok("network", "create", "--name", "fleet", "--join-rule", "open", "--admin-token", adminToken).int("network_id")
	inv := owner.ok("network", "create", "--name", "closed", "--join-rule", "invite", "--admin-token", adminToken).int("network_id")
	list := strconv.Itoa(open) + "," + strconv.Itoa(inv)

	// The fleet member joins the open network and never the invite-only one;
	// the refusal does not stop the daemon.
	d := c.startDaemon("fleet", "-networks", list, "-webhook", hooks.srv.URL+"/hook")
	isMember := func() bool {
		for _, n := range d.ok("network", "list").list("networks") {
			if num(n, "id") == open && n["role"] == "member" {
				return true
			}
		}
		return false
	}
	eventually(t, "the fleet daemon to join the open network", waitTimeout, isMember)
	eventually(t, "the network.auto_joined webhook", waitTimeout, func() bool { return len(hooks.named("network.auto_joined")) == 1 })
	if ev := hooks.named("network.auto_joined")[0]; num(ev.Data, "network_id") != open || ev.NodeID != d.id ||
		!strings.HasPrefix(ev.Data["address"].(string), strconv.Itoa(open)+":") {
		t.Fatalf("auto_joined event %+v", ev)
	}
	invOnly := "network " + strconv.Itoa(inv) + " is invite-only"
	eventually(t, "the invite-only warning", waitTimeout, func() bool { return strings.Contains(d.p.log(), invOnly) })

	// Restart: the daemon keeps its node ID and membership; its auto-join
	// finds it already a member and emits no second webhook. The barrier:
	// the invite-only warning (logged after the open network's join, the
	// list being processed in order), then a handshake whose webhook is
	// queued after anything auto-join could have emitted.
	firstID := d.id
	d.restart()
	if d.id != firstID {
		t.Fatalf("node ID changed across restart: %d → %d", firstID, d.id)
	}
	eventually(t, "auto-join to run after the restart", waitTimeout, func() bool { return strings.Contains(d.p.log(), invOnly) })
	owner.ok("handshake", strconv.Itoa(d.id), "barrier")
	eventually(t, "the handshake webhook", waitTimeout, func() bool {
		for _, e := range hooks.all() {
			if strings.HasPrefix(e.Event, "handshake.") && num(e.Data, "peer_node_id") == owner.id {
				return true
			}
		}
		return false
	})
	if n := len(hooks.named("network.auto_joined")); n != 1 {
		t.Fatalf("network.auto_joined emitted %d times across a restart", n)
	}
	if !isMember() {
		t.Fatal("membership lost across the restart")
	}
	if m := members(t, owner, open); len(m) != 2 || m[d.id] != "member" {
		t.Fatalf("members of the fleet network %v", m)
	}

	// Event IDs are monotonic across the restart (services.md §8.2).
	evs := hooks.all()
	for i := 1; i < len(evs); i++ {
		if evs[i].EventID <= evs[i-1].EventID {
			t.Fatalf("event_id not increasing: %d after %d (%s)", evs[i].EventID, evs[i-1].EventID, evs[i].Event)
		}
	}
	if len(hooks.bad) > 0 {
		t.Fatalf("malformed deliveries: %q", hooks.bad)
	}

	// Runtime webhook control through pilotctl.
	st := d.ok("webhook", "status")
	if st.data["configured"] != true || st.int("delivered") == 0 {
		t.Fatalf("webhook status %v", st.data)
	}
	d.ok("webhook", "clear")
	if st := d.ok("webhook", "status"); st.data["configured"] != false {
		t.Fatalf("webhook status after clear %v", st.data)
	}
	key := []byte("e2e webhook signing key")
	hooks.mu.Lock()
	hooks.secret = key
	hooks.mu.Unlock()
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	if r := d.ok("webhook", "set", hooks.srv.URL+"/again", "--secret", secret); r.data["signed"] != true {
		t.Fatalf("webhook set %v", r.data)
	}
	// A signed event: the owner (a member of the same network) opens a
	// stream to the fleet daemon's echo port.
	before := len(hooks.all())
	owner.ok("send", fmt.Sprintf("%d:%04X.%04X.%04X", open, open, d.id>>16, d.id&0xFFFF), "7", "--data", "signed barrier")
	signedOK := false
	defer func() {
		if t.Failed() && !signedOK {
			for _, e := range hooks.all()[before:] {
				t.Logf("after set: %s %v", e.Event, e.Data)
			}
			hooks.mu.Lock()
			t.Logf("signed flags %v", hooks.signed[before:])
			hooks.mu.Unlock()
		}
	}()
	eventually(t, "a signed webhook delivery", waitTimeout, func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		for i := before; i < len(hooks.events); i++ {
			if hooks.signed[i] {
				return true
			}
		}
		return false
	})
	signedOK = true
	// A link-local URL is refused (services.md §8.1).
	d.fails(2, "invalid_argument", "webhook", "set", "http://169.254.169.254/latest")
}
