package webhook

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestIPC_5_16_ValidateURL checks the texts of ipc.md §5.16.
func TestIPC_5_16_ValidateURL(t *testing.T) {
	cases := []struct {
		url  string
		want string // "" = valid
	}{
		{"", ""},
		{"http://hooks.example.com/pilot", ""},
		{"https://10.0.0.1:8443/x", ""},
		{"http://[::1]:80/", ""},
		{"ftp://example.com/", `webhook URL must use http or https scheme, got "ftp"`},
		{"example.com/hook", `webhook URL must use http or https scheme, got ""`},
		{"http://169.254.169.254/latest/meta-data", "webhook URL cannot target link-local address 169.254.169.254"},
		{"http://169.254.1.2:9/", "webhook URL cannot target link-local address 169.254.1.2"},
		{"http://[fe80::1]/", "webhook URL cannot target link-local address fe80::1"},
		{"http://[fe80::1%25eth0]/", "webhook URL cannot target link-local address fe80::1%eth0"},
		{"http://[::ffff:169.254.169.254]/", "webhook URL cannot target link-local address ::ffff:169.254.169.254"},
		{"http://metadata.google.internal/computeMetadata/v1/", "webhook URL cannot target cloud metadata endpoint metadata.google.internal"},
		{"https://METADATA.google.com./", "webhook URL cannot target cloud metadata endpoint METADATA.google.com."},
		{"http://%zz/", `invalid webhook URL: parse "http://%zz/": invalid URL escape "%zz"`},
		{"http:///path", "invalid webhook URL: missing host"},
	}
	for _, tc := range cases {
		err := ValidateURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ValidateURL(%q) = %v, want nil", tc.url, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("ValidateURL(%q) = %v, want %q", tc.url, err, tc.want)
		case err != nil && !errors.Is(err, ErrInvalidURL):
			t.Errorf("ValidateURL(%q) does not match ErrInvalidURL", tc.url)
		}
	}
}

// FuzzValidateURL: ValidateURL never panics and every error matches
// ErrInvalidURL; an accepted URL is http(s).
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"", "http://a/", "https://[fe80::1%25x]/", "http://169.254.169.254/", "ftp://x", "http://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateURL(s)
		if err != nil && !errors.Is(err, ErrInvalidURL) {
			t.Fatalf("%q: %v does not match ErrInvalidURL", s, err)
		}
		if err == nil && s != "" {
			// Schemes are case-insensitive (RFC 3986 §3.1): "httP://0" is http.
			u, perr := url.Parse(s)
			if perr != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
				t.Fatalf("%q accepted", s)
			}
		}
	})
}
