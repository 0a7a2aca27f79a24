package handlers

import (
	"math"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// signAt signs req with id's key (v2) at the given ts.
func signAt(req regmsg.Request, id *identity.Identity, ts int64) regmsg.Request {
	a := req.AuthFields()
	nonce := identity.NewNonce(nil)
	a.TS, a.Nonce = &ts, &nonce
	sig := id.SignBase64(regmsg.CanonicalV2(req))
	a.Signature = &sig
	return req
}

// registry.md §4.3 gives ts only as "JSON int (ms)" and §5.2 step 2 makes a
// ts outside the skew window unauthenticated: a correctly signed heartbeat
// whose ts is any int64 far from the registry clock, negative and extreme
// values included, is refused with unauthenticated (never invalid_argument,
// never accepted through an overflow of now − ts).
func TestSkewExtremeTimestamps(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	now := e.clk.Now().UnixMilli()
	for _, c := range []struct {
		name string
		ts   int64
		dir  string
	}{
		{"-5", -5, "behind"},
		{"MinInt64", math.MinInt64, "behind"},
		{"MinInt64+1", math.MinInt64 + 1, "behind"},
		// now − ts is exactly −MinInt64, which overflows back to MinInt64:
		// the subtraction-based check would have let it through.
		{"now+MinInt64", now + math.MinInt64, "behind"},
		{"MaxInt64", math.MaxInt64, "ahead of"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.send(signAt(&regmsg.Heartbeat{NodeID: n.ID}, n.id, c.ts))
			if r.code() != regmsg.CodeUnauthenticated {
				t.Fatalf("ts %d: got %s, want unauthenticated", c.ts, r.body)
			}
			if !strings.Contains(r.err.Message, c.dir+" the registry clock") || !strings.Contains(r.err.Message, "NTP") {
				t.Errorf("ts %d: skew message %q", c.ts, r.err.Message)
			}
		})
	}
	// The same request at the registry's time is accepted: the refusals
	// above are the skew check's.
	e.ok(e.send(signAt(&regmsg.Heartbeat{NodeID: n.ID}, n.id, now)), "heartbeat")
}
