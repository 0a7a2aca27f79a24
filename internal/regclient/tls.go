package regclient

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint is the SHA-256 of a certificate's DER bytes (registry.md §2).
type Fingerprint [sha256.Size]byte

// String returns the lowercase hex form the registry logs.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

var (
	// ErrBadFingerprint reports a pin that is not 64 hex digits.
	ErrBadFingerprint = errors.New("registry fingerprint must be 64 hex digits (SHA-256), optionally separated by ':'")
	// ErrFingerprintMismatch reports a registry certificate that does not
	// match the pin. It is not retried.
	ErrFingerprintMismatch = errors.New("registry certificate does not match the pinned fingerprint")
)

// ParseFingerprint parses a pin (§2.1): 64 hex digits in any case, with
// optional ':' separators between byte pairs ("AB:CD:…"), or the lowercase
// hex the registry prints.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	hexs := s
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) != sha256.Size {
			return f, fmt.Errorf("%w: got %q", ErrBadFingerprint, s)
		}
		for _, p := range parts {
			if len(p) != 2 {
				return f, fmt.Errorf("%w: got %q", ErrBadFingerprint, s)
			}
		}
		hexs = strings.Join(parts, "")
	}
	if len(hexs) != 2*sha256.Size {
		return f, fmt.Errorf("%w: got %d characters", ErrBadFingerprint, len(s))
	}
	if _, err := hex.Decode(f[:], []byte(hexs)); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadFingerprint, err)
	}
	return f, nil
}

// CertFingerprint returns the fingerprint of a DER certificate.
func CertFingerprint(der []byte) Fingerprint { return sha256.Sum256(der) }

// clientTLS builds the client's TLS configuration (§2.1, §2): TLS 1.2 at
// least; with a pin, only SHA-256(leaf DER) is checked; without one, the
// chain and host name are verified against roots (nil = system roots).
func clientTLS(host, pin string, roots *x509.CertPool) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots}
	if pin == "" {
		return conf, nil
	}
	want, err := ParseFingerprint(pin)
	if err != nil {
		return nil, fmt.Errorf("regclient: -registry-fingerprint: %w", err)
	}
	// Chain, host name and dates are deliberately not checked with a pin
	// (§2.1): the pin alone authenticates the registry, as in the original.
	conf.InsecureSkipVerify = true
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: the registry sent no certificate", ErrFingerprintMismatch)
		}
		got := CertFingerprint(cs.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return fmt.Errorf("%w: registry presents sha256=%s, pinned %s", ErrFingerprintMismatch, got, want)
		}
		return nil
	}
	return conf, nil
}
