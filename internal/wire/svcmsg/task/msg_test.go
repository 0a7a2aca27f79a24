package task

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestMessages_RoundTrip checks each message both ways against its exact
// JSON (key order of services.md §7, optional keys omitted when empty).
func TestMessages_RoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		typ   Type
		msg   appender
		json  string
		parse func([]byte) (any, error)
	}{
		{
			"submit", TypeSubmit,
			Submit{TaskID: "t-1", TaskDescription: "sum <1&2>", FromAddr: "0:0000.0000.0007", ToAddr: "0:0000.0000.0009"},
			`{"task_id":"t-1","task_description":"sum <1&2>","from_addr":"0:0000.0000.0007","to_addr":"0:0000.0000.0009"}`,
			func(b []byte) (any, error) { return ParseSubmit(b) },
		},
		{
			"submit reply", TypeSubmit,
			SubmitReply{TaskID: "t-1", Status: StatusRefused, Message: "Registry unavailable, cannot verify polo score"},
			`{"task_id":"t-1","status":400,"message":"Registry unavailable, cannot verify polo score"}`,
			func(b []byte) (any, error) { return ParseSubmitReply(b) },
		},
		{
			"status update", TypeStatusUpdate,
			StatusUpdate{TaskID: "t-1", Status: "ACCEPTED", Justification: "ok"},
			`{"task_id":"t-1","status":"ACCEPTED","justification":"ok"}`,
			func(b []byte) (any, error) { return ParseStatusUpdate(b) },
		},
		{
			"results text", TypeSendResults,
			Results{TaskID: "t-1", ResultType: "text", ResultText: "3", CompletedAt: "2026-03-27T10:15:03Z", TimeCPUMs: 12},
			`{"task_id":"t-1","result_type":"text","result_text":"3","completed_at":"2026-03-27T10:15:03Z","time_cpu_ms":12}`,
			func(b []byte) (any, error) { return ParseResults(b) },
		},
		{
			"results file", TypeSendResults,
			Results{TaskID: "t-1", ResultType: "file", Filename: "out.txt", FileData: []byte("hi"), CompletedAt: "x", TimeIdleMs: 1, TimeStagedMs: 2},
			`{"task_id":"t-1","result_type":"file","filename":"out.txt","file_data":"aGk=","completed_at":"x","time_idle_ms":1,"time_staged_ms":2}`,
			func(b []byte) (any, error) { return ParseResults(b) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.msg.AppendTo(nil)
			if err != nil || string(b) != tc.json {
				t.Fatalf("encode = %s, %v\nwant     %s", b, err, tc.json)
			}
			got, err := tc.parse([]byte(tc.json))
			if err != nil || !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("decode = %+v, %v; want %+v", got, err, tc.msg)
			}
			f, err := frameOf(tc.typ, tc.msg)
			if err != nil || f.Type != tc.typ || string(f.Payload) != tc.json {
				t.Fatalf("frame = %+v, %v", f, err)
			}
		})
	}
}

func TestStatusUpdate_IntegerStatus(t *testing.T) {
	m, err := ParseStatusUpdate([]byte(`{"task_id":"a","status":200}`))
	if err != nil || m.Status != "200" {
		t.Fatalf("= %+v, %v", m, err)
	}
}

func TestParse_Rejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		fn   func([]byte) error
	}{
		{"null", `null`, func(b []byte) error { _, err := ParseSubmit(b); return err }},
		{"array", `[1]`, func(b []byte) error { _, err := ParseSubmit(b); return err }},
		{"empty", ``, func(b []byte) error { _, err := ParseStatusUpdate(b); return err }},
		{"truncated", `{"task_id":"a"`, func(b []byte) error { _, err := ParseSubmit(b); return err }},
		{"trailing", `{"task_id":"a"} {}`, func(b []byte) error { _, err := ParseSubmit(b); return err }},
		{"wrong type", `{"task_id":5}`, func(b []byte) error { _, err := ParseSubmit(b); return err }},
		{"status object", `{"task_id":"a","status":{}}`, func(b []byte) error { _, err := ParseStatusUpdate(b); return err }},
		{"status float", `{"task_id":"a","status":1.5}`, func(b []byte) error { _, err := ParseStatusUpdate(b); return err }},
		{"negative time", `{"task_id":"a","time_cpu_ms":-1}`, func(b []byte) error { _, err := ParseResults(b); return err }},
		{"bad base64", `{"task_id":"a","file_data":"!!"}`, func(b []byte) error { _, err := ParseResults(b); return err }},
		{"reply status", `{"task_id":"a","status":201,"message":""}`, func(b []byte) error { _, err := ParseSubmitReply(b); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn([]byte(tc.in)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := (Results{TaskID: "a", TimeIdleMs: -1}).AppendTo(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("encode negative time: %v", err)
	}
	if _, err := (Submit{TaskDescription: strings.Repeat("x", MaxPayload)}).Frame(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestValidTaskID(t *testing.T) {
	tests := map[string]bool{
		"3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b9c": true,
		"task_1.v2":                            true,
		strings.Repeat("a", MaxTaskIDLen):      true,
		"":                                     false,
		".":                                    false,
		"..":                                   false,
		".hidden":                              false,
		"../../etc/passwd":                     false,
		`a\b`:                                  false,
		"a/b":                                  false,
		"a b":                                  false,
		"a\x00":                                false,
		"é":                                    false,
		strings.Repeat("a", MaxTaskIDLen+1):    false,
	}
	for id, want := range tests {
		if got := ValidTaskID(id); got != want {
			t.Errorf("ValidTaskID(%q) = %v, want %v", id, got, want)
		}
	}
}
