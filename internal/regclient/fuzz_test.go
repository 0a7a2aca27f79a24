package regclient

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func frameOf(body string) []byte {
	f, _ := regmsg.AppendFrame(nil, []byte(body))
	return f
}

// FuzzReplyStream feeds arbitrary registry bytes to a heartbeat call: the
// client never panics, and every outcome is a success reply of the right
// type, an error reply (*regmsg.Error) or a classified failure.
func FuzzReplyStream(f *testing.F) {
	seeds := [][]byte{
		frameOf(`{"type":"heartbeat_ok","time":1774606503,"policy_epoch":4}`),
		frameOf(`{"type":"error","error":"rate limited: wait","code":"rate_limited","retry_after_ms":5}`),
		append(frameOf(`{"type":"error","error":"store down","code":"unavailable"}`), frameOf(`{"type":"heartbeat_ok"}`)...),
		frameOf(`{"type":"lookup_ok"}`),
		frameOf(`{"type":"heartbeat_ok","time":"x"}`),
		frameOf(`[]`),
		frameOf(``),
		{0, 1, 0, 1},             // length 65,537
		{0, 0, 0, 9, '{', '"'},   // truncated body
		{0, 0},                   // truncated header
		{0xff, 0xff, 0xff, 0xff}, // huge length
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := New(Config{
			Addr:     "registry.test:9000",
			Identity: testIdentity(t, 1),
			NodeID:   7,
			Timeout:  time.Second,
			Dialer: func(context.Context, string, string) (net.Conn, error) {
				return newFakeConn(data), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		body, err := c.Do(context.Background(), &regmsg.Heartbeat{NodeID: 7})
		if err == nil {
			if typ, _, derr := regmsg.DecodeReply(body); derr != nil || typ != "heartbeat_ok" {
				t.Fatalf("success with reply %q (%v)", body, derr)
			}
			var hb regmsg.HeartbeatOK
			_ = regmsg.UnmarshalReply(body, &hb) // typed decoding must not panic either
			return
		}
		var re *regmsg.Error
		switch {
		case errors.As(err, &re), errors.Is(err, ErrTransport), errors.Is(err, ErrProtocol),
			errors.Is(err, context.DeadlineExceeded):
		default:
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// FuzzParseFingerprint: never panics; an accepted pin prints as 64
// lowercase hex digits that parse to the same value.
func FuzzParseFingerprint(f *testing.F) {
	for _, s := range []string{
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
		"", ":", "zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		again, err := ParseFingerprint(fp.String())
		if err != nil || again != fp || len(fp.String()) != 64 {
			t.Fatalf("%q -> %s -> %v", s, fp, err)
		}
		if _, err := hex.DecodeString(fp.String()); err != nil {
			t.Fatal(err)
		}
	})
}
