//go:build !linux

package tunnel

// Segmentation offload is a Linux feature; other systems use one system
// call per datagram.

var (
	gsoOOBSize = 0
	groOOBSize = 0
)

func enableGRO(msgConn) bool { return false }

func probeGSO(msgConn) bool { return false }

func gsoControl(b []byte, _ int) []byte { return b }

func groSegmentSize([]byte) int { return 0 }

func isOffloadErr(error) bool     { return false }
func socketOffloadErr(error) bool { return false }
