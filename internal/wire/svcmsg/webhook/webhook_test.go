package webhook

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/testvec"
)

// serviceVectors mirrors testdata/vectors/services.json; only
// webhook_signature belongs to this package.
type serviceVectors struct {
	About            string          `json:"about"`
	HandshakeV2      json.RawMessage `json:"handshake_v2"`
	SecureV2         json.RawMessage `json:"secure_v2"`
	WebhookSignature struct {
		Secret               string `json:"secret"`
		KeyHex               string `json:"key_hex"`
		WebhookID            string `json:"webhook_id"`
		WebhookTimestamp     string `json:"webhook_timestamp"`
		Body                 string `json:"body"`
		SignedContent        string `json:"signed_content"`
		WebhookSignature     string `json:"webhook_signature"`
		PlainSecret          string `json:"plain_secret"`
		PlainSecretSignature string `json:"plain_secret_signature"`
	} `json:"webhook_signature"`
}

func loadVector(t testing.TB) serviceVectors {
	var v serviceVectors
	testvec.Load(t, "services.json", &v)
	return v
}

// vectorEnvelope is the event of the webhook_signature vector's body.
func vectorEnvelope() Envelope {
	return Envelope{
		EventID:   42,
		Event:     "network.auto_joined",
		NodeID:    685,
		Timestamp: time.Date(2026, 3, 27, 10, 15, 3, 412345678, time.UTC),
		Data:      Fields{{"network_id", 1}, {"address", "1:0001.0000.02AD"}},
	}
}

// TestServices_13_WebhookSignatureVector reproduces every field of the
// webhook_signature vector (services.md §9 item 13).
func TestServices_13_WebhookSignatureVector(t *testing.T) {
	v := loadVector(t).WebhookSignature
	key, err := Key(v.Secret)
	if err != nil || hex.EncodeToString(key) != v.KeyHex {
		t.Fatalf("key %x (%v), want %s", key, err, v.KeyHex)
	}
	env := vectorEnvelope()
	body, err := env.Marshal()
	if err != nil || string(body) != v.Body {
		t.Fatalf("body\n%s (%v)\nwant\n%s", body, err, v.Body)
	}
	if id := MessageID(env.NodeID, env.EventID); id != v.WebhookID {
		t.Errorf("webhook-id %q, want %q", id, v.WebhookID)
	}
	if got := string(SignedContent(v.WebhookID, v.WebhookTimestamp, body)); got != v.SignedContent {
		t.Errorf("signed content %q", got)
	}
	for _, c := range []struct{ secret, want string }{
		{v.Secret, v.WebhookSignature},
		{v.PlainSecret, v.PlainSecretSignature},
	} {
		s, err := NewSigner(c.secret)
		if err != nil {
			t.Fatal(err)
		}
		h := s.Sign(v.WebhookID, 1774606504, body)
		if h.ID != v.WebhookID || h.Timestamp != v.WebhookTimestamp || h.Signature != c.want {
			t.Errorf("secret %q: headers %+v, want signature %q", c.secret, h, c.want)
		}
		// Verification side, from the vector's header values.
		in := Headers{ID: v.WebhookID, Timestamp: v.WebhookTimestamp, Signature: "v1a,xyz " + c.want}
		now := time.Unix(1774606504, 0).Add(2 * time.Minute)
		if err := s.Verify(in, []byte(v.Body), now, 5*time.Minute); err != nil {
			t.Errorf("secret %q: Verify: %v", c.secret, err)
		}
	}
	if key, _ := Key(v.PlainSecret); string(key) != v.PlainSecret {
		t.Errorf("plain secret key %q", key)
	}
	back, err := Parse([]byte(v.Body))
	if err != nil || back.EventID != 42 || back.Event != env.Event || back.NodeID != 685 ||
		!back.Timestamp.Equal(env.Timestamp) || string(back.Data.(json.RawMessage)) != `{"network_id":1,"address":"1:0001.0000.02AD"}` {
		t.Fatalf("Parse: %+v %v", back, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	s, err := NewSigner("my-plain-secret")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"x":1}`)
	h := s.Sign("pilot-1-2", 1000, body)
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		h    Headers
		body []byte
		now  time.Time
	}{
		{"other body", h, []byte(`{"x":2}`), now},
		{"other id", Headers{"pilot-1-3", h.Timestamp, h.Signature}, body, now},
		{"other timestamp", Headers{h.ID, "1001", h.Signature}, body, now},
		{"bad timestamp", Headers{h.ID, "10x", h.Signature}, body, now},
		{"no v1", Headers{h.ID, h.Timestamp, "v2," + h.Signature[3:]}, body, now},
		{"empty", Headers{h.ID, h.Timestamp, ""}, body, now},
		{"too old", h, body, now.Add(6 * time.Minute)},
		{"too new", h, body, now.Add(-6 * time.Minute)},
	} {
		if err := s.Verify(tc.h, tc.body, tc.now, 5*time.Minute); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := s.Verify(h, body, now.Add(time.Hour), 0); err != nil {
		t.Errorf("tolerance 0 checks the time: %v", err)
	}
	other, _ := NewSigner("another")
	if err := other.Verify(h, body, now, 0); !errors.Is(err, ErrSignature) {
		t.Errorf("other secret: %v", err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_!!!"} {
		if _, err := NewSigner(bad); !errors.Is(err, ErrSecret) {
			t.Errorf("NewSigner(%q): %v", bad, err)
		}
	}
	if k, err := Key("whsec_AAEC"); err != nil || !bytes.Equal(k, []byte{0, 1, 2}) {
		t.Errorf("whsec_AAEC: %x %v", k, err)
	}
}

// TestServices_24_Timestamp: RFC3339Nano in UTC, trailing zeros trimmed,
// no dot for a whole second, Z suffix (services.md §8.2, §9 item 24).
func TestServices_24_Timestamp(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 3, 27, 10, 15, 3, 412700000, time.UTC), "2026-03-27T10:15:03.4127Z"},
		{time.Date(2026, 3, 27, 10, 15, 3, 0, time.UTC), "2026-03-27T10:15:03Z"},
		{time.Date(2026, 3, 27, 11, 15, 3, 1, cet), "2026-03-27T10:15:03.000000001Z"},
		{time.Date(2026, 3, 27, 10, 15, 3, 100000000, time.UTC), "2026-03-27T10:15:03.1Z"},
	} {
		if got := FormatTimestamp(tc.t); got != tc.want {
			t.Errorf("FormatTimestamp(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestEnvelopeData(t *testing.T) {
	at := time.Date(2026, 3, 27, 10, 15, 3, 0, time.UTC)
	const head = `{"event_id":1,"event":"e","node_id":0,"timestamp":"2026-03-27T10:15:03Z","data":`
	for _, tc := range []struct {
		name string
		data any
		want string
	}{
		{"nil", nil, `{}`},
		{"empty fields", Fields{}, `{}`},
		{"nil fields", Fields(nil), `{}`},
		{"nil map", map[string]int(nil), `{}`},
		{"raw", json.RawMessage(` { "a" : [1, 2] } `), `{"a":[1,2]}`},
		{"struct", struct {
			Z string `json:"z"`
			A bool   `json:"a"`
		}{"<&>", true}, `{"z":"<&>","a":true}`},
		{"fields no HTML escaping", Fields{{"justification", "<b> & </b>"}, {"peer_node_id", 7}}, `{"justification":"<b> & </b>","peer_node_id":7}`},
	} {
		e := Envelope{EventID: 1, Event: "e", Timestamp: at, Data: tc.data}
		got, err := e.Marshal()
		if err != nil || string(got) != head+tc.want+"}" {
			t.Errorf("%s: %s (%v)", tc.name, got, err)
		}
	}
	for _, bad := range []any{[]int{1}, "str", 5, json.RawMessage(`{`), Fields{{"f", func() {}}}} {
		e := Envelope{Event: "e", Data: bad}
		if _, err := e.Marshal(); !errors.Is(err, ErrInvalid) {
			t.Errorf("data %T accepted: %v", bad, err)
		}
	}
	if _, err := (&Envelope{Event: "e", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("year 10000: %v", err)
	}
	if _, err := (&Envelope{}).Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty event name: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{
		``, `null`, `[]`, `{}`,
		`{"event_id":1,"event":"e","node_id":1}`,
		`{"event_id":-1,"event":"e","node_id":1,"timestamp":"2026-03-27T10:15:03Z"}`,
		`{"event_id":1,"event":"","node_id":1,"timestamp":"2026-03-27T10:15:03Z"}`,
		`{"event_id":1,"event":"e","node_id":4294967296,"timestamp":"2026-03-27T10:15:03Z"}`,
		`{"event_id":1,"event":"e","node_id":1,"timestamp":"yesterday"}`,
		`{"event_id":1,"event":"e","node_id":1,"timestamp":"0000-01-01T00:30:00+01:00"}`,
		`{"event_id":1,"event":"e","node_id":1,"timestamp":"9999-12-31T23:30:00-01:00"}`,
		`{"event_id":1,"event":"e","node_id":1,"timestamp":"2026-03-27T10:15:03Z","data":[1]}`,
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s): %v", bad, err)
		}
	}
	e, err := Parse([]byte(`{"event_id":1,"event":"e","node_id":1,"timestamp":"2026-03-27T10:15:03Z"}`))
	if err != nil || string(e.Data.(json.RawMessage)) != "{}" {
		t.Errorf("original body without data: %+v %v", e, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(loadVector(f).WebhookSignature.Body))
	f.Add([]byte(`{"event_id":0,"event":"x","node_id":0,"timestamp":"2026-03-27T11:15:03.10+01:00","data":{"a":"<\u2028>"}}`))
	f.Add([]byte(`{"event_id":0,"event":"x","node_id":0,"timestamp":"0000-01-01T00:30:00+01:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed body: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if back.EventID != e.EventID || back.Event != e.Event || back.NodeID != e.NodeID || !back.Timestamp.Equal(e.Timestamp) {
			t.Fatalf("round trip %+v -> %+v", e, back)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %s -> %s (%v)", out, again, err)
		}
	})
}
