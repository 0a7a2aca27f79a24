package regmsg

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/pilot-go/pilot/addr"
)

// Auth v2 canonical strings (registry.md §5.1) and legacy v1 challenges
// (§5.5). The signed bytes are
//
//	pilot-reg-v2 LF <type> LF <signer> LF <ts> LF <nonce> [LF <p1> … LF <pn>]
//
// with no trailing LF; the parameter lines come from Request.SignedParams.

// CanonicalPrefix is the first line of every canonical string.
const CanonicalPrefix = "pilot-reg-v2"

// Sizes of the decoded auth fields (§5).
const (
	NonceLen     = 16
	SignatureLen = 64
)

// CanonicalV2 returns the exact bytes a v2 signature covers for req: its
// type, Signer(), ts (0 when absent), nonce as sent ("" when absent) and
// SignedParams(). A client fills TS and Nonce, signs CanonicalV2 and then
// sets Signature.
func CanonicalV2(req Request) []byte { return AppendCanonicalV2(nil, req) }

// AppendCanonicalV2 appends CanonicalV2(req) to dst.
func AppendCanonicalV2(dst []byte, req Request) []byte {
	a := req.AuthFields()
	dst = append(dst, CanonicalPrefix...)
	dst = append(dst, '\n')
	dst = append(dst, req.Type()...)
	dst = append(dst, '\n')
	dst = strconv.AppendUint(dst, uint64(req.Signer()), 10)
	dst = append(dst, '\n')
	var ts int64
	if a.TS != nil {
		ts = *a.TS
	}
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, '\n')
	if a.Nonce != nil {
		dst = append(dst, *a.Nonce...)
	}
	for _, p := range req.SignedParams() {
		dst = append(dst, '\n')
		dst = append(dst, p...)
	}
	return dst
}

// AuthKind classifies a request by its auth fields (§5.5).
type AuthKind uint8

// The auth kinds of §5.5.
const (
	// AuthUnsigned: no signature (token-only or anonymous).
	AuthUnsigned AuthKind = iota
	// AuthV1: signature without ts and nonce (legacy challenge).
	AuthV1
	// AuthV2: signature plus ts or nonce.
	AuthV2
)

func (k AuthKind) String() string {
	switch k {
	case AuthV1:
		return "v1"
	case AuthV2:
		return "v2"
	}
	return "unsigned"
}

// AuthVersion classifies req: v2 when it carries signature and ts or nonce,
// v1 when it carries signature only, unsigned otherwise.
func AuthVersion(req Request) AuthKind {
	a := req.AuthFields()
	switch {
	case a.Signature == nil:
		return AuthUnsigned
	case a.TS != nil || a.Nonce != nil:
		return AuthV2
	}
	return AuthV1
}

var (
	// ErrMalformedNonce: the nonce is not b64 of 16 bytes (§5.2 step 1).
	ErrMalformedNonce = errors.New("nonce must be the base64 of 16 bytes")
	// ErrMalformedSignature: not b64 of 64 bytes (§5.2 step 1).
	ErrMalformedSignature = errors.New("signature must be the base64 of a 64-byte Ed25519 signature")
)

// DecodeNonce decodes a nonce for §5.2 step 1.
func DecodeNonce(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != NonceLen {
		return nil, ErrMalformedNonce
	}
	return b, nil
}

// DecodeSignature decodes a signature (or new_key_signature) for §5.2
// step 1.
func DecodeSignature(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != SignatureLen {
		return nil, ErrMalformedSignature
	}
	return b, nil
}

// V1Challenge returns the legacy v1 challenge of §5.5 for req, and false
// for the messages that have none.
func V1Challenge(req Request) (string, bool) {
	u := func(v addr.NodeID) string { return strconv.FormatUint(uint64(v), 10) }
	n := func(v addr.NetworkID) string { return strconv.FormatUint(uint64(v), 10) }
	switch r := req.(type) {
	case *Heartbeat, *Deregister, *SetVisibility, *SetHostname, *SetTags,
		*SetTaskExec, *SetKeyExpiry, *PollHandshakes, *PollInvites:
		return req.Type() + ":" + u(req.Signer()), true
	case *RotateKey:
		return "rotate:" + u(r.NodeID), true
	case *Resolve:
		return "resolve:" + u(r.RequesterID) + ":" + u(r.NodeID), true
	case *Punch:
		return "punch:" + u(r.NodeA) + ":" + u(r.NodeB), true
	case *ReportTrust:
		return "report_trust:" + u(r.NodeID) + ":" + u(r.PeerID), true
	case *RevokeTrust:
		return "revoke_trust:" + u(r.NodeID) + ":" + u(r.PeerID), true
	case *RequestHandshake:
		return "handshake:" + u(r.FromNodeID) + ":" + u(r.ToNodeID), true
	case *RespondHandshake:
		return "respond:" + u(r.NodeID) + ":" + u(r.PeerID), true
	case *JoinNetwork:
		return "join_network:" + u(r.NodeID) + ":" + n(r.NetworkID), true
	case *LeaveNetwork:
		return "leave_network:" + u(r.NodeID) + ":" + n(r.NetworkID), true
	case *InviteToNetwork:
		return "invite:" + u(r.InviterID) + ":" + n(r.NetworkID) + ":" + u(r.TargetNodeID), true
	case *RespondInvite:
		return "respond_invite:" + u(r.NodeID) + ":" + n(r.NetworkID), true
	}
	return "", false
}

// Parameter encodings of §5.1.

func pInt[T ~uint16 | ~uint32 | ~int | ~int64](v T) string {
	return strconv.FormatInt(int64(v), 10)
}

func pBool(v bool) string { return strconv.FormatBool(v) }

func pList(v []string) string { return strings.Join(v, ",") }

func pPorts(v []addr.Port) string {
	b := make([]byte, 0, len(v)*6)
	for i, p := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(p), 10)
	}
	return string(b)
}

// pHash encodes a free-text or secret field: lowercase hex SHA-256, or ""
// when empty or absent.
func pHash(v string) string {
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func pStrPtr(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}
