package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ErrInvalidURL is matched (errors.Is) by every error of ValidateURL; the
// IPC layer maps it to invalid_argument and the daemon flag check to exit 2.
var ErrInvalidURL = errors.New("webhook: invalid URL")

// urlError carries one of the exact texts of ipc.md §5.16 while matching
// ErrInvalidURL.
type urlError struct{ msg string }

func (e *urlError) Error() string        { return e.msg }
func (e *urlError) Is(target error) bool { return target == ErrInvalidURL }

// metadataHosts are the cloud metadata host names refused by name
// (services.md §8.1); 169.254.169.254 is refused as a link-local address.
var metadataHosts = map[string]bool{
	"metadata.google.internal": true,
	"metadata.google.com":      true,
}

// ValidateURL checks a webhook URL as ipc.md §5.16 and services.md §8.1
// require, returning the original's error texts:
//
//   - unparseable: invalid webhook URL: <detail>
//   - scheme other than http/https: webhook URL must use http or https scheme, got "<s>"
//   - a link-local IP host (169.254.0.0/16, fe80::/10, link-local multicast):
//     webhook URL cannot target link-local address <h>
//   - metadata.google.internal or metadata.google.com:
//     webhook URL cannot target cloud metadata endpoint <h>
//
// A URL without a host is refused as "invalid webhook URL: missing host".
// The empty string is valid: it disables webhooks.
func ValidateURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return &urlError{"invalid webhook URL: " + err.Error()}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &urlError{fmt.Sprintf("webhook URL must use http or https scheme, got %q", u.Scheme)}
	}
	host := u.Hostname()
	if host == "" {
		return &urlError{"invalid webhook URL: missing host"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.WithZone("").Unmap()
		if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
			return &urlError{"webhook URL cannot target link-local address " + host}
		}
	}
	if metadataHosts[strings.TrimSuffix(strings.ToLower(host), ".")] {
		return &urlError{"webhook URL cannot target cloud metadata endpoint " + host}
	}
	return nil
}
