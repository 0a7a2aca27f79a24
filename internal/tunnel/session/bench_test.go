package session

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/pilot-go/pilot/internal/wire/frame"
)

var benchSizes = []int{1024, 4096, 16384}

func benchSealOpen(b *testing.B, n int) {
	fx := loadFixture(b)
	a := fx.stateA(b, [4]byte{1, 2, 3, 4})
	r := fx.stateB(b, [4]byte{5, 6, 7, 8})
	pkt := make([]byte, n)
	sealed := make([]byte, 0, n+frame.PILSOverhead+frame.PacketHeaderSize)
	plain := make([]byte, 0, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		s, err := a.Seal(sealed[:0], pkt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Open(plain[:0], s); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRawAESGCM(b *testing.B, n int) {
	fx := loadFixture(b)
	key, _ := DeriveKey(fx.aPriv, fx.bPub)
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	aad := []byte{0, 0, 2, 0xAE}
	pkt := make([]byte, n)
	sealed := make([]byte, 0, n+16)
	plain := make([]byte, 0, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		s := gcm.Seal(sealed[:0], nonce, pkt, aad)
		if _, err := gcm.Open(plain[:0], nonce, s, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOpen4K is a PILS seal plus open of a 4 KiB packet (the default
// stream segment); compare with BenchmarkRawAESGCM4K.
func BenchmarkSealOpen4K(b *testing.B)   { benchSealOpen(b, 4096) }
func BenchmarkRawAESGCM4K(b *testing.B)  { benchRawAESGCM(b, 4096) }
func BenchmarkSealOpen1K(b *testing.B)   { benchSealOpen(b, 1024) }
func BenchmarkRawAESGCM1K(b *testing.B)  { benchRawAESGCM(b, 1024) }
func BenchmarkSealOpen16K(b *testing.B)  { benchSealOpen(b, 16384) }
func BenchmarkRawAESGCM16K(b *testing.B) { benchRawAESGCM(b, 16384) }

// BenchmarkOpenReplay measures the cost of rejecting a replay (no decryption).
func BenchmarkOpenReplay(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			fx := loadFixture(b)
			a := fx.stateA(b, [4]byte{1, 2, 3, 4})
			r := fx.stateB(b, [4]byte{5, 6, 7, 8})
			s, _ := a.Seal(nil, make([]byte, n))
			if _, err := r.Open(nil, s); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Open(nil, s); err == nil {
					b.Fatal("replay accepted")
				}
			}
		})
	}
}
