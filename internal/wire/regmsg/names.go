package regmsg

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Name rules and limits of registry.md §8. The validators are exported so
// that the server applies the same rules where the shape check cannot (the
// hostname of register, §6.4 step 1) and a client can check input early.

// Limits of §8.2 that the shape check enforces.
const (
	MaxTags            = 10
	MaxTagLen          = 32
	MaxHostnameLen     = 63
	MaxOwnerLen        = 254
	MaxVersionLen      = 64
	MaxListenAddrLen   = 262
	MaxLANAddrs        = 16
	MaxCapabilities    = 32
	MaxCapabilityLen   = 32
	MaxJustification   = 1024 // bytes
	MaxDescription     = 256  // code points
	MaxJoinToken       = 256
	MinNetworkAdminTok = 16
	MaxNetworkAdminTok = 256
	MaxMembersLimit    = 1000000
	MaxAllowedPorts    = 256
	MaxPoloScore       = 1000000
	// MaxKeyExpiry is the furthest a key expiry may lie ahead (§7.1.8); the
	// server checks it against its clock.
	MaxKeyExpiry = 3650 * 24 * time.Hour
)

// Reserved names (§8.1).
var (
	ReservedHostnames    = []string{"localhost", "backbone", "broadcast"}
	ReservedNetworkNames = []string{"backbone"}
)

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// labelOK checks ^[a-z0-9]([a-z0-9-]{0,max-2}[a-z0-9])?$.
func labelOK(s string, max int) bool {
	if len(s) < 1 || len(s) > max || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func reserved(s string, list []string) bool {
	for _, r := range list {
		if s == r {
			return true
		}
	}
	return false
}

// ValidateHostname checks a non-empty hostname against §8.1 (regex and
// reserved names). field names the field in the message.
func ValidateHostname(field, s string) *Error {
	if !labelOK(s, MaxHostnameLen) {
		return invalidf("%s %s is invalid: use 1-63 characters a-z, 0-9 and '-', not starting or ending with '-'", field, quoteTrunc(s))
	}
	if reserved(s, ReservedHostnames) {
		return invalidf("%s %q is reserved; choose another name", field, s)
	}
	return nil
}

// ValidateNetworkName checks a network name against §8.1.
func ValidateNetworkName(field, s string) *Error {
	if !labelOK(s, MaxHostnameLen) {
		return invalidf("%s %s is invalid: use 1-63 characters a-z, 0-9 and '-', not starting or ending with '-'", field, quoteTrunc(s))
	}
	if reserved(s, ReservedNetworkNames) {
		return invalidf("%s %q is reserved; choose another name", field, s)
	}
	return nil
}

// ValidateTag checks one tag as sent: one leading '#' is stripped, the rest
// must match the tag rule of §8.1.
func ValidateTag(field, s string) *Error {
	if !labelOK(strings.TrimPrefix(s, "#"), MaxTagLen) {
		return invalidf("%s %s is invalid: use 1-32 characters a-z, 0-9 and '-' (one leading '#' allowed), not starting or ending with '-'", field, quoteTrunc(s))
	}
	return nil
}

// NormalizeTags applies the set_tags rules of §7.2: one leading '#' stripped
// per tag, duplicates removed keeping the first occurrence. The result is
// never nil. The tags must have passed ValidateTag.
func NormalizeTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	seen := make(map[string]struct{}, len(tags))
	for _, t := range tags {
		t = strings.TrimPrefix(t, "#")
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	return out
}

// ValidateCapability checks ^[a-z0-9][a-z0-9.-]{0,31}$ (§7.1.1).
func ValidateCapability(field, s string) *Error {
	ok := len(s) >= 1 && len(s) <= MaxCapabilityLen && isLowerAlnum(s[0])
	for i := 1; ok && i < len(s); i++ {
		ok = isLowerAlnum(s[i]) || s[i] == '.' || s[i] == '-'
	}
	if !ok {
		return invalidf("%s %s is invalid: use 1-32 characters a-z, 0-9, '.' and '-', starting with a letter or digit", field, quoteTrunc(s))
	}
	return nil
}

// ValidateLANAddr checks `a.b.c.d:port` or `[v6]:port` with port 1..65535.
func ValidateLANAddr(field, s string) *Error {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" || ap.Addr().Is4In6() {
		return invalidf("%s %s must be a.b.c.d:port or [v6]:port with port 1..65535", field, quoteTrunc(s))
	}
	return nil
}

// ValidateHostPort checks a `host:port` string: a non-empty host (IPv6 in
// brackets) and a decimal port 1..65535.
func ValidateHostPort(field, s string) *Error {
	bad := invalidf("%s %s must be host:port with port 1..65535", field, quoteTrunc(s))
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return bad
	}
	host, port := s[:i], s[i+1:]
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return bad
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return bad
	}
	if strings.ContainsAny(host, " ") {
		return bad
	}
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
		return bad
	}
	if !strings.HasPrefix(host, "[") && strings.Contains(host, ":") {
		return bad
	}
	return nil
}

// ValidateVersion checks ≤ 64 printable ASCII bytes (§7.1.1).
func ValidateVersion(field, s string) *Error {
	if len(s) > MaxVersionLen {
		return invalidf("%s must be at most %d bytes, got %d", field, MaxVersionLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return invalidf("%s must be printable ASCII", field)
		}
	}
	return nil
}

// ValidatePublicKey checks b64 (standard alphabet, padded) of 32 bytes.
func ValidatePublicKey(field, s string) *Error {
	if _, err := DecodePublicKey(s); err != nil {
		return invalidf("%s must be the base64 of a 32-byte Ed25519 public key", field)
	}
	return nil
}

// DecodePublicKey decodes a b64 Ed25519 public key.
func DecodePublicKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, invalidf("public key is %d bytes, want 32", len(b))
	}
	return b, nil
}

// ExpiryNever is the expires_at value that clears an expiry, as does "".
const ExpiryNever = "never"

// ParseExpiry parses an expires_at value of set_key_expiry or rotate_key
// (§7.1.8): "" or "never" clear the expiry (clear = true); anything else
// must be RFC 3339. Whether the time lies in the future and at most
// MaxKeyExpiry ahead needs the clock and is the server's check.
func ParseExpiry(s string) (t time.Time, clear bool, err error) {
	if s == "" || s == ExpiryNever {
		return time.Time{}, true, nil
	}
	t, perr := time.Parse(time.RFC3339, s)
	if perr != nil {
		return time.Time{}, false, invalidf("expires_at %s must be an RFC 3339 time (2026-05-01T00:00:00Z), \"\" or \"never\"", quoteTrunc(s))
	}
	return t.UTC(), false, nil
}

func validateExpiry(field, s string) *Error {
	if _, _, err := ParseExpiry(s); err != nil {
		return invalidf("%s %s must be an RFC 3339 time (2026-05-01T00:00:00Z), \"\" or \"never\"", field, quoteTrunc(s))
	}
	return nil
}
