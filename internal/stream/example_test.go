package stream_test

import (
	"fmt"
	"time"

	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Two engines wired back to back: the daemon's job in miniature.
func Example() {
	now := time.Unix(1_700_000_000, 0)
	dialer, _ := stream.NewDialer(stream.Config{}, now)
	syn := dialer.Output(now, nil)[0]
	responder, _ := stream.NewResponder(stream.Config{}, &syn, now)

	deliver := func(from, to *stream.Conn) {
		for _, p := range from.Output(now, nil) {
			p := p
			to.Handle(&p, now)
		}
	}
	deliver(responder, dialer) // SYN-ACK
	fmt.Println(dialer.State(), dialer.Events()&stream.EvEstablished != 0)

	dialer.Write([]byte("hello"))
	deliver(dialer, responder)
	buf := make([]byte, 16)
	n, _ := responder.Read(buf)
	fmt.Printf("%s\n", buf[:n])

	now = responder.NextDeadline() // the delayed ACK
	responder.Tick(now)
	deliver(responder, dialer)

	dialer.Close(now)
	deliver(dialer, responder) // bare FIN
	deliver(responder, dialer) // FIN+ACK, never answered
	fmt.Println(dialer.State(), responder.State(), len(dialer.Output(now, []packet.Packet{})))
	// Output:
	// ESTABLISHED true
	// hello
	// TIME_WAIT TIME_WAIT 0
}
