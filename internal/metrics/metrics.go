package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxMessageBytes is the most the kubelet keeps of a termination message.
// It keeps the last MaxMessageBytes bytes of the file, so a longer message
// loses its beginning.
const MaxMessageBytes = 4096

// MaxMetrics bounds how many metrics one trial may report, so that a Trial's
// status stays bounded.
const MaxMetrics = 64

// MaxNameLength bounds the length of a metric name, in bytes.
const MaxNameLength = 128

// maxExcerpt bounds, in bytes, how much of what was read an error quotes.
const maxExcerpt = 120

// maxNumberExcerpt bounds, in bytes, how much of a number literal an error
// shows.
const maxNumberExcerpt = 40

// jsonSpace is the whitespace JSON allows around values.
const jsonSpace = " \t\r\n"

// example is the shape of message Parse expects, quoted in error messages.
const example = `{"loss": 0.25}`

// Reason says why a termination message could not be read. Values are
// stable and are used as Kubernetes condition and status reasons, so they are
// CamelCase.
type Reason string

const (
	// ReasonEmpty means nothing, or only whitespace, was written.
	ReasonEmpty Reason = "Empty"
	// ReasonTooLarge means the message is over MaxMessageBytes; the kubelet
	// truncates such a message, so its JSON would be cut.
	ReasonTooLarge Reason = "TooLarge"
	// ReasonNotJSON means the message is not one parseable JSON value.
	ReasonNotJSON Reason = "NotJSON"
	// ReasonNotObject means the message is valid JSON but not an object, for
	// example a list or a number.
	ReasonNotObject Reason = "NotObject"
	// ReasonNonNumeric means a metric's value is not a JSON number: it is a
	// string, a boolean, null, an object or an array.
	ReasonNonNumeric Reason = "NonNumeric"
	// ReasonNonFinite means a metric's value is NaN, Infinity or -Infinity:
	// bare tokens that Python's json.dumps writes but that are not JSON.
	ReasonNonFinite Reason = "NonFinite"
	// ReasonOutOfRange means a metric's value is a JSON number too large for
	// a float64, such as 1e400: it has no nearest float64 but infinity. A
	// number too small, such as 1e-400, is not an error: it rounds to 0.
	ReasonOutOfRange Reason = "OutOfRange"
	// ReasonBadName means a metric name is empty, longer than MaxNameLength,
	// or appears more than once.
	ReasonBadName Reason = "BadName"
	// ReasonTooMany means the message reports more than MaxMetrics metrics.
	ReasonTooMany Reason = "TooMany"
)

// Error is the error Parse returns when a termination message cannot be
// read.
type Error struct {
	// Reason says, in one stable CamelCase word, what is wrong.
	Reason Reason
	// Message is a one-line human sentence that says what was read, with an
	// excerpt quoted with %q, and what was expected.
	Message string
}

// Error returns e.Message.
func (e *Error) Error() string {
	return e.Message
}

func errorf(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Metrics maps a metric name to its value as a canonical decimal string.
type Metrics map[string]string

// Parse reads a termination message: a JSON object whose values are finite
// numbers, with optional whitespace around it. It records each value as a
// canonical decimal string (see the package documentation). An empty object
// yields an empty, non-nil Metrics.
//
// Parse accepts every number JSON allows, in any spelling (-0, 1E+2,
// 1.7e308), and reads it as the nearest float64, as encoding/json and
// Python's json.loads do: a number below the smallest float64, such as
// 1e-400, is recorded as "0". A number too large for a float64, such as
// 1e400, has no nearest float64 but infinity, so Parse refuses it with
// ReasonOutOfRange.
//
// Any error Parse returns is an *Error. When several things are wrong, Parse
// reports the first of: a message that is too large or empty; a syntax error
// (NotJSON, or NonFinite when the error is a bare NaN or Infinity value); a
// value that is not an object; more than MaxMetrics metrics; the first bad
// metric in the order written.
func Parse(message string) (Metrics, error) {
	if len(message) > MaxMessageBytes {
		return nil, errorf(ReasonTooLarge,
			"termination message is %d bytes; at most %d are kept, so the JSON would be cut",
			len(message), MaxMessageBytes)
	}
	text := strings.Trim(message, jsonSpace)
	if text == "" {
		return nil, errorf(ReasonEmpty,
			"termination message is empty; expected a JSON object of metrics such as %s", example)
	}

	// Unmarshal checks the whole text, trailing data included, and its
	// *json.SyntaxError reads better than the Decoder's io.ErrUnexpectedEOF.
	var raw json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		if key, token, ok := findNonFinite(text); ok {
			return nil, errorf(ReasonNonFinite,
				"metric %s is %s; metrics must be finite numbers", quoteName(key), token)
		}
		hint := ""
		if len(message) == MaxMessageBytes {
			hint = fmt.Sprintf(" (it is exactly %d bytes, so the kubelet may have cut its beginning)", MaxMessageBytes)
		}
		return nil, errorf(ReasonNotJSON,
			"termination message is not JSON: %v; read %s%s", err, quoteText(text), hint)
	}

	metrics := Metrics{}
	var first *Error
	count := 0
	isObject, err := members(text, func(name string, value json.RawMessage, _ int64) bool {
		count++
		if first == nil {
			first = metrics.add(name, value)
		}
		return true
	})
	switch {
	case err != nil:
		// The text is valid JSON, so the Decoder should not fail.
		return nil, errorf(ReasonNotJSON,
			"termination message is not JSON: %v; read %s", err, quoteText(text))
	case !isObject:
		return nil, errorf(ReasonNotObject,
			"termination message is %s, not an object of metrics such as %s; read %s",
			kindOf(text), example, quoteText(text))
	case count > MaxMetrics:
		return nil, errorf(ReasonTooMany,
			"termination message has %d metrics; at most %d are allowed", count, MaxMetrics)
	case first != nil:
		return nil, first
	}
	return metrics, nil
}

// add checks one member of the object and records it in m.
func (m Metrics) add(name string, value json.RawMessage) *Error {
	switch {
	case name == "":
		return errorf(ReasonBadName,
			"a metric has an empty name; names must be 1 to %d bytes", MaxNameLength)
	case len(name) > MaxNameLength:
		return errorf(ReasonBadName,
			"metric name %s is %d bytes; names must be at most %d bytes",
			quoteName(name), len(name), MaxNameLength)
	}
	if _, ok := m[name]; ok {
		return errorf(ReasonBadName,
			"metric %s appears more than once; each metric must be reported once", quoteName(name))
	}

	value = bytes.Trim(value, jsonSpace)
	switch value[0] {
	case '"':
		var s string
		_ = json.Unmarshal(value, &s)
		return errorf(ReasonNonNumeric,
			"metric %s is %s (a string); metrics must be JSON numbers", quoteName(name), quoteText(s))
	case 't', 'f':
		return errorf(ReasonNonNumeric,
			"metric %s is %s (a boolean); metrics must be JSON numbers", quoteName(name), value)
	case 'n':
		return errorf(ReasonNonNumeric,
			"metric %s is null; metrics must be JSON numbers", quoteName(name))
	case '{':
		return errorf(ReasonNonNumeric,
			"metric %s is an object, read %s; metrics must be JSON numbers", quoteName(name), quoteText(string(value)))
	case '[':
		return errorf(ReasonNonNumeric,
			"metric %s is an array, read %s; metrics must be JSON numbers", quoteName(name), quoteText(string(value)))
	}

	// A JSON number is always valid Go float syntax, so the only error
	// ParseFloat can return here is ErrRange, for an overflow; it never
	// returns NaN, nor an infinity without that error. An underflow rounds to
	// zero without error.
	v, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		literal := string(value)
		if len(literal) > maxNumberExcerpt {
			literal = literal[:maxNumberExcerpt] + "..."
		}
		return errorf(ReasonOutOfRange,
			"metric %s is %s, which is too large for a 64-bit float, whose largest magnitude is %g",
			quoteName(name), literal, math.MaxFloat64)
	}
	m[name] = Format(v)
	return nil
}

// Format spells v as a canonical decimal string: plain decimal notation for
// 1e-6 <= |v| < 1e21, the shortest exponent notation otherwise, with the
// fewest digits that read back as v, and "0" for both zeros.
func Format(v float64) string {
	if v == 0 {
		return "0"
	}
	if abs := math.Abs(v); abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// members calls visit for each member of the JSON object in text, in order,
// with the member's name, its raw value and the offset in text just past the
// value, until visit returns false. text must be one valid JSON value;
// members reports whether it is an object.
func members(text string, visit func(name string, value json.RawMessage, end int64) bool) (bool, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	// Without UseNumber, Token reads a top-level number as a float64 and
	// fails on one out of its range, such as 1e700, which is valid JSON.
	dec.UseNumber()
	token, err := dec.Token()
	if err != nil {
		return false, err
	}
	if token != json.Delim('{') {
		return false, nil
	}
	for dec.More() {
		token, err := dec.Token()
		if err != nil {
			return true, err
		}
		name, ok := token.(string)
		if !ok {
			return true, fmt.Errorf("object key is %v, not a string", token)
		}
		// Decoding into a RawMessage keeps a number's literal exactly as
		// written (as UseNumber would), and skips over a nested object or
		// array whole.
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return true, err
		}
		if !visit(name, value, dec.InputOffset()) {
			break
		}
	}
	return true, nil
}

// nonFiniteTokens are the bare tokens Python's json module writes for
// non-finite floats. -Infinity comes before Infinity so it matches whole.
var nonFiniteTokens = []string{"-Infinity", "Infinity", "NaN"}

// findNonFinite looks, in text that is not valid JSON, for a metric whose
// value is one of nonFiniteTokens. It quotes each such token found in value
// position (after a colon, outside strings) and, if that makes the text a
// valid JSON object, returns the name of the first member whose value is a
// quoted token. It matches by offset, so a metric whose value really is the
// string "NaN" is not mistaken for one.
func findNonFinite(text string) (name, token string, ok bool) {
	var b strings.Builder
	quoted := map[int64]string{} // offset just past each quoted token
	inString, escaped := false, false
	last := byte(0) // the last byte outside strings that is not whitespace
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			b.WriteByte(c)
			continue
		}
		if last == ':' {
			if t := nonFiniteAt(text[i:]); t != "" {
				b.WriteString(strconv.Quote(t))
				quoted[int64(b.Len())] = t
				i += len(t) - 1
				last = '"'
				continue
			}
		}
		if c == '"' {
			inString = true
		}
		if !strings.ContainsRune(jsonSpace, rune(c)) {
			last = c
		}
		b.WriteByte(c)
	}
	if len(quoted) == 0 || !json.Valid([]byte(b.String())) {
		return "", "", false
	}
	_, _ = members(b.String(), func(n string, _ json.RawMessage, end int64) bool {
		if t, found := quoted[end]; found {
			name, token, ok = n, t, true
			return false
		}
		return true
	})
	return name, token, ok
}

// nonFiniteAt returns the non-finite token s starts with, or "".
func nonFiniteAt(s string) string {
	for _, t := range nonFiniteTokens {
		if strings.HasPrefix(s, t) {
			return t
		}
	}
	return ""
}

// kindOf names the kind of the valid JSON value text, which is not an object.
func kindOf(text string) string {
	switch text[0] {
	case '[':
		return "a JSON array"
	case '"':
		return "a JSON string"
	case 't', 'f':
		return "a JSON boolean"
	case 'n':
		return "JSON null"
	default:
		return "a JSON number"
	}
}

// excerpt quotes s with %q, cut so that the quoted text, without its
// quotes, is at most max bytes; "..." after the closing quote marks a cut.
// It bounds the quoted text rather than s because quoting can make a byte
// four bytes long (\x1d).
func excerpt(s string, max int) string {
	quoted := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		n := len(strconv.Quote(s[i:i+size])) - 2
		if quoted+n > max {
			return fmt.Sprintf("%q...", s[:i])
		}
		quoted += n
		i += size
	}
	return fmt.Sprintf("%q", s)
}

// quoteText quotes an excerpt of what was read for an error message.
func quoteText(s string) string {
	return excerpt(s, maxExcerpt)
}

// quoteName quotes a metric name for an error message. A name of at most
// MaxNameLength printable ASCII bytes is quoted whole.
func quoteName(name string) string {
	return excerpt(name, MaxNameLength)
}

// Value parses a decimal string recorded by Parse back into a float64 for
// comparison. It accepts only plain decimal and exponent notation, such as
// "0.231", "-4" or "2.5e-09", and finite values; it rejects "NaN", "Inf",
// hexadecimal and anything else strconv.ParseFloat would otherwise accept.
func Value(s string) (float64, error) {
	if s == "" || strings.Trim(s, "0123456789.eE+-") != "" {
		return 0, fmt.Errorf("metric value %q is not a decimal number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("metric value %q is not a finite decimal number", s)
	}
	return v, nil
}

// Better reports whether objective value a is strictly better than b for the
// goal (minimize == true: lower is better). Both are decimal strings as
// recorded by Parse. An unparseable value is never better than a parseable
// one, and a parseable value is always better than an unparseable one; equal
// values, and two unparseable values, are not better than each other.
func Better(a, b string, minimize bool) bool {
	va, errA := Value(a)
	if errA != nil {
		return false
	}
	vb, errB := Value(b)
	if errB != nil {
		return true
	}
	if minimize {
		return va < vb
	}
	return va > vb
}
