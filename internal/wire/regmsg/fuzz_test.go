package regmsg

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeRequest: DecodeRequest never panics; an accepted request has a
// deterministic canonical string, and MarshalRequest → DecodeRequest gives
// an equal struct with the same canonical string and v1 challenge.
func FuzzDecodeRequest(f *testing.F) {
	var v authFile
	loadVectors(f, &v)
	for _, e := range v.AuthV2 {
		f.Add([]byte(e.Request))
	}
	for _, s := range sampleRequests() {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"set_tags","tags":null,"x":{"y":[1,2,{"z":null}]}}`))
	f.Add([]byte(`{"type":"heartbeat","node_id":5,"node_id":6}`))
	f.Add([]byte(`{"type":"request_handshake","to_node_id":2,"justification":"\ud800\udc00\ud800"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		c1 := CanonicalV2(req)
		if !bytes.Equal(c1, CanonicalV2(req)) {
			t.Fatalf("canonical not deterministic")
		}
		enc, _ := MarshalRequest(req)
		if !json.Valid(enc) {
			t.Fatalf("MarshalRequest produced invalid JSON: %s", enc)
		}
		again, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		assertEqualRequests(t, req, again)
		if !bytes.Equal(c1, CanonicalV2(again)) {
			t.Fatalf("canonical changed")
		}
		ch1, ok1 := V1Challenge(req)
		ch2, ok2 := V1Challenge(again)
		if ch1 != ch2 || ok1 != ok2 || AuthVersion(req) != AuthVersion(again) {
			t.Fatalf("auth classification changed")
		}
	})
}
