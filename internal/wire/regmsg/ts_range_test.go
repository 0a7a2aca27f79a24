package regmsg

import (
	"math"
	"strconv"
	"testing"
)

// registry.md §4.3: ts is a "JSON int (ms)". Any integer that fits int64
// passes the shape check, negative ones included; whether it lies in the
// skew window is authentication's business (§5.2 step 2, unauthenticated).
func TestTSAnyInt64Decodes(t *testing.T) {
	for _, ts := range []int64{-5, -1, 0, 1774606503412, math.MinInt64, math.MinInt64 + 1, math.MaxInt64} {
		body := `{"type":"heartbeat","node_id":5,"ts":` + strconv.FormatInt(ts, 10) + `}`
		r := mustDecode(t, body)
		a := r.AuthFields()
		if a.TS == nil || *a.TS != ts {
			t.Fatalf("%s: ts %v", body, a.TS)
		}
		// The client side encodes it back unchanged.
		enc, _ := MarshalRequest(r)
		assertEqualRequests(t, r, mustDecode(t, string(enc)))
	}
	// Still a shape error: not an integer, or beyond int64.
	for _, v := range []string{`-5.0`, `-5e0`, `"-5"`, `9223372036854775808`, `-9223372036854775809`, `true`} {
		wantCode(t, `{"type":"heartbeat","node_id":5,"ts":`+v+`}`, CodeInvalidArgument, "ts must be an integer")
	}
}
