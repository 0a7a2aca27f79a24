package regclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// selfSigned returns a server certificate for 127.0.0.1 like the
// registry's generated one (§2).
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pilot-registry", Organization: []string{"Pilot Protocol"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// colonUpper writes a fingerprint as AB:CD:… (the pin form with
// separators).
func colonUpper(f Fingerprint) string {
	h := strings.ToUpper(f.String())
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// TestTLSPin (§2.1): a matching pin is accepted in any spelling, chain and
// host are then not checked; a wrong pin is refused without a retry;
// without a pin the chain is verified.
func TestTLSPin(t *testing.T) {
	cert := selfSigned(t)
	fp := CertFingerprint(cert.Certificate[0])
	f := newFake(t, &tls.Config{Certificates: []tls.Certificate{cert}}, nil)
	var dials atomic.Int32
	counting := func(cfg *Config) {
		cfg.TLS = true
		cfg.Dialer = func(ctx2 context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx2, network, address)
		}
	}

	for _, pin := range []string{fp.String(), strings.ToUpper(fp.String()), colonUpper(fp)} {
		c, _ := newTestClient(t, f, func(cfg *Config) { counting(cfg); cfg.Fingerprint = pin })
		if _, err := c.Heartbeat(ctxT(t)); err != nil {
			t.Fatalf("pin %s: %v", pin, err)
		}
	}

	wrong := fp
	wrong[0] ^= 1
	dials.Store(0)
	c, sl := newTestClient(t, f, func(cfg *Config) { counting(cfg); cfg.Fingerprint = wrong.String() })
	_, err := c.Heartbeat(ctxT(t))
	if !errors.Is(err, ErrFingerprintMismatch) || !errors.Is(err, ErrTransport) {
		t.Fatalf("wrong pin: %v", err)
	}
	if dials.Load() != 1 || len(sl.take()) != 0 {
		t.Fatalf("wrong pin retried: %d dials", dials.Load())
	}

	// No pin: verified against the given roots and the host name.
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	c, _ = newTestClient(t, f, func(cfg *Config) { cfg.TLS = true; cfg.RootCAs = roots })
	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatalf("verified chain: %v", err)
	}
	// No pin and roots that do not hold the certificate: refused.
	dials.Store(0)
	c, _ = newTestClient(t, f, func(cfg *Config) { counting(cfg); cfg.RootCAs = x509.NewCertPool() })
	_, err = c.Heartbeat(ctxT(t))
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || dials.Load() != 1 {
		t.Fatalf("unverifiable chain: %v (%d dials)", err, dials.Load())
	}
}

// TestConfigErrors: New refuses what cannot work, with a clear error.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "nohost"}, "host:port"},
		{Config{Addr: "r:9000", Fingerprint: strings.Repeat("a", 64)}, "needs TLS"},
		{Config{Addr: "r:9000", TLS: true, Fingerprint: "abc"}, "64 hex digits"},
		{Config{Addr: "r:9000", AuthMode: 7}, "auth mode"},
		{Config{Addr: "r:9000", Timeout: -time.Second}, "timeout"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	const lower = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	ok := []string{
		lower,
		strings.ToUpper(lower),
		"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
	}
	for _, s := range ok {
		f, err := ParseFingerprint(s)
		if err != nil || f.String() != lower {
			t.Errorf("ParseFingerprint(%q) = %s, %v", s, f, err)
		}
	}
	bad := []string{
		"", lower[:62], lower + "00", "zz" + lower[2:], " " + lower[1:],
		"0011:2233" + lower[8:], // colons not between pairs
		"00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33", // too short
		lower[:2] + ":" + lower[2:],
		"sha256:" + lower,
	}
	for _, s := range bad {
		if _, err := ParseFingerprint(s); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("ParseFingerprint(%q) err = %v, want ErrBadFingerprint", s, err)
		}
	}
}
