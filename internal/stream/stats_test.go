package stream

import (
	"encoding/json"
	"testing"
	"time"
)

// Stats carries every stream key of the IPC conn_list entry (ipc.md §6)
// and the state names of wire.md §9.1.
func TestStatsKeys(t *testing.T) {
	p := newPair(t, 1, lan(0.02), lan(0.02), testConfig(1), testConfig(2))
	data := testData(1<<20, 1)
	got, _ := p.transfer(data, time.Minute)
	checkStream(t, got, data)
	b, err := json.Marshal(p.a.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"state", "cong_win", "ssthresh", "in_flight", "srtt_ms", "rttvar_ms", "unacked",
		"ooo_buf", "peer_recv_win", "recv_win", "in_recovery", "bytes_sent", "bytes_recv", "segs_sent",
		"segs_recv", "retransmits", "fast_retx", "sack_recv", "sack_sent", "dup_acks"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing key %q in %s", k, b)
		}
	}
	if len(m) != 20 {
		t.Errorf("unexpected keys in %s", b)
	}
	if st := p.a.Stats(); st.BytesSent != int64(len(data)) || st.Retransmits == 0 || st.SackRecv == 0 || st.State != "CLOSED" {
		t.Errorf("sender stats %+v", st)
	}
	if st := p.b.Stats(); st.BytesRecv != int64(len(data)) || st.SackSent == 0 {
		t.Errorf("receiver stats %+v", st)
	}
	names := map[State]string{StateClosed: "CLOSED", StateSynSent: "SYN_SENT", StateSynRecv: "SYN_RECV",
		StateEstablished: "ESTABLISHED", StateFinWait: "FIN_WAIT", StateTimeWait: "TIME_WAIT"}
	for s, n := range names {
		if s.String() != n {
			t.Errorf("%d = %q, want %q", s, s.String(), n)
		}
	}
}
