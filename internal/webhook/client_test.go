package webhook

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

var wantBackoff = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second}

func readState(t *testing.T, dir string) fileState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var st fileState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestServices_16_EventIDsIncreaseAcrossRestartAndURLChange: IDs are
// strictly increasing across a client restart on the same state dir and
// across a URL change; reservation is persisted before use.
func TestServices_16_EventIDsIncreaseAcrossRestartAndURLChange(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	ep1 := newEndpoint(t, always(200))
	ep2 := newEndpoint(t, always(200))

	c := start(t, Config{StateDir: dir, URL: ep1.srv.URL})
	c.Emit("node.registered", whmsg.Fields{{Key: "address", Value: "0:0000.0000.0001"}})
	c.Emit("node.reregistered", nil)
	if got := readState(t, dir).NextEventID; got != 1+idBlock {
		t.Fatalf("next_event_id after first use = %d, want %d", got, 1+idBlock)
	}
	if err := c.SetURL(ep2.srv.URL, ""); err != nil {
		t.Fatal(err)
	}
	c.Emit("node.reregistered", nil)
	c.stop(t)

	st := readState(t, dir)
	if st.URL != ep2.srv.URL || st.Secret != "" || st.NextEventID != 1+idBlock {
		t.Fatalf("webhook.json = %+v", st)
	}
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("webhook.json mode %v, want 0600", fi.Mode().Perm())
	}

	// Restart without a -webhook flag: the persisted URL is used and IDs
	// resume from the reservation.
	c2 := start(t, Config{StateDir: dir})
	if s := c2.Stats(); !s.Configured || s.URL != ep2.srv.URL {
		t.Fatalf("restarted stats %+v, want the persisted URL", s)
	}
	c2.Emit("node.reregistered", nil)
	c2.stop(t)

	all := append(ids(t, ep1.requests()), ids(t, ep2.requests())...)
	want := []uint64{1, 2, 3, 1 + idBlock}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("event IDs %v, want %v", all, want)
	}
	if got := readState(t, dir).NextEventID; got != 1+2*idBlock {
		t.Fatalf("next_event_id after restart = %d, want %d", got, 1+2*idBlock)
	}
}

// TestEventIDBlockReservation: the ID equal to the reservation triggers a
// new block, so a restart after 1,001 events starts at 2,001; dropped
// events consume IDs too.
func TestEventIDBlockReservation(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	c, err := New(Config{StateDir: dir, URL: "http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	for range idBlock + 1 {
		c.Emit("conn.fin", nil) // never delivered: Run is not started
	}
	if got := readState(t, dir).NextEventID; got != 1+2*idBlock {
		t.Fatalf("next_event_id = %d, want %d", got, 1+2*idBlock)
	}
	if s := c.Stats(); s.LastEventID != idBlock+1 || s.Queued != idBlock+1 {
		t.Fatalf("stats %+v", s)
	}
	_ = c.Close()
	if s := c.Stats(); s.Failed != idBlock+1 || s.Queued != 0 {
		t.Fatalf("after Close without Run: %+v, want all failed", s)
	}
	c2, err := New(Config{StateDir: dir, URL: "http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	c2.Emit("conn.fin", nil)
	if s := c2.Stats(); s.LastEventID != 1+2*idBlock {
		t.Fatalf("first ID after restart = %d, want %d", s.LastEventID, 1+2*idBlock)
	}
	_ = c2.Close()
}

func TestUnconfiguredEmitIsIgnored(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	c := start(t, Config{StateDir: dir})
	c.Emit("conn.fin", nil)
	if s := c.Stats(); s.Configured || s.LastEventID != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !os.IsNotExist(err) {
		t.Fatalf("webhook.json written without a URL: %v", err)
	}
}

func TestCorruptStateRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StateDir: dir}); err == nil {
		t.Fatal("New accepted a corrupt webhook.json")
	}
}

// TestServices_17_RetryThenSuccess: 503 three times then 200 gives 4
// attempts with waits of 1 s, 2 s and 4 s.
func TestServices_17_RetryThenSuccess(t *testing.T) {
	checkLeaks(t)
	ep := newEndpoint(t, func(n int, _ *http.Request) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	sl := &fakeSleep{}
	c := start(t, Config{URL: ep.srv.URL, Sleep: sl.Sleep})
	c.Emit("conn.fin", nil)
	c.stop(t)
	if n := len(ep.requests()); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}
	if got := sl.waits(); !reflect.DeepEqual(got, wantBackoff) {
		t.Fatalf("backoff waits %v, want %v", got, wantBackoff)
	}
	if s := c.Stats(); s.Delivered != 1 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestServices_17_RetriesExhausted: four 5xx answers discard the event as
// failed with a WARN naming event_id, event and status.
func TestServices_17_RetriesExhausted(t *testing.T) {
	checkLeaks(t)
	ep := newEndpoint(t, always(http.StatusBadGateway))
	sl := &fakeSleep{}
	var logs logBuf
	c := start(t, Config{URL: ep.srv.URL, Sleep: sl.Sleep, Logger: logs.logger()})
	c.Emit("trust.revoked", whmsg.Fields{{Key: "peer_node_id", Value: 7}})
	c.stop(t)
	if n := len(ep.requests()); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}
	if got := sl.waits(); !reflect.DeepEqual(got, wantBackoff) {
		t.Fatalf("backoff waits %v, want %v", got, wantBackoff)
	}
	if s := c.Stats(); s.Failed != 1 || s.Delivered != 0 {
		t.Fatalf("stats %+v", s)
	}
	if logs.count("event_id=1 event=trust.revoked status=502") != 1 {
		t.Fatalf("missing failure WARN in %q", logs.b.String())
	}
}

// TestServices_17_PermanentFailures: 4xx (including 400, 408, 429) and
// 3xx get exactly one attempt and redirects are not followed.
func TestServices_17_PermanentFailures(t *testing.T) {
	for _, code := range []int{400, 404, 408, 429, 301, 302, 307} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			checkLeaks(t)
			ep := newEndpoint(t, always(code))
			sl := &fakeSleep{}
			c := start(t, Config{URL: ep.srv.URL + "/hook", Sleep: sl.Sleep})
			c.Emit("conn.fin", nil)
			c.stop(t)
			reqs := ep.requests()
			if len(reqs) != 1 || reqs[0].path != "/hook" {
				t.Fatalf("attempts %+v, want exactly one to /hook", reqs)
			}
			if w := sl.waits(); len(w) != 0 {
				t.Fatalf("waited %v before a retry of a permanent failure", w)
			}
			if s := c.Stats(); s.Failed != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestTransportErrorAndTimeoutRetried: a refused connection and an attempt
// timeout are retried like 5xx.
func TestTransportErrorAndTimeoutRetried(t *testing.T) {
	checkLeaks(t)
	t.Run("refused", func(t *testing.T) {
		ep := newEndpoint(t, always(200))
		url := ep.srv.URL
		ep.srv.Close()
		sl := &fakeSleep{}
		c := start(t, Config{URL: url, Sleep: sl.Sleep})
		c.Emit("conn.fin", nil)
		c.stop(t)
		if got := sl.waits(); !reflect.DeepEqual(got, wantBackoff) {
			t.Fatalf("backoff waits %v, want %v", got, wantBackoff)
		}
		if s := c.Stats(); s.Failed != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ep := newEndpoint(t, func(n int, r *http.Request) int {
			if n < 2 {
				<-r.Context().Done() // hang until the client gives up
			}
			return 200
		})
		sl := &fakeSleep{}
		c := start(t, Config{URL: ep.srv.URL, Sleep: sl.Sleep, AttemptTimeout: 50 * time.Millisecond})
		c.Emit("conn.fin", nil)
		waitFor(t, "delivery", func() bool { return c.Stats().Delivered == 1 })
		if got := sl.waits(); !reflect.DeepEqual(got, wantBackoff[:2]) {
			t.Fatalf("backoff waits %v, want %v", got, wantBackoff[:2])
		}
	})
}

// TestServices_18_QueueOverflowDrops: with the endpoint blocked, emitting
// more than 1,024 events never blocks and counts drops.
func TestServices_18_QueueOverflowDrops(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	ep := newEndpoint(t, func(_ int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200
	})
	var logs logBuf
	clk := &fakeClock{t: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)}
	c := start(t, Config{URL: ep.srv.URL, Logger: logs.logger(), Now: clk.Now, DrainTimeout: 100 * time.Millisecond})
	const n = 3000
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for range n {
			c.Emit("data.datagram", whmsg.Fields{{Key: "size", Value: 1}})
		}
	}()
	select {
	case <-emitted:
	case <-time.After(waitLimit):
		t.Fatal("Emit blocked with the endpoint stalled")
	}
	s := c.Stats()
	if s.Dropped == 0 || c.Dropped() != s.Dropped || s.Queued > QueueLen || s.LastEventID != n {
		t.Fatalf("stats %+v", s)
	}
	if w := logs.count("webhook queue full"); w != 1 {
		t.Fatalf("%d drop WARNs within 10 s, want 1", w)
	}
	clk.Set(time.Date(2026, 3, 27, 10, 0, 11, 0, time.UTC))
	c.Emit("data.datagram", nil)
	if w := logs.count("webhook queue full"); w != 2 {
		t.Fatalf("%d drop WARNs after 11 s, want 2", w)
	}
	close(release)
	c.stop(t)
	s = c.Stats()
	if s.Delivered+s.Failed+s.Dropped != n+1 {
		t.Fatalf("delivered %d + failed %d + dropped %d != %d", s.Delivered, s.Failed, s.Dropped, n+1)
	}
}

// TestServices_19_ShutdownBoundedWhenEndpointHangs: Close returns after
// the drain deadline even though every attempt hangs, and counts the rest
// as failed. The attempt timeout is far longer than the test's wait limit,
// so only the drain deadline can end it.
func TestServices_19_ShutdownBoundedWhenEndpointHangs(t *testing.T) {
	checkLeaks(t)
	ep := newEndpoint(t, func(_ int, r *http.Request) int {
		<-r.Context().Done()
		return 200
	})
	c := start(t, Config{URL: ep.srv.URL, AttemptTimeout: time.Hour, DrainTimeout: 200 * time.Millisecond})
	for range 5 {
		c.Emit("conn.fin", nil)
	}
	waitFor(t, "first attempt", func() bool { return len(ep.requests()) == 1 })
	c.stop(t)
	if s := c.Stats(); s.Failed != 5 || s.Delivered != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
	c.Emit("conn.fin", nil) // ignored after shutdown
	if s := c.Stats(); s.LastEventID != 5 {
		t.Fatalf("event accepted after shutdown: %+v", s)
	}
}

// TestShutdownCutsBackoff: a real backoff wait is cut at the drain
// deadline.
func TestShutdownCutsBackoff(t *testing.T) {
	checkLeaks(t)
	ep := newEndpoint(t, always(503))
	c := start(t, Config{URL: ep.srv.URL, DrainTimeout: 100 * time.Millisecond})
	c.Emit("conn.fin", nil)
	waitFor(t, "first attempt", func() bool { return len(ep.requests()) >= 1 })
	c.stop(t)
	if s := c.Stats(); s.Failed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestServices_20_Signature: with a secret every attempt carries the
// Standard Webhooks headers that verify; webhook-id and body are the same
// on every attempt, timestamp and signature per attempt. Without a secret
// the headers are absent.
func TestServices_20_Signature(t *testing.T) {
	checkLeaks(t)
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	ep := newEndpoint(t, func(n int, _ *http.Request) int {
		if n == 0 {
			return 503
		}
		return 200
	})
	clk := &fakeClock{t: time.Unix(1774606503, 0).UTC(), step: 3 * time.Second}
	sl := &fakeSleep{}
	c := start(t, Config{URL: ep.srv.URL, Secret: secret, Version: "1.2.3", Now: clk.Now, Sleep: sl.Sleep,
		NodeID: func() uint32 { return 685 }})
	if s := c.Stats(); !s.Signed {
		t.Fatalf("stats %+v, want signed", s)
	}
	c.Emit("network.auto_joined", whmsg.Fields{{Key: "network_id", Value: 3}, {Key: "address", Value: "3:0000.0000.02AD"}})
	c.stop(t)
	reqs := ep.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d attempts, want 2", len(reqs))
	}
	signer, err := whmsg.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		h := whmsg.Headers{ID: r.header.Get(whmsg.HeaderID), Timestamp: r.header.Get(whmsg.HeaderTimestamp),
			Signature: r.header.Get(whmsg.HeaderSignature)}
		if h.ID != "pilot-685-1" {
			t.Errorf("attempt %d webhook-id %q", i, h.ID)
		}
		if err := signer.Verify(h, r.body, time.Time{}, 0); err != nil {
			t.Errorf("attempt %d: %v", i, err)
		}
		if ct, ua := r.header.Get("Content-Type"), r.header.Get("User-Agent"); ct != "application/json" || ua != "pilot-daemon/1.2.3" {
			t.Errorf("attempt %d Content-Type %q User-Agent %q", i, ct, ua)
		}
	}
	if string(reqs[0].body) != string(reqs[1].body) {
		t.Errorf("body changed between attempts")
	}
	if reqs[0].header.Get(whmsg.HeaderTimestamp) == reqs[1].header.Get(whmsg.HeaderTimestamp) ||
		reqs[0].header.Get(whmsg.HeaderSignature) == reqs[1].header.Get(whmsg.HeaderSignature) {
		t.Errorf("timestamp/signature not recomputed per attempt")
	}
	want := `{"event_id":1,"event":"network.auto_joined","node_id":685,"timestamp":"2026-03-27T10:15:03Z","data":{"network_id":3,"address":"3:0000.0000.02AD"}}`
	if string(reqs[0].body) != want {
		t.Errorf("body\n got %s\nwant %s", reqs[0].body, want)
	}

	ep2 := newEndpoint(t, always(200))
	c2 := start(t, Config{URL: ep2.srv.URL})
	c2.Emit("conn.fin", nil)
	c2.stop(t)
	for _, name := range []string{whmsg.HeaderID, whmsg.HeaderTimestamp, whmsg.HeaderSignature} {
		if v, ok := ep2.requests()[0].header[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("unsigned attempt carries %s: %q", name, v)
		}
	}
}

// TestServices_24_TimestampFormat: the envelope timestamp is the event
// time in UTC as RFC3339Nano writes it.
func TestServices_24_TimestampFormat(t *testing.T) {
	checkLeaks(t)
	zone := time.FixedZone("X", 2*3600)
	cases := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 27, 12, 15, 3, 412700000, zone), "2026-03-27T10:15:03.4127Z"},
		{time.Date(2026, 3, 27, 12, 15, 3, 0, zone), "2026-03-27T10:15:03Z"},
		{time.Date(2026, 3, 27, 10, 15, 3, 412345678, time.UTC), "2026-03-27T10:15:03.412345678Z"},
	}
	ep := newEndpoint(t, always(200))
	clk := &fakeClock{}
	c := start(t, Config{URL: ep.srv.URL, Now: clk.Now})
	for _, tc := range cases {
		clk.Set(tc.at)
		c.Emit("conn.fin", nil)
	}
	c.stop(t)
	reqs := ep.requests()
	if len(reqs) != len(cases) {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, tc := range cases {
		var m map[string]any
		if err := json.Unmarshal(reqs[i].body, &m); err != nil {
			t.Fatal(err)
		}
		if m["timestamp"] != tc.want {
			t.Errorf("timestamp %v, want %s", m["timestamp"], tc.want)
		}
		if !strings.HasSuffix(string(reqs[i].body), `"data":{}}`) {
			t.Errorf("empty data not written as {}: %s", reqs[i].body)
		}
	}
}

// TestSetURLDrainsOldInBackground: a URL change returns at once even when
// the old endpoint hangs; the old queue is abandoned after DrainTimeout
// and later events reach the new URL in order.
func TestSetURLDrainsOldInBackground(t *testing.T) {
	checkLeaks(t)
	old := newEndpoint(t, func(_ int, r *http.Request) int {
		<-r.Context().Done()
		return 200
	})
	nu := newEndpoint(t, always(200))
	dir := t.TempDir()
	c := start(t, Config{StateDir: dir, URL: old.srv.URL, Secret: "s3cret", AttemptTimeout: time.Hour,
		DrainTimeout: 100 * time.Millisecond})
	c.Emit("conn.fin", nil)
	c.Emit("conn.fin", nil)
	waitFor(t, "first attempt to the old URL", func() bool { return len(old.requests()) == 1 })
	done := make(chan error, 1)
	go func() { done <- c.SetURLKeepSecret(nu.srv.URL) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("SetURL blocked")
	}
	if st := readState(t, dir); st.URL != nu.srv.URL || st.Secret != "s3cret" {
		t.Fatalf("webhook.json %+v", st)
	}
	c.Emit("conn.fin", nil)
	c.Emit("conn.fin", nil)
	waitFor(t, "delivery to the new URL", func() bool { return c.Stats().Delivered == 2 })
	if got := ids(t, nu.requests()); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("new URL got IDs %v", got)
	}
	if s := c.Stats(); s.Failed != 2 || !s.Signed || s.URL != nu.srv.URL {
		t.Fatalf("stats %+v", s)
	}
	if err := c.SetURL("", ""); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Configured || s.URL != "" {
		t.Fatalf("after clear: %+v", s)
	}
	if st := readState(t, dir); st.URL != "" || st.Secret != "" || st.NextEventID != 1+idBlock {
		t.Fatalf("webhook.json after clear %+v", st)
	}
}

func TestSetURLRefusesInvalid(t *testing.T) {
	checkLeaks(t)
	c := start(t, Config{})
	if err := c.SetURL("ftp://x/", ""); err == nil {
		t.Fatal("ftp URL accepted")
	}
	if err := c.SetURL("http://x/", "whsec_!!!"); err == nil {
		t.Fatal("bad whsec_ secret accepted")
	}
	if _, err := New(Config{URL: "http://169.254.169.254/"}); err == nil {
		t.Fatal("New accepted a metadata URL")
	}
	c.stop(t)
	if err := c.SetURL("http://x/", ""); err != ErrClosed {
		t.Fatalf("SetURL after Close: %v", err)
	}
}
