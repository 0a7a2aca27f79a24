package netsim

// DropReason says why the simulator discarded a datagram.
type DropReason uint8

// Drop reasons, indexes into Stats.Dropped.
const (
	DropLoss       DropReason = iota // random loss (LinkConfig.Loss)
	DropDown                         // path cut with Network.Cut
	DropQueue                        // bandwidth queue full (LinkConfig.QueueBytes)
	DropRecvQueue                    // receiving Conn's queue full (Config.RecvQueue)
	DropNoRoute                      // destination address not reachable from the sender
	DropNoListener                   // no Conn bound on the destination port
	DropNoMapping                    // NAT has no live mapping for the destination port
	DropFiltered                     // NAT mapping exists but its filter refuses the source
	DropHairpin                      // sent to the own NAT's public address, hairpinning off
	DropNATPorts                     // NAT ran out of public ports
	NumDropReasons                   // number of reasons (array length)
)

var dropNames = [NumDropReasons]string{
	DropLoss:       "loss",
	DropDown:       "down",
	DropQueue:      "queue",
	DropRecvQueue:  "recv_queue",
	DropNoRoute:    "no_route",
	DropNoListener: "no_listener",
	DropNoMapping:  "no_mapping",
	DropFiltered:   "filtered",
	DropHairpin:    "hairpin",
	DropNATPorts:   "nat_ports",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Stats counts datagrams. Every datagram written is counted once in Sent; it
// then ends up delivered, dropped for one reason, or (at Network.Close) still
// in flight. A duplicated datagram adds one to Duplicated and its copy is
// delivered or dropped like any other, so after the network is idle
// Sent + Duplicated = Delivered + TotalDropped().
type Stats struct {
	Sent       uint64                 // datagrams written
	Delivered  uint64                 // datagrams placed in a receive queue
	Duplicated uint64                 // extra copies created by LinkConfig.Duplicate
	Reordered  uint64                 // datagrams held back by LinkConfig.Reorder
	Dropped    [NumDropReasons]uint64 // drops by reason
}

// TotalDropped is the sum of Dropped.
func (s Stats) TotalDropped() uint64 {
	var t uint64
	for _, v := range s.Dropped {
		t += v
	}
	return t
}

// ConnStats counts the datagrams of one Conn.
type ConnStats struct {
	Sent     uint64 // datagrams written
	Received uint64 // datagrams placed in this Conn's receive queue
	Dropped  uint64 // datagrams dropped because this Conn's queue was full
}
