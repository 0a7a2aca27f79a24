package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// encodeJSON marshals v without HTML escaping and without a newline.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// okEnvelope is the success line of --json mode (cli.md §4.2).
type okEnvelope struct {
	Status string `json:"status"`
	Data   any    `json:"data"`
}

// errEnvelope is the failure line of --json mode, written to stderr.
type errEnvelope struct {
	Status  string `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// writeOK writes one {"status":"ok","data":…} line.
func writeOK(w io.Writer, data any) error {
	if raw, ok := data.(json.RawMessage); ok {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return errorf(codeInternal, "daemon reply is not valid JSON: %v", err)
		}
		data = json.RawMessage(buf.Bytes())
	}
	b, err := encodeJSON(okEnvelope{Status: "ok", Data: data})
	if err != nil {
		return errorf(codeInternal, "encode output: %v", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeError prints e on stderr in the selected mode. usage is the
// command's usage line, printed in text mode for usage errors.
func writeError(w io.Writer, e *Error, jsonMode bool, usage string) {
	if jsonMode {
		b, _ := encodeJSON(errEnvelope{Status: "error", Code: e.Code, Message: e.Message, Hint: e.Hint})
		w.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(w, "error: %s\n", oneLine(e.Message))
	if e.Hint != "" {
		fmt.Fprintf(w, "hint: %s\n", oneLine(e.Hint))
	}
	if e.Usage && usage != "" {
		fmt.Fprintf(w, "usage: %s\n", usage)
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// table prints rows under an upper-case header: columns left-aligned,
// padded to the widest cell plus two spaces, no trailing spaces, empty
// cells shown as "-" (cli.md §4.2).
func table(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	all := append([][]string{header}, rows...)
	for _, r := range all {
		for i := range r {
			if r[i] == "" {
				r[i] = "-"
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	var sb strings.Builder
	for _, r := range all {
		sb.Reset()
		for i, cell := range r {
			sb.WriteString(cell)
			if i < len(r)-1 {
				sb.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(sb.String(), " "))
	}
}

// field is one "label: value" line of a detail block.
type field struct{ label, value string }

// fields prints "  label:<pad>value" lines aligned like the policy block of
// cli.md §4.10 (labels padded to the widest plus two spaces).
func fields(w io.Writer, fs []field) {
	width := 0
	for _, f := range fs {
		width = max(width, len(f.label)+1)
	}
	for _, f := range fs {
		v := f.value
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(w, "  %-*s%s\n", width+2, f.label+":", v)
	}
}

// stripType removes the top-level "type" key of a registry reply passed
// through verbatim, keeping the other keys in their order.
func stripType(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errorf(codeInternal, "daemon reply is not a JSON object")
	}
	out := []byte{'{'}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, errorf(codeInternal, "daemon reply is not valid JSON: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errorf(codeInternal, "daemon reply is not valid JSON: %v", err)
		}
		k, _ := kt.(string)
		if k == "type" {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := encodeJSON(k)
		out = append(append(append(out, kb...), ':'), v...)
	}
	return append(out, '}'), nil
}

// decodeData unmarshals a reply object into v for text rendering.
func decodeData(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return errorf(codeInternal, "unexpected daemon reply: %v", err)
	}
	return nil
}
