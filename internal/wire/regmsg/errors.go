package regmsg

import "fmt"

// Code is the machine-readable error code of an error reply (registry.md
// §4.2). The values are API: clients switch on them.
type Code string

// The error codes of registry.md §4.2.
const (
	CodeInvalidArgument    Code = "invalid_argument"
	CodeNotFound           Code = "not_found"
	CodeAlreadyExists      Code = "already_exists"
	CodePermissionDenied   Code = "permission_denied"
	CodeUnauthenticated    Code = "unauthenticated"
	CodeFailedPrecondition Code = "failed_precondition"
	CodeResourceExhausted  Code = "resource_exhausted"
	CodeRateLimited        Code = "rate_limited"
	CodeMessageTooLarge    Code = "message_too_large"
	CodeUnavailable        Code = "unavailable"
	CodeInternal           Code = "internal"
)

// KeyReplaced begins the message of the unauthenticated refusal of a
// retired key at register (registry.md §7.1.1 decision 1: "this key was
// replaced on T"). The daemon tells it from other refusals (an expired
// key) to know whether its pending rotation key may be the one the
// registry holds.
const KeyReplaced = "this key was replaced"

// Codes lists every code of §4.2, in the order of the table.
var Codes = []Code{
	CodeInvalidArgument, CodeNotFound, CodeAlreadyExists, CodePermissionDenied,
	CodeUnauthenticated, CodeFailedPrecondition, CodeResourceExhausted,
	CodeRateLimited, CodeMessageTooLarge, CodeUnavailable, CodeInternal,
}

// Valid reports whether c is one of the codes of §4.2.
func (c Code) Valid() bool {
	for _, k := range Codes {
		if c == k {
			return true
		}
	}
	return false
}

// Error is a protocol error: what DecodeRequest returns for a request that
// fails the shape rules, what the server turns into an error reply, and what
// DecodeReply returns for an error reply. Message is the human sentence of the
// reply's "error" field; it names the offending field and never contains a
// token, nonce or signature.
type Error struct {
	Code    Code
	Message string
	// RetryAfterMS is the retry_after_ms of a rate_limited reply (0 = absent).
	RetryAfterMS int64
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) *Error {
	return Errorf(CodeInvalidArgument, format, args...)
}

// ErrReplicationUnsupported is the §7.11 reply to subscribe_replication.
var ErrReplicationUnsupported = &Error{
	Code:    CodeFailedPrecondition,
	Message: "replication is not supported; run several registries on one PostgreSQL store instead",
}
