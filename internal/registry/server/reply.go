package server

import (
	"encoding/json"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// MaxFrame is the largest request and reply body (registry.md §1).
const MaxFrame = regmsg.MaxFrame

// Error codes the server itself answers with (registry.md §4.2).
const (
	CodeMessageTooLarge    = "message_too_large"
	CodeFailedPrecondition = "failed_precondition"
	CodeInternal           = "internal"
	CodeUnavailable        = "unavailable"
)

// Messages of the replies the server produces itself.
const (
	msgTooLarge    = "request frame exceeds 65,536 bytes; send smaller requests (lists are paged with limit and cursor); the connection is closed"
	msgTLSRequired = "this registry requires TLS; connect with -registry-tls"
	msgPanic       = "internal error: the registry hit a bug while handling this request; it has been logged, please report it"
	msgTooBig      = "internal error: the reply exceeded 65,536 bytes; it has been logged, please report it"
)

// errorReply is the error envelope of registry.md §4.1; field order is the
// wire order.
type errorReply struct {
	Type  string `json:"type"`
	Error string `json:"error"`
	Code  string `json:"code"`
}

// ErrorBody returns the body of an error reply
// {"type":"error","error":msg,"code":code}.
func ErrorBody(code, msg string) []byte {
	b, err := json.Marshal(errorReply{Type: "error", Error: msg, Code: code})
	if err != nil { // cannot happen for strings
		panic(err)
	}
	return b
}

// appendFrame appends the length prefix and body to dst; callers
// guarantee len(body) ≤ MaxFrame.
func appendFrame(dst, body []byte) []byte {
	out, err := regmsg.AppendFrame(dst, body)
	if err != nil {
		panic(err) // a server bug: bodies are checked before framing
	}
	return out
}
