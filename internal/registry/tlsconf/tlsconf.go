// Package tlsconf builds the registry's server TLS configuration
// (registry.md §2): it loads -tls-cert/-tls-key, or generates once and then
// reuses a self-signed pair in <data-dir>/tls/, and computes the certificate
// fingerprint that clients pin.
//
// Generated certificate: ECDSA P-256 key, self-signed X.509 v3, random
// 128-bit serial, subject CN=pilot-registry, O=Pilot Protocol, SANs DNS
// localhost, the host name, IP 127.0.0.1, IP ::1 and every extra SAN,
// NotBefore now−1h, NotAfter now+3650d, ExtKeyUsage serverAuth.
//
//	<data-dir>/tls/          0700
//	<data-dir>/tls/key.pem   0600  PKCS#8 "PRIVATE KEY"
//	<data-dir>/tls/cert.pem  0644  "CERTIFICATE"
//
// The pair is reused at every start so the fingerprint (lowercase hex
// SHA-256 of the leaf DER) is stable. A cert.pem whose key.pem is missing or
// unreadable is an error, never a silent regeneration.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside the TLS directory.
const (
	CertName = "cert.pem"
	KeyName  = "key.pem"
)

// Validity of a generated certificate.
const (
	backdate = time.Hour
	validity = 3650 * 24 * time.Hour
)

// Config says where the pair comes from.
type Config struct {
	// CertFile and KeyFile are -tls-cert and -tls-key; both or neither.
	CertFile, KeyFile string
	// Dir is <data-dir>/tls, used when CertFile and KeyFile are empty.
	Dir string
	// SANs are the extra -tls-san values (DNS names or IP literals).
	SANs []string
	// Now is the clock for generation; nil means time.Now.
	Now func() time.Time
	// Hostname returns the machine host name; nil means os.Hostname.
	Hostname func() (string, error)
}

// Result is a loaded pair.
type Result struct {
	// Config is the server TLS config: the certificate, TLS 1.2 minimum,
	// library-default cipher suites.
	Config *tls.Config
	// Fingerprint is the lowercase hex SHA-256 of the leaf DER.
	Fingerprint string
	// Generated reports whether the pair was created by this call.
	Generated bool
	// CertFile and KeyFile are the paths used.
	CertFile, KeyFile string
}

// Fingerprint returns the lowercase hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Load returns the TLS pair, generating it in cfg.Dir when needed.
func Load(cfg Config) (*Result, error) {
	res := &Result{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
	switch {
	case cfg.CertFile != "" && cfg.KeyFile != "":
	case cfg.CertFile != "" || cfg.KeyFile != "":
		return nil, errors.New("tls: -tls-cert and -tls-key must be given together")
	default:
		if cfg.Dir == "" {
			return nil, errors.New("tls: no certificate directory")
		}
		res.CertFile = filepath.Join(cfg.Dir, CertName)
		res.KeyFile = filepath.Join(cfg.Dir, KeyName)
		_, certErr := os.Stat(res.CertFile)
		switch {
		case certErr == nil:
			if _, err := os.Stat(res.KeyFile); err != nil {
				return nil, fmt.Errorf("tls: %s exists but its key %s is missing or unreadable (%v); restore the key or remove both files to generate a new pair (clients that pinned the old fingerprint must be updated)", res.CertFile, res.KeyFile, err)
			}
		case errors.Is(certErr, fs.ErrNotExist):
			if err := generate(cfg, res.CertFile, res.KeyFile); err != nil {
				return nil, err
			}
			res.Generated = true
		default:
			return nil, fmt.Errorf("tls: %w", certErr)
		}
	}
	pair, err := tls.LoadX509KeyPair(res.CertFile, res.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", res.CertFile, res.KeyFile, err)
	}
	res.Fingerprint = Fingerprint(pair.Certificate[0])
	res.Config = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return res, nil
}

// generate creates a new pair. key.pem is written before cert.pem, so an
// interrupted generation leaves no cert.pem and is simply redone.
func generate(cfg Config, certPath, keyPath string) error {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	hostname := os.Hostname
	if cfg.Hostname != nil {
		hostname = cfg.Hostname
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("tls: serial: %w", err)
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "pilot-registry", Organization: []string{"Pilot Protocol"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := hostname(); err == nil && h != "" && h != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	for _, s := range cfg.SANs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: marshal key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Chmod(filepath.Dir(certPath), 0o700); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("tls: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tls: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tls: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}
