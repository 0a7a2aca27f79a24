package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/webhook"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

func asIPCError(t *testing.T, err error) *ipc.Error {
	t.Helper()
	var ie *ipc.Error
	if !errors.As(err, &ie) {
		t.Fatalf("error %T %v is not an *ipc.Error", err, err)
	}
	return ie
}

// ipc.md §4: registry errors keep the registry's code and message; only an
// unreachable registry (transport failure, closed client, cancelled or
// expired call) is 10 unavailable; everything else is 1 internal with its
// own text, never "registry unreachable".
func TestRegistryErrorMapping(t *testing.T) {
	local := fmt.Errorf("key rotate: cannot write the new key (nothing was sent to the registry): %w",
		&fs.PathError{Op: "rename", Path: "/state/identity.json.next", Err: fs.ErrExist})
	for _, tc := range []struct {
		name  string
		label string
		err   error
		code  ipcmsg.Code
		text  string // exact, or a prefix when it ends with "…"
	}{
		{"registry not_found", "network members", &regmsg.Error{Code: regmsg.CodeNotFound, Message: "network not found"},
			ipcmsg.CodeNotFound, "network members: network not found"},
		{"registry permission_denied", "", &regmsg.Error{Code: regmsg.CodePermissionDenied, Message: "not a member"},
			ipcmsg.CodePermissionDenied, "not a member"},
		{"registry message_too_large", "", &regmsg.Error{Code: regmsg.CodeMessageTooLarge, Message: "too large"},
			ipcmsg.CodeInvalidArgument, "too large"},
		{"registry unavailable", "", fmt.Errorf("wrapped: %w", &regmsg.Error{Code: regmsg.CodeUnavailable, Message: "busy"}),
			ipcmsg.CodeUnavailable, "busy"},
		{"ipc error passes", "x", ipc.Errorf(ipcmsg.CodeFailedPrecondition, "as is"),
			ipcmsg.CodeFailedPrecondition, "as is"},
		{"transport", "set_hostname", fmt.Errorf("registry set_hostname: %w: dial 127.0.0.1:9000: connection refused", regclient.ErrTransport),
			ipcmsg.CodeUnavailable, "set_hostname: registry unreachable: …"},
		{"rotation outcome unknown", "", fmt.Errorf("%w: %w", ErrOutcomeUnknown, fmt.Errorf("registry rotate_key: %w: read: EOF", regclient.ErrTransport)),
			ipcmsg.CodeUnavailable, "registry unreachable: …"},
		{"client closed", "", regclient.ErrClosed, ipcmsg.CodeUnavailable, "registry unreachable: …"},
		{"cancelled", "network join", context.Canceled, ipcmsg.CodeUnavailable, "network join: cancelled"},
		{"deadline", "", fmt.Errorf("registry lookup: %w", context.DeadlineExceeded), ipcmsg.CodeUnavailable, "registry unreachable: …"},
		{"local key file", "", local, ipcmsg.CodeInternal, local.Error()},
		{"local key file, labelled", "key", local, ipcmsg.CodeInternal, "key: " + local.Error()},
		{"no identity", "", fmt.Errorf("regclient: lookup as node 5: %w", regclient.ErrNoIdentity), ipcmsg.CodeInternal,
			"regclient: lookup as node 5: " + regclient.ErrNoIdentity.Error()},
		{"protocol violation", "", fmt.Errorf("registry lookup: %w: got reply \"x_ok\"", regclient.ErrProtocol),
			ipcmsg.CodeInternal, "registry lookup: …"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ie := asIPCError(t, registryError(tc.label, tc.err))
			if ie.Code != tc.code {
				t.Errorf("code %d (%q), want %d", ie.Code, ie.Text, tc.code)
			}
			if p, ok := strings.CutSuffix(tc.text, "…"); ok {
				if !strings.HasPrefix(ie.Text, p) {
					t.Errorf("text %q, want prefix %q", ie.Text, p)
				}
			} else if ie.Text != tc.text {
				t.Errorf("text %q, want %q", ie.Text, tc.text)
			}
			if ie.Code != ipcmsg.CodeUnavailable && strings.Contains(ie.Text, "unreachable") {
				t.Errorf("text %q says unreachable with code %d", ie.Text, ie.Code)
			}
		})
	}
}

// Webhook errors: 2 only for a URL (or secret) the caller must change,
// with the validation text of ipc.md §5.16; 1 when webhook.json cannot be
// saved or the client is closed.
func TestWebhookErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code ipcmsg.Code
	}{
		{"scheme", webhook.ValidateURL("ftp://hooks.example.com/x"), ipcmsg.CodeInvalidArgument},
		{"link-local", webhook.ValidateURL("http://169.254.169.254/x"), ipcmsg.CodeInvalidArgument},
		{"bad secret", fmt.Errorf("%w: whsec_ remainder is not base64", whmsg.ErrSecret), ipcmsg.CodeInvalidArgument},
		{"closed", webhook.ErrClosed, ipcmsg.CodeInternal},
		{"save", fmt.Errorf("write webhook.json: %w", fs.ErrPermission), ipcmsg.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to map")
			}
			ie := asIPCError(t, webhookError(tc.err))
			if ie.Code != tc.code || ie.Text != tc.err.Error() {
				t.Errorf("%d %q, want %d %q", ie.Code, ie.Text, tc.code, tc.err.Error())
			}
		})
	}
}

// cli.md §4.8 step 1 failing (identity.json.next cannot be written) is a
// local failure: RegistryOp key.rotate answers internal with what failed,
// not unavailable "registry unreachable", and nothing reaches the
// registry.
func TestKeyRotateLocalFailureIsInternal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		next := identity.NextPath(filepath.Join(h.dir, "identity.json"))
		if err := os.Mkdir(next, 0o700); err != nil { // the rename onto it fails
			t.Fatal(err)
		}
		_, err := control{d}.RegistryOp(context.Background(), ipcmsg.RegistryOp{Op: ipcmsg.OpKeyRotate})
		ie := asIPCError(t, err)
		if ie.Code != ipcmsg.CodeInternal || strings.Contains(ie.Text, "unreachable") ||
			!strings.HasPrefix(ie.Text, "key rotate: cannot write the new key") {
			t.Errorf("key.rotate with an unwritable identity.json.next: %d %q, want internal naming the key file", ie.Code, ie.Text)
		}
		if n := len(h.reg.requests(regmsg.TypeRotateKey)); n != 0 {
			t.Errorf("%d rotate_key requests sent after the local failure", n)
		}
	})
}

// SetWebhook (0x1B) and webhook.set / webhook.clear: a URL refused by
// validation is invalid_argument; webhook.json that cannot be written is
// internal.
func TestWebhookSaveFailureIsInternal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		d, stop := h.start(h.config())
		defer stop()
		c := control{d}
		ctx := context.Background()
		if ie := asIPCError(t, c.SetWebhook(ctx, "ftp://hooks.example.com/x")); ie.Code != ipcmsg.CodeInvalidArgument {
			t.Errorf("SetWebhook with an ftp URL: %d %q, want invalid_argument", ie.Code, ie.Text)
		}
		set := registryOp(t, `{"op":"webhook.set","url":"http://169.254.1.1/x"}`)
		if _, err := c.RegistryOp(ctx, set); asIPCError(t, err).Code != ipcmsg.CodeInvalidArgument {
			t.Errorf("webhook.set with a link-local URL: %v, want invalid_argument", err)
		}
		if err := os.Mkdir(filepath.Join(h.dir, webhook.StateFile), 0o700); err != nil {
			t.Fatal(err)
		}
		if ie := asIPCError(t, c.SetWebhook(ctx, "https://hooks.example.com/a")); ie.Code != ipcmsg.CodeInternal {
			t.Errorf("SetWebhook with webhook.json unwritable: %d %q, want internal", ie.Code, ie.Text)
		}
		set = registryOp(t, `{"op":"webhook.set","url":"https://hooks.example.com/b","secret":"s3"}`)
		if _, err := c.RegistryOp(ctx, set); asIPCError(t, err).Code != ipcmsg.CodeInternal {
			t.Errorf("webhook.set with webhook.json unwritable: %v, want internal", err)
		}
	})
}
