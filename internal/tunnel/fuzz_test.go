package tunnel

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// intakeEnv is two established managers on a real-time netsim network,
// plus raw sockets to inject datagrams into A from a stranger and from
// the beacon's address.
type intakeEnv struct {
	a, b          *node
	stranger, bcn netsim.PacketConn
	genuine       [][]byte // frames B sent to A
	seq           int
}

// FuzzIntake feeds arbitrary datagrams (first input byte: 0 = from a
// stranger, 1 = from the beacon address, 2 = relayed by the beacon as
// coming from B) into a running manager, then checks that genuine traffic
// from B still arrives: random input never crashes the manager or corrupts
// a session.
func FuzzIntake(f *testing.F) {
	env := newIntakeEnv(f)
	for _, g := range env.genuine {
		f.Add(byte(0), g)
		f.Add(byte(2), g)
	}
	pila := signedPILA(f, env.b, env.b.id)
	f.Add(byte(0), pila)
	f.Add(byte(2), pila)
	pilk, _ := (&frame.PILK{Sender: env.b.id}).AppendTo(nil)
	f.Add(byte(0), pilk)
	pilt := append(frame.MagicPILT[:], make([]byte, 40)...)
	f.Add(byte(0), pilt)
	f.Add(byte(0), frame.MagicPILP[:])
	for _, m := range []beaconmsg.Message{
		beaconmsg.DiscoverReply{Endpoint: netip.MustParseAddrPort("203.0.113.77:1234")},
		beaconmsg.PunchCommand{Endpoint: netip.MustParseAddrPort("198.51.100.2:4000")},
		beaconmsg.RelayDeliver{Sender: env.b.id, Frame: env.genuine[0]},
		beaconmsg.RelayDeliver{Sender: 999, Frame: env.genuine[0]},
		beaconmsg.PunchRequest{Requester: 1, Target: 2},
	} {
		b, _ := m.AppendTo(nil)
		f.Add(byte(1), b)
		f.Add(byte(0), b)
	}
	f.Add(byte(1), []byte{0x06, 0, 0, 2, 0xAF, 'P', 'I', 'L'})
	f.Fuzz(func(t *testing.T, src byte, b []byte) {
		if len(b) > netsim.MaxDatagram-9 {
			return
		}
		switch src % 3 {
		case 0:
			_, _ = env.stranger.WriteToUDPAddrPort(b, epOf(pubA))
		case 1:
			_, _ = env.bcn.WriteToUDPAddrPort(b, epOf(pubA))
		case 2:
			d, _ := beaconmsg.RelayDeliver{Sender: env.b.id, Frame: b}.AppendTo(nil)
			_, _ = env.bcn.WriteToUDPAddrPort(d, epOf(pubA))
		}
		env.seq++
		want := fmt.Sprint("genuine-", env.seq)
		if err := env.b.m.Send(env.a.id, datagram(env.b.id, env.a.id, want)); err != nil {
			t.Fatal(err)
		}
		env.a.t = t
		env.a.mustRecv(want, 5*time.Second)
	})
}

var intakeOnce sync.Mutex

func newIntakeEnv(f *testing.F) *intakeEnv {
	intakeOnce.Lock()
	defer intakeOnce.Unlock()
	n := newNet(f, netsim.LinkConfig{})
	mustHost(f, n, pubA, pubB, pubX, beaconIP)
	reg := newRegistry()
	env := &intakeEnv{
		stranger: listen(f, n, pubX, 4000),
		bcn:      listen(f, n, beaconIP, beaconEP.Port()),
	}
	env.a = startNode(f, listen(f, n, pubA, 4000), 686, reg, nodeOpts{beacon: true, noDiscov: true})
	env.b = startNode(f, listen(f, n, pubB, 4000), 687, reg, nodeOpts{})
	env.a.answerPings, env.b.answerPings = false, false
	establish(f, env.a, env.b)
	env.b.tap.mu.Lock()
	for _, fr := range env.b.tap.frames {
		env.genuine = append(env.genuine, append([]byte(nil), fr...))
	}
	env.b.tap.mu.Unlock()
	// Drain what the beacon socket receives (discovers, relayed frames).
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<16)
		for {
			if _, _, err := env.bcn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	f.Cleanup(func() { _ = n.Close(); <-done })
	return env
}
