package conformance

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// §1 "Frame timeout: Once the first byte of a frame has arrived, the whole
// frame MUST arrive within the frame timeout ... else the connection is
// closed (slow-loris defence)." A body trickled byte by byte does not reset
// the timer, and a partial header counts as a started frame.
func TestConf_1_SlowLoris(t *testing.T) {
	r := start(t, "-frame-timeout", "1s", "-idle-timeout", "30s")
	body := []byte(`{"type":"beacon_list","pad":"` + strings.Repeat("x", 40) + `"}`)
	c := r.dial()
	c.writeRaw(frame(body)[:4])
	t0 := time.Now()
	closed := false
	for i := 0; i < len(body) && time.Since(t0) < 10*time.Second; i++ {
		if _, err := c.c.Write(body[i : i+1]); err != nil {
			closed = true
			break
		}
		time.Sleep(150 * time.Millisecond) // pacing the trickle, not synchronising
	}
	if !closed {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := c.readFrame(); err == nil {
			t.Errorf("a frame trickled over %v was served: %s", time.Since(t0), b)
		}
	}
	// two header bytes only
	c2 := r.dial()
	c2.writeRaw([]byte{0, 0})
	c2.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	t1 := time.Now()
	if _, err := c2.readFrame(); err == nil {
		t.Errorf("a half header got a reply")
	} else if time.Since(t1) > 8*time.Second {
		t.Errorf("a half header was not closed by the frame timeout")
	}
}

// §1 "Idle timeout: A connection with no complete request for 5 min (flag
// `-idle-timeout`) is closed" — a connection that keeps sending complete
// requests stays open past the idle timeout.
func TestConf_1_IdleIsPerRequest(t *testing.T) {
	r := start(t, "-idle-timeout", "1s", "-frame-timeout", "1s")
	c := r.dial()
	t0 := time.Now()
	for time.Since(t0) < 3*time.Second {
		c.ok(obj{"type": "beacon_list"})
		time.Sleep(300 * time.Millisecond) // pacing, not synchronising
	}
}

// §1.1 "wait up to 30 s for 4 bytes": the first bytes may arrive in pieces.
func TestConf_1_1_SplitFirstBytes(t *testing.T) {
	r := start(t)
	c := r.dial()
	f := frame([]byte(`{"type":"beacon_list"}`))
	for i := 0; i < 4; i++ {
		c.writeRaw(f[i : i+1])
		time.Sleep(50 * time.Millisecond) // let each byte arrive on its own
	}
	c.writeRaw(f[4:])
	if p := c.read(); p.typ() != "beacon_list_ok" {
		t.Errorf("split header: %s", p)
	}
	// §1: the largest length with first byte 0x00 is message_too_large, not a close.
	c2 := r.dial()
	c2.writeRaw([]byte{0, 0xff, 0xff, 0xff})
	if p := c2.read(); p.code() != "message_too_large" {
		t.Errorf("length 0x00ffffff: %s", p)
	}
}

// §4.1 keys are compared as decoded JSON strings: an escaped spelling of a
// key is the same key (a duplicate); an escaped `type` is `type`.
func TestConf_4_1_EscapedKeys(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	id := fmtInt(n.id)
	if p := c.send(`{"type":"get_key_info","node\u005fid":` + id + `,"node_id":` + id + `}`); p.code() != "invalid_argument" {
		t.Errorf("escaped duplicate key: %s", p)
	}
	if p := c.send(`{"\u0074ype":"get_key_info","node_id":` + id + `}`); p.typ() != "get_key_info_ok" {
		t.Errorf("escaped type key: %s", p)
	}
	if p := c.send(`{"type":"get\u005fkey\u005finfo","node_id":` + id + `}`); p.typ() != "get_key_info_ok" {
		t.Errorf("escaped type value: %s", p)
	}
}

// §3 "Unknown paths: `404` with a plain-text body"; "Only `GET` and `HEAD`
// are allowed"; /healthz "Content-Type `application/json`".
func TestConf_3_HTTPDetails(t *testing.T) {
	r := start(t)
	resp, err := http.Get("http://" + r.addr + "/does-not-exist")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || len(b) == 0 {
		t.Errorf("404: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	resp, err = http.Get("http://" + r.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("readyz content type %q", resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest("HEAD", "http://"+r.addr+"/readyz", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD /readyz: %d", resp.StatusCode)
	}
	// A second request on the same HTTP connection is served (serves requests until the client closes).
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	cl := &http.Client{Transport: tr}
	for i := 0; i < 2; i++ {
		resp, err := cl.Get("http://" + r.addr + "/healthz")
		if err != nil {
			t.Fatalf("keep-alive request %d: %v", i, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
}
