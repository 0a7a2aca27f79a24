package dataexchange

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
)

// FuzzServe feeds arbitrary bytes to one connection: the service never
// panics, answers only with well-formed reply frames and always returns.
func FuzzServe(f *testing.F) {
	seed := func(frames ...dataex.Frame) []byte {
		var b []byte
		for _, fr := range frames {
			b, _ = fr.AppendTo(b)
		}
		return b
	}
	file, _ := dataex.File{Name: "../../etc/passwd", Data: []byte("x")}.Frame()
	f.Add(seed(file))
	f.Add(seed(dataex.Frame{Type: dataex.TypeText, Payload: []byte("hi")}, dataex.Frame{Type: 9, Payload: []byte("z")}))
	f.Add(seed(dataex.Frame{Type: dataex.TypeJSON, Payload: []byte(`{"a":1}`)}, dataex.Frame{Type: dataex.TypeJSON, Payload: []byte(`{`)}))
	f.Add(seed(dataex.Frame{Type: dataex.TypeBinary, Payload: []byte{0, 1}}))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 3, 0, 9, 'a'})
	f.Add([]byte{0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0, 0, 0})
	dir := f.TempDir()
	s := &Service{StateDir: dir, IdleTimeout: time.Second, FreeBytes: func(string) (uint64, error) { return 1 << 40, nil }}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Serve(context.Background(), server, "0:0000.0000.0001") }()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			_, _ = client.Write(in)
			_ = client.Close() // net.Pipe has no half-close: end the session
		}()
		// Read replies until the service closes; each must parse.
		for {
			fr, err := dataex.ReadFrame(client, 0)
			if err != nil {
				break
			}
			if _, perr := dataex.ParseReply(string(fr.Payload)); perr != nil || fr.Type != dataex.TypeText {
				t.Fatalf("bad reply %q: %v", fr.Payload, perr)
			}
		}
		<-wrote
		select {
		case <-done:
		case <-time.After(svctest.WaitLimit):
			t.Fatal("Serve did not return")
		}
	})
}
