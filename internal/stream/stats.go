package stream

// Stats are the per-connection figures of the IPC conn_list entry
// (ipc.md §6). Byte and segment counters count payload bytes delivered or
// first sent (retransmissions are in Retransmits) and packets of any kind.
type Stats struct {
	State       string `json:"state"`
	CongWin     int    `json:"cong_win"`
	SSThresh    int    `json:"ssthresh"`
	InFlight    int    `json:"in_flight"`
	SRTTms      int    `json:"srtt_ms"`
	RTTVarms    int    `json:"rttvar_ms"`
	Unacked     int    `json:"unacked"`
	OOOBuf      int    `json:"ooo_buf"`
	PeerRecvWin int    `json:"peer_recv_win"`
	RecvWin     int    `json:"recv_win"`
	InRecovery  bool   `json:"in_recovery"`
	BytesSent   int64  `json:"bytes_sent"`
	BytesRecv   int64  `json:"bytes_recv"`
	SegsSent    int64  `json:"segs_sent"`
	SegsRecv    int64  `json:"segs_recv"`
	Retransmits int64  `json:"retransmits"`
	FastRetx    int64  `json:"fast_retx"`
	SackRecv    int64  `json:"sack_recv"`
	SackSent    int64  `json:"sack_sent"`
	DupAcks     int64  `json:"dup_acks"`
	// RTOs counts retransmission timeouts (not an IPC field).
	RTOs int64 `json:"-"`
}

// Stats returns a snapshot of the connection's figures.
func (c *Conn) Stats() Stats {
	st := c.stats
	s := &c.snd
	st.State = c.state.String()
	st.CongWin = s.cwnd
	st.SSThresh = s.ssthresh
	if st.SSThresh >= maxCwnd {
		st.SSThresh = 0
	}
	st.InFlight = s.pipe
	if s.rtt.has {
		st.SRTTms = int(s.rtt.srtt.Milliseconds())
		st.RTTVarms = int(s.rtt.rttvar.Milliseconds())
	}
	st.Unacked = s.inFlightSegs()
	st.OOOBuf = len(c.rcv.ooo)
	st.PeerRecvWin = s.peerWndBytes()
	st.RecvWin = max(0, c.rcv.capLimit-c.rcv.used())
	st.InRecovery = s.inRecovery
	return st
}
