package trust

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
)

// services.md §9 item 23: a message that arrives in many small segments is
// reassembled; one over 8 KiB is dropped.
func TestServices_23_Reassembly(t *testing.T) {
	w := newWorld(t)
	w.add(1, true, nil)
	raw := craft(w, handshake.Request, 1, 2, w.identity(1),
		func(m *handshake.Message) { m.Justification = strings.Repeat("j", handshake.MaxJustification) }, false, false)
	got, msg, err := ReadMessage(iotest.OneByteReader(bytes.NewReader(raw)))
	if err != nil || !bytes.Equal(got, raw) || len(msg.Justification) != handshake.MaxJustification {
		t.Fatalf("one byte at a time: %v", err)
	}
	// The stream stays open after the object: reading stops at the object.
	r := io.MultiReader(bytes.NewReader(raw), blockingReader{})
	if _, _, err := ReadMessage(r); err != nil {
		t.Errorf("object followed by an open stream: %v", err)
	}
	big := `{"type":"handshake_request","node_id":1,"timestamp":1,"justification":"` + strings.Repeat("a", MaxMessage) + `"}`
	if _, _, err := ReadMessage(strings.NewReader(big)); !errors.Is(err, ErrReassembly) {
		t.Errorf("over 8 KiB: %v", err)
	}
	if _, _, err := ReadMessage(strings.NewReader(string(raw[:len(raw)-1]))); !errors.Is(err, ErrReassembly) {
		t.Errorf("EOF inside the object: %v", err)
	}
	if _, _, err := ReadMessage(strings.NewReader(`{"type":1}`)); !errors.Is(err, ErrReassembly) {
		t.Errorf("invalid object: %v", err)
	}
	if _, _, err := ReadMessage(strings.NewReader(string(raw) + `{}`)); !errors.Is(err, ErrReassembly) {
		t.Errorf("two objects: %v", err)
	}
}

// blockingReader fails the test if read: ReadMessage must not read past
// a complete object.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { return 0, errors.New("read past the message") }

type deadlineReader struct {
	io.Reader
	set time.Time
}

func (d *deadlineReader) SetReadDeadline(t time.Time) error { d.set = t; return nil }

func TestReadMessageSetsDeadline(t *testing.T) {
	d := &deadlineReader{Reader: strings.NewReader(`{"type":"handshake_revoke","node_id":1,"timestamp":1}`)}
	before := time.Now()
	if _, _, err := ReadMessage(d); err != nil {
		t.Fatal(err)
	}
	if d.set.Before(before.Add(ReadTimeout)) || d.set.After(time.Now().Add(ReadTimeout)) {
		t.Errorf("deadline %v, want now + 10 s", d.set)
	}
}

// FuzzHandleMessage: any bytes on port 444 are dropped or handled, never a
// panic; a message that passes reads back identically.
func FuzzHandleMessage(f *testing.F) {
	w := newWorld(f)
	w.add(1, true, nil)
	w.add(3, false, nil)
	f.Add(craft(w, handshake.Request, 1, 2, w.identity(1), nil, false, false))
	f.Add(craft(w, handshake.Accept, 3, 2, w.identity(3), nil, true, false))
	f.Add([]byte(`{"type":"handshake_revoke","node_id":1,"public_key":"AAAA","timestamp":0,"sig_v2":"%%"}`))
	f.Add([]byte(`{"type":"handshake_request","node_id":4294967295,"timestamp":-9223372036854775808}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fw := newWorld(t)
		b := fw.add(2, true, nil)
		fw.mu.Lock()
		fw.ids[1], fw.ids[3] = w.identity(1), w.identity(3)
		fw.caps[1], fw.caps[3] = []string{CapHandshakeV2}, nil
		fw.now = w.clock()
		fw.mu.Unlock()
		for _, remote := range []uint32{1, 3} {
			b.m.HandleMessage(ctx, nodeID(remote), raw)
		}
		got, msg, err := ReadMessage(bytes.NewReader(raw))
		if err != nil {
			return
		}
		enc, err := msg.Marshal()
		if err != nil {
			return // e.g. not UTF-8: parsed, but our encoder refuses it
		}
		again, err := handshake.Parse(enc)
		if err != nil || again != msg || !bytes.Equal(got, raw) {
			t.Fatalf("round trip: %+v vs %+v (%v)", again, msg, err)
		}
	})
}
