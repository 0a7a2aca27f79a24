package task

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func seedFrames(f *testing.F) {
	add := func(fr Frame, err error) {
		if err != nil {
			f.Fatal(err)
		}
		b, err := fr.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(Submit{TaskID: "t-1", TaskDescription: "d", FromAddr: "0:0000.0000.0007", ToAddr: "0:0000.0000.0009"}.Frame())
	add(SubmitReply{TaskID: "t-1", Status: StatusAccepted, Message: "Task accepted"}.Frame())
	add(StatusUpdate{TaskID: "t-1", Status: "ACCEPTED", Justification: "j"}.Frame())
	add(Results{TaskID: "t-1", ResultType: "file", Filename: "../x", FileData: []byte{0, 1}, CompletedAt: "c", TimeCPUMs: 3}.Frame())
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 21, '{', '"', 's', 't', 'a', 't', 'u', 's', '"', ':', '7', ',', '"', 't', 'a', 's', 'k', '_', 'i', 'd', '"', ':', '1', '}'})
	f.Add([]byte{0, 0, 0, 1, 0x01, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0})
}

// FuzzDecode: Decode and ReadFrame agree and never panic; a decoded frame
// re-encodes to the same bytes; a payload that parses as its type's
// message re-encodes to a payload that parses to the same message.
func FuzzDecode(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Decode(b)
		rf, rerr := ReadFrame(bytes.NewReader(b))
		if err != nil {
			if rerr == nil {
				t.Fatalf("ReadFrame accepted what Decode refused (%v)", err)
			}
			if errors.Is(err, ErrTooLarge) != errors.Is(rerr, ErrTooLarge) {
				t.Fatalf("Decode %v, ReadFrame %v", err, rerr)
			}
			return
		}
		if rerr != nil || rf.Type != fr.Type || !bytes.Equal(rf.Payload, fr.Payload) {
			t.Fatalf("ReadFrame = %+v, %v; Decode = %+v", rf, rerr, fr)
		}
		out, err := fr.Marshal()
		if err != nil || !bytes.Equal(out, b[:n]) {
			t.Fatalf("frame round trip: %x -> %x (%v)", b[:n], out, err)
		}
		switch fr.Type {
		case TypeSubmit:
			roundTrip(t, fr.Payload, ParseSubmit)
			roundTrip(t, fr.Payload, ParseSubmitReply)
		case TypeStatusUpdate:
			roundTrip(t, fr.Payload, ParseStatusUpdate)
		case TypeSendResults:
			roundTrip(t, fr.Payload, ParseResults)
		}
	})
}

// roundTrip: decode -> encode -> decode yields the same message.
func roundTrip[M appender](t *testing.T, p []byte, parse func([]byte) (M, error)) {
	t.Helper()
	m, err := parse(p)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("parse error does not wrap ErrMalformed: %v", err)
		}
		return
	}
	b, err := m.AppendTo(nil)
	if err != nil {
		t.Fatalf("encode %+v: %v", m, err)
	}
	m2, err := parse(b)
	if err != nil || !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip %+v -> %s -> %+v (%v)", m, b, m2, err)
	}
}
