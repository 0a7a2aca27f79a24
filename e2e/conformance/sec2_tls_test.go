package conformance

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tlsLeaf(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, tls.ConnectionState) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.InsecureSkipVerify = true
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0], st
}

// §2 "Generated certificate": "ECDSA P-256 key; self-signed X.509 v3; random
// 128-bit serial; subject `CN=pilot-registry, O=Pilot Protocol`; SANs: DNS
// `localhost`, the machine host name, IP `127.0.0.1`, IP `::1`, plus every
// `-tls-san` value; NotBefore = now − 1 h; NotAfter = now + 3,650 days;
// ExtKeyUsage serverAuth. Key file mode 0600, directory 0700." "Versions:
// TLS 1.2 minimum, 1.3 preferred".
func TestConf_2_GeneratedCertificate(t *testing.T) {
	before := time.Now()
	r := start(t, "-tls", "-tls-san", "reg.example.test,10.1.2.3")
	cert, st := tlsLeaf(t, r.addr, nil)
	if st.Version != tls.VersionTLS13 {
		t.Errorf("negotiated version %x, want TLS 1.3", st.Version)
	}
	pk, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pk.Curve != elliptic.P256() {
		t.Errorf("key is not ECDSA P-256: %T", cert.PublicKey)
	}
	if cert.Version != 3 {
		t.Errorf("X.509 version %d", cert.Version)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil || string(cert.RawIssuer) != string(cert.RawSubject) {
		t.Errorf("not self-signed: %v", err)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 || cert.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %s is not a random 128-bit value", cert.SerialNumber)
	}
	if cert.Subject.CommonName != "pilot-registry" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "Pilot Protocol" {
		t.Errorf("subject %s", cert.Subject)
	}
	host, _ := os.Hostname()
	dns := strings.Join(cert.DNSNames, ",")
	for _, want := range []string{"localhost", host, "reg.example.test"} {
		if want != "" && !strings.Contains(","+dns+",", ","+want+",") {
			t.Errorf("DNS SANs %v lack %q", cert.DNSNames, want)
		}
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, want := range []string{"127.0.0.1", "::1", "10.1.2.3"} {
		if !strings.Contains(","+strings.Join(ips, ",")+",", ","+want+",") {
			t.Errorf("IP SANs %v lack %s", ips, want)
		}
	}
	if d := before.Add(-time.Hour).Sub(cert.NotBefore); d > 2*time.Minute || d < -2*time.Minute {
		t.Errorf("NotBefore %v, want about now − 1 h", cert.NotBefore)
	}
	if d := before.Add(3650 * 24 * time.Hour).Sub(cert.NotAfter); d > 2*time.Minute || d < -2*time.Minute {
		t.Errorf("NotAfter %v, want about now + 3,650 days", cert.NotAfter)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage %v", cert.ExtKeyUsage)
	}
	if st, err := os.Stat(filepath.Join(r.dataDir, "tls")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("tls dir: %v %v", st, err)
	}
	// TLS 1.2 accepted, TLS 1.1 refused.
	_, st = tlsLeaf(t, r.addr, &tls.Config{MaxVersion: tls.VersionTLS12})
	if st.Version != tls.VersionTLS12 {
		t.Errorf("TLS 1.2 not negotiated: %x", st.Version)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", r.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Errorf("TLS 1.1 handshake succeeded")
	}
}

// §2 "Persistence: ... A missing or unreadable key file next to an existing
// cert is a start-up error, never a silent regeneration."
func TestConf_2_MissingKeyIsAnError(t *testing.T) {
	r := start(t, "-tls")
	r.stop()
	certFile := filepath.Join(r.dataDir, "tls", "cert.pem")
	before, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(r.dataDir, "tls", "key.pem"))
	out, code := runFor(t, 15*time.Second, nil, "-tls", "-data-dir", r.dataDir, "-listen", "127.0.0.1:0", "-admin-token", adminTok)
	if code <= 0 {
		t.Errorf("start with a missing key.pem: exit %d\n%s", code, out)
	}
	after, _ := os.ReadFile(certFile)
	if string(after) != string(before) {
		t.Errorf("cert.pem was regenerated")
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "tls", "key.pem")); err == nil {
		t.Errorf("key.pem was regenerated")
	}
}

// §2 "Certificate source: `-tls-cert FILE -tls-key FILE` (PEM)"; fingerprint
// "Lowercase hex SHA-256 of the leaf certificate's DER bytes ... Logged at
// INFO on every start".
func TestConf_2_OperatorCertificate(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "operator-cert"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	r := start(t, "-tls", "-tls-cert", cf, "-tls-key", kf)
	cert, _ := tlsLeaf(t, r.addr, nil)
	if cert.Subject.CommonName != "operator-cert" {
		t.Errorf("served %s, not the operator's certificate", cert.Subject)
	}
	sum := sha256.Sum256(der)
	fp := hex.EncodeToString(sum[:])
	found := false
	for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); {
		found = r.hasLog("INFO", `"msg":"tls fingerprint","sha256":"`+fp+`"`)
		if !found {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !found {
		t.Errorf("fingerprint %s not logged:\n%s", fp, r.logText())
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "tls", "cert.pem")); err == nil {
		t.Errorf("a certificate was generated although -tls-cert was given")
	}
}

// cli.md §1.2 `tls fingerprint`: "the 64 lowercase hex digits, generating the
// pair first if needed"; §2 Persistence: the pair "MUST be reused on every
// later start".
func TestConf_2_FingerprintBeforeFirstStart(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := run(t, "tls", "fingerprint", "-data-dir", dir)
	fp := strings.TrimSpace(out)
	if code != 0 || len(fp) != 64 || strings.ToLower(fp) != fp || out != fp+"\n" {
		t.Fatalf("tls fingerprint on a fresh dir: %d %q %q", code, out, errs)
	}
	if st, err := os.Stat(filepath.Join(dir, "tls", "key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v %v", st, err)
	}
	out2, _, _ := run(t, "tls", "fingerprint", "-data-dir", dir)
	if out2 != out {
		t.Errorf("second tls fingerprint %q != %q", out2, out)
	}
	r := startIn(t, dir, "-tls")
	cert, _ := tlsLeaf(t, r.addr, nil)
	sum := sha256.Sum256(cert.Raw)
	if hex.EncodeToString(sum[:]) != fp {
		t.Errorf("served fingerprint %x, printed %s", sum, fp)
	}
}

// §1.1 TLS row: "complete the TLS handshake, then sniff the decrypted stream
// again with this same table (minus the TLS row)".
func TestConf_1_1_SniffInsideTLS(t *testing.T) {
	r := start(t, "-tls")
	dial := func() *tls.Conn {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", r.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	for _, first := range []string{"PILT\x00\x00\x00\x05hello", "\x16\x03\x01\x00\x05hello", "ABCD"} {
		c := dial()
		io.WriteString(c, first)
		b, _ := io.ReadAll(c)
		if len(b) != 0 {
			t.Errorf("%q inside TLS: got %q", first, b)
		}
		c.Close()
	}
	c := dial()
	io.WriteString(c, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 405 {
		t.Errorf("POST inside TLS: %v %v", resp, err)
	}
	c.Close()
	// a registry frame over TLS needs no -tls-allow-plain
	c = dial()
	c.Write(frame([]byte(`{"type":"beacon_list"}`)))
	cc := &conn{t: t, c: c, r: bufio.NewReader(c)}
	if p := cc.read(); p.typ() != "beacon_list_ok" {
		t.Errorf("frame over TLS: %s", p)
	}
	c.Close()
	// plain GET /readyz is always served (§2.2)
	resp, err = http.Get("http://" + r.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("plain readyz on a TLS registry: %d", resp.StatusCode)
	}
}
