package canonjson

import "testing"

func TestAppendString(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{in: "", want: `""`},
		{in: "plain/key.bin", want: `"plain/key.bin"`},
		{in: `quote " backslash \`, want: `"quote \" backslash \\"`},
		{in: "\b\t\n\f\r", want: `"\b\t\n\f\r"`},
		{in: "\x00\x01\x0b\x1f", want: `"\u0000\u0001\u000b\u001f"`},
		{in: "\x20\x7f", want: "\" \x7f\""},
		{in: "<>&", want: `"<>&"`},
		{in: "\u2028\u2029", want: "\"\u2028\u2029\""},
		{in: "é模型😀", want: `"é模型😀"`},
		// Bytes that are not UTF-8, each as the lone surrogate U+DC00+byte.
		{in: "bad\xffbyte", want: `"bad\udcffbyte"`},
		{in: "\xed\xa0\x80", want: `"\udced\udca0\udc80"`}, // a surrogate, which UTF-8 does not encode
		{in: "é\xc3", want: `"é\udcc3"`},                   // a lead byte without its continuation
		{in: "\uFFFD", want: "\"\uFFFD\""},                 // U+FFFD itself is valid
	}
	for _, tc := range cases {
		if got := string(AppendString(nil, tc.in)); got != tc.want {
			t.Errorf("AppendString(%q) = %s; want %s", tc.in, got, tc.want)
		}
	}
}
