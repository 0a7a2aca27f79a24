package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixed() time.Time { return time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC) }

// §14 item 10 (library side): two loads of the generated pair give the same
// fingerprint, and the generated certificate follows §2.
func TestRegistry_10_GeneratedPairIsReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	cfg := Config{Dir: dir, SANs: []string{"reg.example.net", "192.0.2.10", " "}, Now: fixed,
		Hostname: func() (string, error) { return "box1", nil }}
	a, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Generated || len(a.Fingerprint) != 64 || strings.ToLower(a.Fingerprint) != a.Fingerprint {
		t.Fatalf("first load %+v", a)
	}
	b, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Generated || b.Fingerprint != a.Fingerprint {
		t.Fatalf("second load generated=%v fp %s != %s", b.Generated, b.Fingerprint, a.Fingerprint)
	}
	leaf, err := x509.ParseCertificate(b.Config.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(leaf.Raw) != a.Fingerprint {
		t.Fatal("fingerprint is not SHA-256 of the leaf DER")
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T", leaf.PublicKey)
	}
	if leaf.Subject.CommonName != "pilot-registry" || leaf.Subject.Organization[0] != "Pilot Protocol" {
		t.Fatalf("subject %v", leaf.Subject)
	}
	if !leaf.NotBefore.Equal(fixed().Add(-time.Hour)) || !leaf.NotAfter.Equal(fixed().Add(3650*24*time.Hour)) {
		t.Fatalf("validity %v..%v", leaf.NotBefore, leaf.NotAfter)
	}
	if got := strings.Join(leaf.DNSNames, ","); got != "localhost,box1,reg.example.net" {
		t.Fatalf("DNS SANs %s", got)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got := strings.Join(ips, ","); got != "127.0.0.1,::1,192.0.2.10" {
		t.Fatalf("IP SANs %s", got)
	}
	if leaf.SerialNumber.BitLen() > 128 || leaf.SerialNumber.Sign() <= 0 {
		t.Fatalf("serial %v", leaf.SerialNumber)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("EKU %v", leaf.ExtKeyUsage)
	}
	if b.Config.MinVersion != tls.VersionTLS12 {
		t.Fatal("min version")
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, KeyName): 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %v", path, err, st.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("leftover files: %v", entries)
	}
}

func TestMissingKeyIsAnError(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, KeyName)); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "key.pem is missing") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyName)); err == nil {
		t.Fatal("key silently regenerated")
	}
}

func TestExplicitFiles(t *testing.T) {
	dir := t.TempDir()
	gen, err := Load(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Load(Config{CertFile: gen.CertFile, KeyFile: gen.KeyFile})
	if err != nil || r.Fingerprint != gen.Fingerprint || r.Generated {
		t.Fatalf("explicit load: %v %+v", err, r)
	}
	if _, err := Load(Config{CertFile: gen.CertFile}); err == nil {
		t.Fatal("cert without key accepted")
	}
	if _, err := Load(Config{CertFile: filepath.Join(dir, "nope"), KeyFile: gen.KeyFile}); err == nil {
		t.Fatal("missing explicit cert accepted")
	}
}

func TestHandshakeWithPin(t *testing.T) {
	r, err := Load(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	var seen string
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			seen = Fingerprint(raw[0])
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if seen != r.Fingerprint {
		t.Fatalf("presented %s, want %s", seen, r.Fingerprint)
	}
}
