package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// object builds a JSON object with n metrics named m00, m01, ... valued 1.
func object(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q: 1", fmt.Sprintf("m%02d", i))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// objectMetrics is what Parse records for object(n).
func objectMetrics(n int) Metrics {
	m := Metrics{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("m%02d", i)] = "1"
	}
	return m
}

// exactly pads a valid message with spaces inside the object to n bytes.
func exactly(n int, message string) string {
	pad := n - len(message)
	return message[:len(message)-1] + strings.Repeat(" ", pad) + "}"
}

func TestParse(t *testing.T) {
	name128 := strings.Repeat("n", MaxNameLength)
	name129 := strings.Repeat("n", MaxNameLength+1)
	full := exactly(MaxMessageBytes, object(MaxMetrics))
	if len(full) != MaxMessageBytes {
		t.Fatalf("test message is %d bytes, want %d", len(full), MaxMessageBytes)
	}

	tests := []struct {
		name    string
		message string
		want    Metrics
		// For errors: the Reason, and strings the Message must contain.
		reason   Reason
		contains []string
	}{
		{
			name:    "several metrics",
			message: `{"val_loss": 0.231, "accuracy": 0.912, "epochs": 10, "delta": -0.5, "lr": 2.5e-9, "steps": 1E3, "eps": -1e-7}`,
			want: Metrics{
				"val_loss": "0.231", "accuracy": "0.912", "epochs": "10", "delta": "-0.5",
				"lr": "2.5e-09", "steps": "1000", "eps": "-1e-07",
			},
		},
		{
			name:    "python json.dumps with trailing newline",
			message: "{\"loss\": 0.1, \"acc\": 0.95}\n",
			want:    Metrics{"loss": "0.1", "acc": "0.95"},
		},
		{
			name:    "whitespace and newlines around and inside",
			message: " \r\n\t{\n  \"loss\" :\t1.0 ,\n  \"acc\": 1\n}\r\n\n",
			want:    Metrics{"loss": "1", "acc": "1"},
		},
		{
			name:    "empty object",
			message: "{}",
			want:    Metrics{},
		},
		{
			name:    "underflow rounds to zero",
			message: `{"tiny": 1e-999}`,
			want:    Metrics{"tiny": "0"},
		},
		{
			name:    "names that look like tokens or hold any text",
			message: `{"NaN": 1, "a b/c:d": 2, "ü": 3, "x\"y": 4}`,
			want:    Metrics{"NaN": "1", "a b/c:d": "2", "ü": "3", `x"y`: "4"},
		},
		{
			name:    "name of MaxNameLength bytes",
			message: fmt.Sprintf(`{%q: 0.5}`, name128),
			want:    Metrics{name128: "0.5"},
		},
		{
			name:    "MaxMetrics metrics",
			message: object(MaxMetrics),
			want:    objectMetrics(MaxMetrics),
		},
		{
			name:    "exactly MaxMessageBytes bytes",
			message: full,
			want:    objectMetrics(MaxMetrics),
		},

		{
			name:     "empty",
			message:  "",
			reason:   ReasonEmpty,
			contains: []string{"empty"},
		},
		{
			name:     "whitespace only",
			message:  " \n\t\r\n",
			reason:   ReasonEmpty,
			contains: []string{"empty"},
		},
		{
			name:     "one byte over MaxMessageBytes",
			message:  full + "\n",
			reason:   ReasonTooLarge,
			contains: []string{"4097 bytes", "at most 4096"},
		},
		{
			name:     "well over MaxMessageBytes",
			message:  `{"loss": 0.5}` + strings.Repeat(" ", 5000-13),
			reason:   ReasonTooLarge,
			contains: []string{"termination message is 5000 bytes; at most 4096 are kept, so the JSON would be cut"},
		},
		{
			name:     "not JSON",
			message:  "loss=0.3\n",
			reason:   ReasonNotJSON,
			contains: []string{`termination message is not JSON: invalid character 'l' looking for beginning of value; read "loss=0.3"`},
		},
		{
			name:     "long text is cut in the excerpt",
			message:  "Traceback (most recent call last):\n" + strings.Repeat("  File \"train.py\", line 1, in <module>\n", 20),
			reason:   ReasonNotJSON,
			contains: []string{`read "Traceback (most recent call last):\n  File \"train.py\"`, `"...`},
		},
		{
			name:     "cut JSON",
			message:  `{"loss": 0.5`,
			reason:   ReasonNotJSON,
			contains: []string{"unexpected end of JSON input", `read "{\"loss\": 0.5"`},
		},
		{
			name:     "cut at the beginning by the kubelet",
			message:  exactly(MaxMessageBytes, object(MaxMetrics))[1:] + " ",
			reason:   ReasonNotJSON,
			contains: []string{"exactly 4096 bytes", "cut its beginning"},
		},
		{
			name:     "trailing object",
			message:  `{"a": 1} {"b": 2}`,
			reason:   ReasonNotJSON,
			contains: []string{"after top-level value", `read "{\"a\": 1} {\"b\": 2}"`},
		},
		{
			name:     "trailing garbage",
			message:  "{\"a\": 1}\ndone",
			reason:   ReasonNotJSON,
			contains: []string{"after top-level value"},
		},
		{
			name:     "single quotes",
			message:  `{'loss': 0.5}`,
			reason:   ReasonNotJSON,
			contains: []string{"invalid character '\\''"},
		},
		{
			name:     "list",
			message:  `[0.1, 0.2]`,
			reason:   ReasonNotObject,
			contains: []string{"a JSON array", `read "[0.1, 0.2]"`},
		},
		{
			name:     "bare number",
			message:  "0.231\n",
			reason:   ReasonNotObject,
			contains: []string{"a JSON number", `read "0.231"`},
		},
		{
			name:     "bare string",
			message:  `"0.231"`,
			reason:   ReasonNotObject,
			contains: []string{"a JSON string"},
		},
		{
			name:     "null",
			message:  `null`,
			reason:   ReasonNotObject,
			contains: []string{"JSON null"},
		},
		{
			name:     "string value",
			message:  `{"acc": 0.9, "val_loss": "0.3"}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "val_loss" is "0.3" (a string); metrics must be JSON numbers`},
		},
		{
			name:     "string NaN is a string, not a non-finite number",
			message:  `{"val_loss": "NaN"}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "val_loss" is "NaN" (a string)`},
		},
		{
			name:     "bool value",
			message:  `{"converged": true}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "converged" is true (a boolean)`},
		},
		{
			name:     "null value",
			message:  `{"val_loss": null}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "val_loss" is null`},
		},
		{
			name:     "nested object",
			message:  `{"val": {"loss": 0.3}}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "val" is an object`, `"{\"loss\": 0.3}"`},
		},
		{
			name:     "array value",
			message:  `{"losses": [0.5, 0.3]}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "losses" is an array`, `"[0.5, 0.3]"`},
		},
		{
			name:     "NaN",
			message:  `{"acc": 0.9, "val_loss": NaN}`,
			reason:   ReasonNonFinite,
			contains: []string{`metric "val_loss" is NaN; metrics must be finite numbers`},
		},
		{
			name:     "Infinity",
			message:  "{\"val_loss\":Infinity}\n",
			reason:   ReasonNonFinite,
			contains: []string{`metric "val_loss" is Infinity`},
		},
		{
			name:     "-Infinity",
			message:  `{"acc": 0.9, "reward": -Infinity}`,
			reason:   ReasonNonFinite,
			contains: []string{`metric "reward" is -Infinity`},
		},
		{
			name:     "NaN after a colon inside a string is left alone",
			message:  `{"note": "ratio: NaN", "loss": NaN}`,
			reason:   ReasonNonFinite,
			contains: []string{`metric "loss" is NaN`},
		},
		{
			name:     "NaN nested in a value is not JSON",
			message:  `{"val": {"loss": NaN}}`,
			reason:   ReasonNotJSON,
			contains: []string{"invalid character 'N'"},
		},
		{
			name:     "NaN in a list is not JSON",
			message:  `[NaN]`,
			reason:   ReasonNotJSON,
			contains: []string{"invalid character 'N'"},
		},
		{
			name:     "NaN with other syntax errors is not JSON",
			message:  `{"loss": NaN,}`,
			reason:   ReasonNotJSON,
			contains: []string{"invalid character"},
		},
		{
			name:     "overflow",
			message:  `{"big": 1e999}`,
			reason:   ReasonOutOfRange,
			contains: []string{`metric "big" is 1e999, which is too large for a 64-bit float, whose largest magnitude is 1.7976931348623157e+308`},
		},
		{
			name:     "negative overflow",
			message:  `{"acc": 0.9, "big": -1e700}`,
			reason:   ReasonOutOfRange,
			contains: []string{`metric "big" is -1e700, which is too large for a 64-bit float`},
		},
		{
			name:     "overflow in upper-case exponent notation",
			message:  `{"big": -1.5E+400}`,
			reason:   ReasonOutOfRange,
			contains: []string{`metric "big" is -1.5E+400`},
		},
		{
			name:     "just past the largest float64",
			message:  `{"big": 1.7976931348623159e308}`,
			reason:   ReasonOutOfRange,
			contains: []string{`metric "big" is 1.7976931348623159e308, which is too large`},
		},
		{
			name:     "long overflowing literal is cut",
			message:  `{"big": 1` + strings.Repeat("0", 400) + `}`,
			reason:   ReasonOutOfRange,
			contains: []string{`metric "big" is 1000`, `..., which`},
		},
		{
			name:     "bare overflowing number",
			message:  "1e700\n",
			reason:   ReasonNotObject,
			contains: []string{"a JSON number", `read "1e700"`},
		},
		{
			name:     "bare negative overflowing number",
			message:  "-1e700",
			reason:   ReasonNotObject,
			contains: []string{"a JSON number", `read "-1e700"`},
		},
		{
			name:     "duplicate name",
			message:  `{"loss": 0.5, "acc": 0.9, "loss": 0.4}`,
			reason:   ReasonBadName,
			contains: []string{`metric "loss" appears more than once`},
		},
		{
			name:     "empty name",
			message:  `{"": 0.5}`,
			reason:   ReasonBadName,
			contains: []string{"empty name"},
		},
		{
			name:     "name over MaxNameLength bytes",
			message:  fmt.Sprintf(`{%q: 0.5}`, name129),
			reason:   ReasonBadName,
			contains: []string{`metric name "nnnn`, "is 129 bytes", "at most 128"},
		},
		{
			name:     "control characters in a name are escaped and bounded",
			message:  fmt.Sprintf(`{"%s": 1, "%[1]s": 2}`, strings.Repeat(`\u001d`, MaxNameLength)),
			reason:   ReasonBadName,
			contains: []string{`metric "\x1d\x1d`, `"... appears more than once`},
		},
		{
			name:     "control characters in text are escaped and bounded",
			message:  "\x92" + strings.Repeat("\x1d", 200),
			reason:   ReasonNotJSON,
			contains: []string{`read "\x92\x1d`, `"...`},
		},
		{
			name:     "MaxMetrics+1 metrics",
			message:  object(MaxMetrics + 1),
			reason:   ReasonTooMany,
			contains: []string{"65 metrics", "at most 64"},
		},
		{
			name:     "too many is reported before a bad value",
			message:  `{"s": "x", ` + object(MaxMetrics)[1:],
			reason:   ReasonTooMany,
			contains: []string{"65 metrics"},
		},
		{
			name:     "the first bad metric is reported",
			message:  `{"a": 1, "b": null, "c": "x"}`,
			reason:   ReasonNonNumeric,
			contains: []string{`metric "b" is null`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.message)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Parse() error = %v, want none", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Parse() = %#v, want %#v", got, tt.want)
				}
				return
			}
			if got != nil {
				t.Errorf("Parse() = %#v, want nil with an error", got)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse() error = %#v, want an *Error", err)
			}
			if perr.Reason != tt.reason {
				t.Errorf("Parse() Reason = %q, want %q (message %q)", perr.Reason, tt.reason, perr.Message)
			}
			if err.Error() != perr.Message {
				t.Errorf("Error() = %q, want the Message %q", err.Error(), perr.Message)
			}
			for _, s := range tt.contains {
				if !strings.Contains(perr.Message, s) {
					t.Errorf("Parse() Message = %q, want it to contain %q", perr.Message, s)
				}
			}
			checkMessage(t, perr.Message)
		})
	}
}

// checkMessage checks that an error message is one short line.
func checkMessage(t *testing.T, message string) {
	t.Helper()
	if message == "" || strings.ContainsAny(message, "\r\n") {
		t.Errorf("Message = %q, want one non-empty line", message)
	}
	if len(message) > 500 {
		t.Errorf("Message is %d bytes, want at most 500: %q", len(message), message)
	}
}

func TestParseCanonicalDecimal(t *testing.T) {
	tests := []struct {
		literal string
		want    string
	}{
		{"0.231", "0.231"},
		{"1", "1"},
		{"1.0", "1"},
		{"1e0", "1"},
		{"1e-3", "0.001"},
		{"2.5e-9", "2.5e-09"},
		{"12345678", "12345678"},
		{"-0.0", "0"},
		{"-0", "0"},
		{"0e10", "0"},
		{"-3.5", "-3.5"},
		{"0.1", "0.1"},
		{"100", "100"},
		{"1e-6", "0.000001"},
		{"9.99e-7", "9.99e-07"},
		{"-1e-6", "-0.000001"},
		{"1e20", "100000000000000000000"},
		{"1e21", "1e+21"},
		{"-1.5e300", "-1.5e+300"},
		{"0.30000000000000004", "0.30000000000000004"},
		{"0.1000000000000000055511151231257827", "0.1"},
		{"4.9e-324", "5e-324"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"-1.7976931348623157e308", "-1.7976931348623157e+308"},
		{"1.7e308", "1.7e+308"},
		{"1E+2", "100"},
		{"1e+2", "100"},
		{"1E-2", "0.01"},
		// Below the smallest float64, a number rounds to zero.
		{"1e-400", "0"},
		{"-1e-400", "0"},
		{"2e-324", "0"},
		{"1e-1000001", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.literal, func(t *testing.T) {
			got, err := Parse(`{"m": ` + tt.literal + `}`)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got["m"] != tt.want {
				t.Errorf("Parse(%s) recorded %q, want %q", tt.literal, got["m"], tt.want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		s       string
		want    float64
		wantErr bool
	}{
		{s: "0.231", want: 0.231},
		{s: "1", want: 1},
		{s: "-4", want: -4},
		{s: "0", want: 0},
		{s: "2.5e-09", want: 2.5e-9},
		{s: "1e+21", want: 1e21},
		{s: "0.000001", want: 1e-6},
		{s: "", wantErr: true},
		{s: "abc", wantErr: true},
		{s: "NaN", wantErr: true},
		{s: "Inf", wantErr: true},
		{s: "-Infinity", wantErr: true},
		{s: "1e999", wantErr: true},
		{s: "0x10", wantErr: true},
		{s: "1_000", wantErr: true},
		{s: " 1", wantErr: true},
		{s: "1.2.3", wantErr: true},
		{s: "--1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			got, err := Value(tt.s)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Value(%q) = %v, want an error", tt.s, got)
				} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.s)) {
					t.Errorf("Value(%q) error = %q, want it to quote the value", tt.s, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Value(%q) error = %v", tt.s, err)
			}
			if got != tt.want {
				t.Errorf("Value(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func TestBetter(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		minimize bool
		want     bool
	}{
		{"minimize lower", "0.1", "0.2", true, true},
		{"minimize higher", "0.2", "0.1", true, false},
		{"maximize higher", "0.95", "0.9", false, true},
		{"maximize lower", "0.9", "0.95", false, false},
		{"minimize tie", "0.5", "0.5", true, false},
		{"maximize tie", "0.5", "0.5", false, false},
		{"tie across spellings", "1", "1.0", true, false},
		{"negatives minimize", "-3", "-2", true, true},
		{"exponents minimize", "2.5e-09", "0.000001", true, true},
		{"exponents maximize", "1e+21", "100000000000000000000", false, true},
		{"unparseable a minimize", "NaN", "0.5", true, false},
		{"unparseable a maximize", "garbage", "0.5", false, false},
		{"unparseable b minimize", "0.5", "", true, true},
		{"unparseable b maximize", "0.5", "Inf", false, true},
		{"both unparseable", "x", "y", true, false},
		{"both unparseable reversed", "y", "x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Better(tt.a, tt.b, tt.minimize); got != tt.want {
				t.Errorf("Better(%q, %q, %v) = %v, want %v", tt.a, tt.b, tt.minimize, got, tt.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name string
		s    string
		max  int
		want string
	}{
		{"short", "loss=0.3", 120, `"loss=0.3"`},
		{"exactly max", "abcde", 5, `"abcde"`},
		{"cut", "abcdef", 5, `"abcde"...`},
		{"escapes count", "a\nb\nc", 5, `"a\nb"...`},
		{"control bytes count four", "\x1d\x1d\x1d", 8, `"\x1d\x1d"...`},
		{"multi-byte rune is not split", "aé", 2, `"a"...`},
		{"multi-byte rune fits", "aé", 3, `"aé"`},
		{"invalid UTF-8", "\x92\xed00", 8, `"\x92\xed"...`},
		{"empty", "", 5, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := excerpt(tt.s, tt.max); got != tt.want {
				t.Errorf("excerpt(%q, %d) = %s, want %s", tt.s, tt.max, got, tt.want)
			}
		})
	}
}

var reasons = map[Reason]bool{
	ReasonEmpty: true, ReasonTooLarge: true, ReasonNotJSON: true, ReasonNotObject: true,
	ReasonNonNumeric: true, ReasonNonFinite: true, ReasonOutOfRange: true, ReasonBadName: true, ReasonTooMany: true,
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", " \n", "{}", "[]", "null", "0.5", `"x"`, "loss=0.3",
		`{"val_loss": 0.231, "accuracy": 0.912}` + "\n",
		`{"a": 1, "b": -2.5e-9, "c": 1E3, "d": -0.0}`,
		`{"a": NaN}`, `{"a": Infinity, "b": -Infinity}`, `{"a": {"b": NaN}}`,
		`{"a": "NaN", "b": NaN}`, `{"a": "x:\"", "b": NaN}`,
		`{"a": 1e999}`, `{"a": 1e-999}`, `{"a": 1, "a": 2}`, `{"": 1}`,
		`{"a": "s"}`, `{"a": true}`, `{"a": null}`, `{"a": [1]}`, `{"a": {}}`,
		`{"a": 1} {"b": 2}`, `{"a": 1`, object(MaxMetrics + 1),
		// A top-level number out of float64 range once made the Decoder fail,
		// so Parse said NotJSON about valid JSON.
		"1e700", "-1e700", `{"a": -1e700}`,
		`{"a": 1.7976931348623157e308, "b": -0, "c": 1E+2, "d": 4.9e-324, "e": 1e-400}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, message string) {
		got, err := Parse(message)
		text := strings.Trim(message, " \t\r\n")
		if err != nil {
			if got != nil {
				t.Errorf("Parse(%q) = %v with error %v, want nil", message, got, err)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error = %#v, want an *Error", message, err)
			}
			if !reasons[perr.Reason] {
				t.Errorf("Parse(%q) Reason = %q, want a known reason", message, perr.Reason)
			}
			checkMessage(t, perr.Message)
			if perr.Reason == ReasonNotJSON && json.Valid([]byte(text)) {
				t.Errorf("Parse(%q) says NotJSON, but encoding/json finds it valid", message)
			}
			if (perr.Reason == ReasonNotObject || perr.Reason == ReasonNonNumeric || perr.Reason == ReasonOutOfRange) && !json.Valid([]byte(text)) {
				t.Errorf("Parse(%q) Reason = %q, but encoding/json finds it invalid", message, perr.Reason)
			}
			return
		}

		// Every success round-trips, and agrees with encoding/json.
		if got == nil {
			t.Fatalf("Parse(%q) = nil, nil", message)
		}
		if len(message) > MaxMessageBytes || len(got) > MaxMetrics {
			t.Errorf("Parse(%q) accepted %d bytes and %d metrics", message, len(message), len(got))
		}
		var want map[string]float64
		if err := json.Unmarshal([]byte(message), &want); err != nil {
			t.Fatalf("Parse(%q) succeeded, but encoding/json says %v", message, err)
		}
		if len(want) != len(got) {
			t.Errorf("Parse(%q) = %d metrics, encoding/json finds %d", message, len(got), len(want))
		}
		for name, s := range got {
			if name == "" || len(name) > MaxNameLength {
				t.Errorf("Parse(%q) accepted metric name %q", message, name)
			}
			v, err := Value(s)
			if err != nil {
				t.Fatalf("Parse(%q) recorded %q = %q, which Value rejects: %v", message, name, s, err)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("Parse(%q) recorded %q = %q, which is not finite", message, name, s)
			}
			if w, ok := want[name]; !ok || v != w {
				t.Errorf("Parse(%q) recorded %q = %q, encoding/json reads %v", message, name, s, w)
			}
			if again := Format(v); again != s {
				t.Errorf("Parse(%q) recorded %q = %q, which is not canonical (%q)", message, name, s, again)
			}
		}
	})
}
