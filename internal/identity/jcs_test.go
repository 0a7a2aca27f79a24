package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"testing"
)

func TestCanonicalJSONStrings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x07\x0b\x0e\x1f", `"\u0000\u0001\u0007\u000b\u000e\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"/", `"/"`},
		{"<eu> & 'x'", `"<eu> & 'x'"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"ü€😀\ufeff", "\"ü€😀\ufeff\""},
		{"Prod <eu> & ü\tteam", `"Prod <eu> & ü\tteam"`},
	} {
		got, err := CanonicalJSON(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("CanonicalJSON(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{"\xff", "a\xc3", map[string]any{"\xfe": 1}, []any{"ok", "\xed\xa0\x80"}} {
		if _, err := CanonicalJSON(bad); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("CanonicalJSON(%q) = %v, want ErrInvalidUTF8", bad, err)
		}
	}
}

// TestCanonicalJSONKeyOrder: keys sort by UTF-16 code units (RFC 8785
// §3.2.3), so U+1F600 (surrogates D83D DE00) sorts before U+FB01 and
// U+E000, unlike in UTF-8 byte order; "\r" precedes "1" and "" comes first.
func TestCanonicalJSONKeyOrder(t *testing.T) {
	m := map[string]any{
		"\ufb01": 1, "😀": 2, "\ue000": 3, "b": 4, "a": 5, "aa": 6, "A": 7,
		"\r": 8, "1": 9, "": 10, "é": 11, "\u0080": 12,
	}
	want := "{\"\":10,\"\\r\":8,\"1\":9,\"A\":7,\"a\":5,\"aa\":6,\"b\":4,\"\u0080\":12,\"é\":11,\"😀\":2,\"\ue000\":3,\"\ufb01\":1}"
	got, err := CanonicalJSON(m)
	if err != nil || string(got) != want {
		t.Fatalf("got  %s\nwant %s (%v)", got, want, err)
	}
	// RFC 8785 §3.2.3 example of sorting.
	rfc := map[string]any{
		"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
		"1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis",
	}
	wantRFC := "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
		"\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"
	if got, err := CanonicalJSON(rfc); err != nil || string(got) != wantRFC {
		t.Fatalf("RFC 8785 sort example:\n got %s\nwant %s", got, wantRFC)
	}
}

func TestCanonicalJSONStructures(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{map[string]any{}, `{}`},
		{[]any{}, `[]`},
		{[]string(nil), `[]`},
		{[]any{nil, false, "x", json.Number("1"), []any{map[string]any{"z": []any{}, "y": map[string]any{}}}},
			`[null,false,"x",1,[{"y":{},"z":[]}]]`},
		{map[string]any{"b": map[string]any{"d": 1, "c": []int64{3, -2}}, "a": []string{"x", "y"}},
			`{"a":["x","y"],"b":{"c":[3,-2],"d":1}}`},
		{[]int{1, 2}, `[1,2]`},
		{[]uint32{4294967295}, `[4294967295]`},
		{[]uint64{math.MaxUint64}, `[18446744073709551615]`},
		{int8(-8), `-8`}, {int16(-16), `-16`}, {int32(-32), `-32`}, {int64(math.MinInt64), `-9223372036854775808`},
		{uint(7), `7`}, {uint8(8), `8`}, {uint16(16), `16`}, {uint32(32), `32`},
	} {
		got, err := CanonicalJSON(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("CanonicalJSON(%#v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{struct{}{}, map[string]int{}, float32(1), []byte("x"), map[string]any{"k": make(chan int)}} {
		if _, err := CanonicalJSON(bad); !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("CanonicalJSON(%T) = %v, want ErrUnsupportedType", bad, err)
		}
	}
	loop := []any{nil}
	loop[0] = loop
	if _, err := CanonicalJSON(loop); !errors.Is(err, ErrTooDeep) {
		t.Errorf("self-referencing slice: %v", err)
	}
}

// TestCanonicalJSONNumbers: integer literals exact; everything else as
// ECMAScript Number.prototype.toString (RFC 8785 §3.2.2.3 and its
// Appendix B samples).
func TestCanonicalJSONNumbers(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"-0.0", "0"}, {"0e10", "0"},
		{"42", "42"}, {"-42", "-42"},
		{"9007199254740993", "9007199254740993"},
		{"18446744073709551615", "18446744073709551615"},
		{"18446744073709551616", "18446744073709552000"},
		{"100000000000000000000000", "1e+23"},
		{"1.0", "1"}, {"1.50", "1.5"}, {"1e2", "100"}, {"1E+2", "100"}, {"-1.5e-3", "-0.0015"},
		{"1e21", "1e+21"}, {"1e20", "100000000000000000000"}, {"123456789012345678901", "123456789012345680000"},
		{"0.000001", "0.000001"}, {"0.0000001", "1e-7"}, {"1.5e-7", "1.5e-7"},
		{"4.5", "4.5"}, {"0.002", "0.002"}, {"0.1", "0.1"},
		{"1e-400", "0"},
		// RFC 8785 Appendix B.
		{"1e+23", "1e+23"},
		{"9007199254740992.0", "9007199254740992"},
		{"295147905179352830000", "295147905179352830000"},
		{"333333333.3333333", "333333333.3333333"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"-5e-324", "-5e-324"},
		{"1e-7", "1e-7"},
		{"0.000001", "0.000001"},
	} {
		got, err := CanonicalJSON(json.Number(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("CanonicalJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for in, want := range map[float64]string{
		1: "1", -0.5: "-0.5", math.Copysign(0, -1): "0", 1e300: "1e+300", 123.456: "123.456",
		math.SmallestNonzeroFloat64: "5e-324", float64(1 << 53): "9007199254740992",
	} {
		if got, err := CanonicalJSON(in); err != nil || string(got) != want {
			t.Errorf("CanonicalJSON(%v) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []any{
		json.Number(""), json.Number("+1"), json.Number("01"), json.Number("1."), json.Number(".5"),
		json.Number("1e"), json.Number("0x10"), json.Number("1_000"), json.Number("NaN"), json.Number("1e400"),
		json.Number(" 1"), math.NaN(), math.Inf(1), math.Inf(-1),
	} {
		if _, err := CanonicalJSON(bad); !errors.Is(err, ErrNumber) {
			t.Errorf("CanonicalJSON(%v) = %v, want ErrNumber", bad, err)
		}
	}
}

// FuzzCanonicalJSON: for any JSON text, CanonicalJSON never panics; it
// fails only for numbers beyond the double range; its output is valid JSON
// that parses back to an equal value and is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"time":"2026-03-27T10:15:03.412Z","attrs":{"tags":["gpu","eu-west"],"b":true}}`,
		`{"description":"Prod <eu> & ü\tteam","\u2028":"\u0000\u001f"}`,
		`[1.5e-7,1e21,-0,18446744073709551616,0.000001,333333333.3333333]`,
		`{"😀":1,"\ufb01":2,"\ue000":3}`,
		`[1e-999999999,-1E+999999999,9007199254740993]`,
		`null`, `"\ud800"`, `[[[[]]]]`, `{"a":{"a":{"a":null}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseJSON(data)
		if err != nil {
			return
		}
		c, err := CanonicalJSON(v)
		if err != nil {
			if !errors.Is(err, ErrNumber) {
				t.Fatalf("CanonicalJSON of parsed JSON: %v", err)
			}
			return
		}
		back, err := parseJSON(c)
		if err != nil {
			t.Fatalf("output %q does not parse: %v", c, err)
		}
		if !jsonEqual(v, back) {
			t.Fatalf("output %s parses to a different value", c)
		}
		c2, err := CanonicalJSON(back)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("not idempotent:\n%s\n%s (%v)", c, c2, err)
		}
	})
}

func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// jsonEqual compares decoded JSON values. Numbers compare as doubles and,
// when both are integer literals within int64/uint64 (which CanonicalJSON
// keeps exact), also exactly.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, errx := strconv.ParseFloat(string(x), 64)
		fy, erry := strconv.ParseFloat(string(y), 64)
		if errx != nil || erry != nil || fx != fy {
			return false
		}
		ix, okx := exactInt(string(x))
		iy, oky := exactInt(string(y))
		return !okx || !oky || ix.Cmp(iy) == 0
	default:
		return a == b
	}
}

// exactInt returns the value of an integer literal that fits int64 or
// uint64.
func exactInt(s string) (*big.Int, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return big.NewInt(i), true
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return new(big.Int).SetUint64(u), true
	}
	return nil, false
}
