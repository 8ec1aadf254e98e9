package stepmetrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/crucible-dev/crucible/internal/metrics"
)

const (
	// DefaultMaxBytes is Limits.MaxBytes when it is 0: 16 KiB holds
	// DefaultMaxMetrics metrics with names of the longest allowed,
	// metrics.MaxNameLength bytes, and values of 25 characters, about 5 KiB,
	// three times over.
	DefaultMaxBytes = 16 << 10
	// DefaultMaxMetrics is Limits.MaxMetrics when it is 0. Trainers report a
	// handful of metrics per step; 32 is half of what a termination message
	// may carry (metrics.MaxMetrics).
	DefaultMaxMetrics = 32
	// MaxStep is the largest step a report may carry: 10^12 is a million
	// steps a second for eleven days, and keeps a step exact in a float64 and
	// in JavaScript.
	MaxStep = 1_000_000_000_000
)

// Reasons ParseReport gives besides those of package metrics, which it also
// uses: Empty, TooLarge, NotJSON, NotObject, NonNumeric, NonFinite,
// OutOfRange, BadName, TooMany.
const (
	// ReasonBadStep means the step is missing, not a whole number, or out of
	// 0 to MaxStep.
	ReasonBadStep metrics.Reason = "BadStep"
	// ReasonBadReport means the report is a JSON object of the wrong shape: a
	// field other than step and metrics, a field given twice, or metrics
	// missing, empty or not an object.
	ReasonBadReport metrics.Reason = "BadReport"
)

// example is the shape of report ParseReport expects, quoted in errors.
const example = `{"step": 10, "metrics": {"loss": 0.25}}`

// maxExcerpt bounds, in bytes before quoting, what an error quotes of what
// was read.
const maxExcerpt = 120

// Limits bounds what ParseReport accepts. The zero Limits is the defaults.
type Limits struct {
	// MaxBytes bounds the report's size in bytes. 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxMetrics bounds how many metrics one report carries. 0 means
	// DefaultMaxMetrics.
	MaxMetrics int
}

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxMetrics <= 0 {
		l.MaxMetrics = DefaultMaxMetrics
	}
	return l
}

// Report is one step's metrics.
type Report struct {
	// Step is the trainer's step number, from 0 to MaxStep.
	Step int64
	// Metrics maps each metric's name to its finite value.
	Metrics map[string]float64
}

// ParseReport reads one report from body: a JSON object with exactly two
// fields, "step", a whole number from 0 to MaxStep (10, 10.0 and 1e1 are
// all 10), and "metrics", a non-empty object of finite numbers, such as
//
//	{"step": 10, "metrics": {"loss": 0.25, "accuracy": 0.91}}
//
// It reads at most limits.MaxBytes+1 bytes of body. When the report cannot be
// accepted, the error is a *metrics.Error whose Reason is one word (TooLarge
// for a body over limits.MaxBytes; see the Reason constants here and in
// package metrics) and whose Message is one sentence that says what was read
// and what was expected. When several things are wrong it reports the first
// of: size, emptiness, JSON syntax, shape, step, the number of metrics, the
// first bad metric in the order written. An error reading body is returned
// as it is.
func ParseReport(body io.Reader, limits Limits) (Report, error) {
	limits = limits.WithDefaults()
	data, err := io.ReadAll(io.LimitReader(body, limits.MaxBytes+1))
	if err != nil {
		return Report{}, err
	}
	if int64(len(data)) > limits.MaxBytes {
		return Report{}, errorf(metrics.ReasonTooLarge,
			"report is more than %d bytes; send fewer or shorter metrics", limits.MaxBytes)
	}
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return Report{}, errorf(metrics.ReasonEmpty, "report is empty; expected a JSON object such as %s", example)
	}
	var raw json.RawMessage
	if err := json.Unmarshal(text, &raw); err != nil {
		if e := nonFinite(text, err); e != nil {
			return Report{}, e
		}
		return Report{}, errorf(metrics.ReasonNotJSON, "report is not JSON: %v; read %s", err, quote(text))
	}
	if text[0] != '{' {
		return Report{}, errorf(metrics.ReasonNotObject,
			"report is %s, not an object such as %s; read %s", kindOf(text), example, quote(text))
	}

	var step, values json.RawMessage
	var shapeErr error
	_ = members(text, func(name string, value json.RawMessage) bool {
		var field *json.RawMessage
		switch name {
		case "step":
			field = &step
		case "metrics":
			field = &values
		default:
			shapeErr = errorf(ReasonBadReport,
				`report has a field %s; a report has only "step" and "metrics", as in %s`, quote([]byte(name)), example)
			return false
		}
		if *field != nil {
			shapeErr = errorf(ReasonBadReport, "report has the field %q twice", name)
			return false
		}
		*field = value
		return true
	})
	switch {
	case shapeErr != nil:
		return Report{}, shapeErr
	case step == nil:
		return Report{}, errorf(ReasonBadStep, "report has no step; expected an object such as %s", example)
	case values == nil:
		return Report{}, errorf(ReasonBadReport, "report has no metrics; expected an object such as %s", example)
	}

	r := Report{}
	if r.Step, err = parseStep(step); err != nil {
		return Report{}, err
	}
	if r.Metrics, err = parseMetrics(values, limits.MaxMetrics); err != nil {
		return Report{}, err
	}
	return r, nil
}

// parseStep reads a step: a JSON number with a whole value from 0 to
// MaxStep.
func parseStep(raw json.RawMessage) (int64, error) {
	if k := kindOf(raw); k != "a JSON number" {
		return 0, errorf(ReasonBadStep, "step is %s, read %s; steps are whole numbers from 0 to %d", k, quote(raw), MaxStep)
	}
	literal := string(raw)
	v, err := strconv.ParseFloat(literal, 64)
	// A JSON number is valid Go float syntax; ParseFloat fails only on an
	// overflow, which is out of range as well.
	if err != nil || v < 0 || v > MaxStep {
		return 0, errorf(ReasonBadStep, "step is %s; steps are whole numbers from 0 to %d", excerpt(literal), MaxStep)
	}
	if v != math.Trunc(v) {
		return 0, errorf(ReasonBadStep, "step is %s, not a whole number; steps are whole numbers from 0 to %d", excerpt(literal), MaxStep)
	}
	// Every whole number up to MaxStep is exact in a float64.
	return int64(v), nil
}

// parseMetrics reads the metrics object of a report.
func parseMetrics(raw json.RawMessage, maxMetrics int) (map[string]float64, error) {
	if raw[0] != '{' {
		return nil, errorf(ReasonBadReport, "metrics is %s, read %s; expected an object of numbers such as %s",
			kindOf(raw), quote(raw), `{"loss": 0.25}`)
	}
	out := map[string]float64{}
	var first error
	count := 0
	_ = members(raw, func(name string, value json.RawMessage) bool {
		count++
		if first == nil {
			first = addMetric(out, name, value)
		}
		return true
	})
	switch {
	case count == 0:
		return nil, errorf(ReasonBadReport, "metrics is empty; a report carries at least one metric, as in %s", example)
	case count > maxMetrics:
		return nil, errorf(metrics.ReasonTooMany, "report has %d metrics; at most %d are allowed", count, maxMetrics)
	case first != nil:
		return nil, first
	}
	return out, nil
}

// addMetric checks one member of the metrics object and adds it to m.
func addMetric(m map[string]float64, name string, value json.RawMessage) error {
	switch {
	case name == "":
		return errorf(metrics.ReasonBadName, "a metric has an empty name; names must be 1 to %d bytes", metrics.MaxNameLength)
	case len(name) > metrics.MaxNameLength:
		return errorf(metrics.ReasonBadName, "metric name %s is %d bytes; names must be at most %d bytes",
			quote([]byte(name)), len(name), metrics.MaxNameLength)
	}
	if _, ok := m[name]; ok {
		return errorf(metrics.ReasonBadName, "metric %q appears more than once; each metric must be reported once", name)
	}
	if k := kindOf(value); k != "a JSON number" {
		return errorf(metrics.ReasonNonNumeric, "metric %q is %s, read %s; metrics must be JSON numbers", name, k, quote(value))
	}
	v, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		return errorf(metrics.ReasonOutOfRange,
			"metric %q is %s, which is too large for a 64-bit float, whose largest magnitude is %g",
			name, excerpt(string(value)), math.MaxFloat64)
	}
	m[name] = v
	return nil
}

// members calls visit with the name and raw value of each member of the JSON
// object text, in order, until visit returns false. text must be a valid
// JSON object.
func members(text []byte, visit func(name string, value json.RawMessage) bool) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		token, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := token.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return err
		}
		if !visit(name, bytes.TrimSpace(value)) {
			return nil
		}
	}
	return nil
}

// nonFinite returns the error for text whose JSON syntax error err is a bare
// NaN, Infinity or -Infinity value, as Python's json.dumps writes for
// non-finite floats; nil otherwise. It names the field whose value it is.
func nonFinite(text []byte, err error) error {
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) || syntax.Offset < 1 || syntax.Offset > int64(len(text)) {
		return nil
	}
	start := int(syntax.Offset) - 1 // the invalid character
	token := ""
	switch rest := text[start:]; {
	case bytes.HasPrefix(rest, []byte("NaN")):
		token = "NaN"
	case bytes.HasPrefix(rest, []byte("Infinity")):
		token = "Infinity"
		if start > 0 && text[start-1] == '-' {
			token, start = "-Infinity", start-1
		}
	default:
		return nil
	}
	key, depth, ok := keyBefore(text[:start])
	switch {
	case !ok:
		return errorf(metrics.ReasonNonFinite, "report has a value %s; values must be finite numbers", token)
	case depth == 1 && key == "step":
		return errorf(ReasonBadStep, "step is %s; steps are whole numbers from 0 to %d", token, MaxStep)
	default:
		return errorf(metrics.ReasonNonFinite,
			"metric %s is %s; metrics must be finite numbers (Python's json.dumps writes NaN and Infinity, which are not JSON)",
			quote([]byte(key)), token)
	}
}

// keyBefore reads prefix, the text of a JSON document up to a value, and
// returns the object key the value belongs to and the depth of that object
// (1 for the top level), if prefix ends with a string, a colon and
// whitespace.
func keyBefore(prefix []byte) (key string, depth int, ok bool) {
	inString, escaped := false, false
	strStart, strEnd := -1, -1
	for i, c := range prefix {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString, strEnd = false, i+1
		case inString:
		case c == '"':
			inString, strStart = true, i
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	if inString || strStart < 0 || strEnd < strStart {
		return "", 0, false
	}
	if string(bytes.TrimSpace(prefix[strEnd:])) != ":" {
		return "", 0, false
	}
	if err := json.Unmarshal(prefix[strStart:strEnd], &key); err != nil {
		return "", 0, false
	}
	return key, depth, true
}

// kindOf names the kind of the valid JSON value raw.
func kindOf(raw []byte) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a JSON number"
	}
}

// quote quotes what was read for an error message, cut to maxExcerpt bytes
// at a character boundary; "..." after the closing quote marks a cut.
func quote(b []byte) string {
	if len(b) <= maxExcerpt {
		return strconv.Quote(string(b))
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strconv.Quote(string(b[:cut])) + "..."
}

// excerpt cuts a number literal for an error message.
func excerpt(literal string) string {
	const max = 40
	if len(literal) > max {
		return literal[:max] + "..."
	}
	return literal
}

func errorf(reason metrics.Reason, format string, args ...any) *metrics.Error {
	return &metrics.Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// FormatValue spells v as metrics.Format does: a trial's metrics and its
// step metrics read alike.
func FormatValue(v float64) string { return metrics.Format(v) }
