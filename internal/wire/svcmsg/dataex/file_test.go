package dataex

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSanitizeFileName(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	for _, tc := range []struct{ in, want string }{
		{"report.txt", "report.txt"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\me\notes.md`, "notes.md"},
		{`a/b\c`, "c"},
		{".bashrc", "bashrc"},
		{"...", "file"},
		{"", "file"},
		{"dir/", "file"},
		{"bad\x00na\x1fme\x7f\u0085.txt", "badname.txt"},
		{"\x01.hidden", "hidden"},
		{"inv\xffalid", "invalid"},
		{"日本語.txt", "日本語.txt"},
		{long, strings.Repeat("é", 100)},
		{strings.Repeat("a", 199) + "é", strings.Repeat("a", 199)},
		{strings.Repeat("a", 250), strings.Repeat("a", 200)},
	} {
		got := SanitizeFileName(tc.in)
		if got != tc.want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > MaxStoredNameLen {
			t.Errorf("SanitizeFileName(%q) = %q is not a valid stored name", tc.in, got)
		}
	}
}

// TestServices_2_FileNamedPasswd: a FILE frame named ../../etc/passwd is
// stored as passwd-<timestamp> and answered ACK FILE <n> bytes
// (services.md §9 item 2).
func TestServices_2_FileNamedPasswd(t *testing.T) {
	at := time.Date(2026, 3, 27, 11, 15, 3, 412_999_999, time.FixedZone("CET", 3600))
	if got := ReceivedFileName(SanitizeFileName("../../etc/passwd"), at, 0); got != "passwd-20260327-101503.412" {
		t.Errorf("stored name %q", got)
	}
	if got := Ack(TypeFile, 12).String(); got != "ACK FILE 12 bytes" {
		t.Errorf("reply %q", got)
	}
}

func TestStoredNames(t *testing.T) {
	at := time.Date(2026, 3, 27, 10, 15, 3, 0, time.UTC)
	for _, tc := range []struct {
		stored string
		dup    int
		want   string
	}{
		{"report.txt", 0, "report-20260327-101503.000.txt"},
		{"report.txt", 2, "report-20260327-101503.000-2.txt"},
		{"archive.tar.gz", 1, "archive.tar-20260327-101503.000-1.gz"},
		{"file", 0, "file-20260327-101503.000"},
	} {
		if got := ReceivedFileName(tc.stored, at, tc.dup); got != tc.want {
			t.Errorf("ReceivedFileName(%q, %d) = %q, want %q", tc.stored, tc.dup, got, tc.want)
		}
	}
	if got := InboxFileName(TypeJSON, at, 0); got != "JSON-20260327-101503.000.json" {
		t.Errorf("inbox %q", got)
	}
	if got := InboxFileName(TypeText, at, 3); got != "TEXT-20260327-101503.000-3.json" {
		t.Errorf("inbox dup %q", got)
	}
}

// TestServices_4_UnknownType: type 9 is answered ACK UNKNOWN(9) <n> bytes
// (services.md §9 item 4).
func TestServices_4_UnknownType(t *testing.T) {
	r := Ack(9, 5)
	if r.String() != "ACK UNKNOWN(9) 5 bytes" {
		t.Fatalf("reply %q", r.String())
	}
	f := r.Frame()
	if f.Type != TypeText || string(f.Payload) != "ACK UNKNOWN(9) 5 bytes" {
		t.Fatalf("frame %+v", f)
	}
}

func TestReplies(t *testing.T) {
	for _, tc := range []struct {
		r    Reply
		text string
	}{
		{Ack(TypeText, 11), "ACK TEXT 11 bytes"},
		{Ack(TypeBinary, 0), "ACK BINARY 0 bytes"},
		{Err(TypeJSON, ReasonInvalidJSON), "ERR JSON invalid json"},
		{Err(TypeFile, ReasonDiskFull), "ERR FILE disk full"},
		{Err(TypeBinary, ReasonTooLarge), "ERR BINARY too large"},
		{Err(TypeText, SaveFailed(errors.New("permission denied"))), "ERR TEXT save failed: permission denied"},
	} {
		if got := tc.r.String(); got != tc.text {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.text)
		}
		back, err := ParseReply(tc.text)
		if err != nil || back != tc.r {
			t.Errorf("ParseReply(%q) = %+v, %v", tc.text, back, err)
		}
	}
	for _, bad := range []string{"", "ACK", "ACK TEXT", "ACK TEXT 5", "ACK TEXT x bytes", "ACK TEXT 05 bytes", "ERR TEXT ", "NAK TEXT 1 bytes", "ACK text 1 bytes"} {
		if _, err := ParseReply(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseReply(%q) err = %v", bad, err)
		}
	}
}
