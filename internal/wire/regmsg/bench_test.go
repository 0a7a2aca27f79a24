package regmsg

import (
	"testing"

	"github.com/pilot-go/pilot/addr"
)

func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(sampleRequests()[0])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalV2(b *testing.B) {
	req, err := DecodeRequest([]byte(sampleRequests()[0]))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = AppendCanonicalV2(buf[:0], req)
	}
}

func BenchmarkMarshalReply(b *testing.B) {
	r := &LookupOK{NodeID: 685, PublicKey: keyB, Networks: Array[addr.NetworkID]{0, 3}}
	for b.Loop() {
		if _, err := MarshalReply(r); err != nil {
			b.Fatal(err)
		}
	}
}
