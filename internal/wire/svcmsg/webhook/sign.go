package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// Standard Webhooks header names (§8.5).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a base64 secret in the Standard Webhooks format.
const secretPrefix = "whsec_"

var (
	// ErrSecret means an empty secret or a "whsec_" secret whose remainder
	// is not base64.
	ErrSecret = errors.New("webhook: bad secret")
	// ErrSignature means no signature of the header matches, or a
	// malformed or out-of-tolerance timestamp.
	ErrSignature = errors.New("webhook: signature does not verify")
)

// MessageID returns the webhook-id of an event: "pilot-<node_id>-<event_id>",
// the same on every attempt.
func MessageID(node addr.NodeID, eventID uint64) string {
	return "pilot-" + strconv.FormatUint(uint64(node), 10) + "-" + strconv.FormatUint(eventID, 10)
}

// Key returns the HMAC key of a secret: the base64-decoded remainder when
// it starts with "whsec_", otherwise its UTF-8 bytes.
func Key(secret string) ([]byte, error) {
	if secret == "" {
		return nil, fmt.Errorf("%w: empty", ErrSecret)
	}
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(rest); err != nil {
			return nil, fmt.Errorf("%w: %s remainder is not base64", ErrSecret, secretPrefix)
		}
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty key after %s", ErrSecret, secretPrefix)
	}
	return key, nil
}

// SignedContent returns "<id>.<timestamp>.<body>", the bytes the HMAC
// covers.
func SignedContent(id, timestamp string, body []byte) []byte {
	b := make([]byte, 0, len(id)+len(timestamp)+2+len(body))
	b = append(b, id...)
	b = append(b, '.')
	b = append(b, timestamp...)
	b = append(b, '.')
	return append(b, body...)
}

// Headers are the three signing headers of one attempt.
type Headers struct {
	ID        string // webhook-id
	Timestamp string // webhook-timestamp: Unix seconds
	Signature string // webhook-signature: "v1,<base64>"
}

// Signer signs webhook bodies with one secret.
type Signer struct {
	key []byte
}

// NewSigner returns a signer for secret (see Key).
func NewSigner(secret string) (*Signer, error) {
	key, err := Key(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

func (s *Signer) mac(id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(SignedContent(id, timestamp, body))
	return m.Sum(nil)
}

// Sign returns the headers of one attempt made at Unix second unix.
func (s *Signer) Sign(id string, unix int64, body []byte) Headers {
	ts := strconv.FormatInt(unix, 10)
	return Headers{
		ID:        id,
		Timestamp: ts,
		Signature: "v1," + base64.StdEncoding.EncodeToString(s.mac(id, ts, body)),
	}
}

// Verify checks the headers against body as a Standard Webhooks receiver
// does: webhook-signature is a space-separated list and one "v1," entry
// must match. When tolerance is positive, the timestamp must also be
// within tolerance of now.
func (s *Signer) Verify(h Headers, body []byte, now time.Time, tolerance time.Duration) error {
	unix, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrSignature, h.Timestamp)
	}
	if tolerance > 0 {
		skew := now.Sub(time.Unix(unix, 0))
		if skew > tolerance || skew < -tolerance {
			return fmt.Errorf("%w: timestamp %d is %v away from now", ErrSignature, unix, skew)
		}
	}
	want := s.mac(h.ID, h.Timestamp, body)
	for _, entry := range strings.Fields(h.Signature) {
		sig, ok := strings.CutPrefix(entry, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching v1 signature for %s", ErrSignature, h.ID)
}
