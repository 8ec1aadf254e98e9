package stepmetrics

import (
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/crucible-dev/crucible/internal/metrics"
)

func TestParseReport(t *testing.T) {
	long := strings.Repeat("n", metrics.MaxNameLength+1)
	tests := []struct {
		name    string
		body    string
		limits  Limits
		want    Report
		reason  metrics.Reason
		message string
	}{
		{
			name: "report",
			body: ` {"step": 10, "metrics": {"loss": 0.25, "accuracy": 1e-7}} ` + "\n",
			want: Report{Step: 10, Metrics: map[string]float64{"loss": 0.25, "accuracy": 1e-7}},
		},
		{
			name: "fields in any order; a whole step in any spelling",
			body: `{"metrics": {"loss": -0}, "step": 1e1}`,
			want: Report{Step: 10, Metrics: map[string]float64{"loss": 0}},
		},
		{
			name: "step 10.0 and the largest step",
			body: `{"step": 1000000000000.0, "metrics": {"a": 1}}`,
			want: Report{Step: MaxStep, Metrics: map[string]float64{"a": 1}},
		},
		{
			name: "a number below the smallest float64 rounds to 0",
			body: `{"step": 0, "metrics": {"a": 1e-400}}`,
			want: Report{Step: 0, Metrics: map[string]float64{"a": 0}},
		},
		{
			name:   "too large",
			body:   `{"step": 1, "metrics": {"loss": 0.25}}`,
			limits: Limits{MaxBytes: 20},
			reason: metrics.ReasonTooLarge, message: "report is more than 20 bytes; send fewer or shorter metrics",
		},
		{
			name:   "empty",
			body:   " \n",
			reason: metrics.ReasonEmpty, message: `report is empty; expected a JSON object such as {"step": 10, "metrics": {"loss": 0.25}}`,
		},
		{
			name:   "not JSON",
			body:   `step=1`,
			reason: metrics.ReasonNotJSON, message: `report is not JSON: invalid character 's' looking for beginning of value; read "step=1"`,
		},
		{
			name:   "trailing data",
			body:   `{"step": 1, "metrics": {"a": 1}} {}`,
			reason: metrics.ReasonNotJSON, message: `report is not JSON: invalid character '{' after top-level value; read "{\"step\": 1, \"metrics\": {\"a\": 1}} {}"`,
		},
		{
			name:   "NaN, as Python writes it",
			body:   `{"step": 1, "metrics": {"acc": 1, "loss": NaN}}`,
			reason: metrics.ReasonNonFinite,
			message: `metric "loss" is NaN; metrics must be finite numbers ` +
				`(Python's json.dumps writes NaN and Infinity, which are not JSON)`,
		},
		{
			name:   "-Infinity",
			body:   `{"step": 1, "metrics": {"a\"b": -Infinity}}`,
			reason: metrics.ReasonNonFinite,
			message: `metric "a\"b" is -Infinity; metrics must be finite numbers ` +
				`(Python's json.dumps writes NaN and Infinity, which are not JSON)`,
		},
		{
			name:   "infinite step",
			body:   `{"step": Infinity, "metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: "step is Infinity; steps are whole numbers from 0 to 1000000000000",
		},
		{
			name:   "not an object",
			body:   `[1, 2]`,
			reason: metrics.ReasonNotObject, message: `report is an array, not an object such as {"step": 10, "metrics": {"loss": 0.25}}; read "[1, 2]"`,
		},
		{
			name:   "unknown field",
			body:   `{"step": 1, "metric": {"a": 1}}`,
			reason: ReasonBadReport, message: `report has a field "metric"; a report has only "step" and "metrics", as in {"step": 10, "metrics": {"loss": 0.25}}`,
		},
		{
			name:   "field names are exact",
			body:   `{"Step": 1, "metrics": {"a": 1}}`,
			reason: ReasonBadReport, message: `report has a field "Step"; a report has only "step" and "metrics", as in {"step": 10, "metrics": {"loss": 0.25}}`,
		},
		{
			name:   "field twice",
			body:   `{"step": 1, "step": 2, "metrics": {"a": 1}}`,
			reason: ReasonBadReport, message: `report has the field "step" twice`,
		},
		{
			name:   "no step",
			body:   `{"metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: `report has no step; expected an object such as {"step": 10, "metrics": {"loss": 0.25}}`,
		},
		{
			name:   "no metrics",
			body:   `{"step": 1}`,
			reason: ReasonBadReport, message: `report has no metrics; expected an object such as {"step": 10, "metrics": {"loss": 0.25}}`,
		},
		{
			name:   "step is a string",
			body:   `{"step": "1", "metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: `step is a string, read "\"1\""; steps are whole numbers from 0 to 1000000000000`,
		},
		{
			name:   "negative step",
			body:   `{"step": -1, "metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: "step is -1; steps are whole numbers from 0 to 1000000000000",
		},
		{
			name:   "step too large",
			body:   `{"step": 1000000000001, "metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: "step is 1000000000001; steps are whole numbers from 0 to 1000000000000",
		},
		{
			name:   "step overflows a float64",
			body:   `{"step": 1e400, "metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: "step is 1e400; steps are whole numbers from 0 to 1000000000000",
		},
		{
			name:   "fractional step",
			body:   `{"step": 2.5, "metrics": {"a": 1}}`,
			reason: ReasonBadStep, message: "step is 2.5, not a whole number; steps are whole numbers from 0 to 1000000000000",
		},
		{
			name:   "metrics is an array",
			body:   `{"step": 1, "metrics": [0.5]}`,
			reason: ReasonBadReport, message: `metrics is an array, read "[0.5]"; expected an object of numbers such as {"loss": 0.25}`,
		},
		{
			name:   "metrics is empty",
			body:   `{"step": 1, "metrics": {}}`,
			reason: ReasonBadReport, message: `metrics is empty; a report carries at least one metric, as in {"step": 10, "metrics": {"loss": 0.25}}`,
		},
		{
			name:   "too many metrics",
			body:   `{"step": 1, "metrics": {"a": 1, "b": 2, "c": "x"}}`,
			limits: Limits{MaxMetrics: 2},
			reason: metrics.ReasonTooMany, message: "report has 3 metrics; at most 2 are allowed",
		},
		{
			name:   "empty name",
			body:   `{"step": 1, "metrics": {"": 1}}`,
			reason: metrics.ReasonBadName, message: "a metric has an empty name; names must be 1 to 128 bytes",
		},
		{
			name:    "name too long",
			body:    `{"step": 1, "metrics": {"` + long + `": 1}}`,
			reason:  metrics.ReasonBadName,
			message: `metric name "` + long[:maxExcerpt] + `"... is 129 bytes; names must be at most 128 bytes`,
		},
		{
			name:   "name twice",
			body:   `{"step": 1, "metrics": {"a": 1, "a": 1}}`,
			reason: metrics.ReasonBadName, message: `metric "a" appears more than once; each metric must be reported once`,
		},
		{
			name:   "string value; the first bad metric is reported",
			body:   `{"step": 1, "metrics": {"a": 1, "b": "0.5", "c": null}}`,
			reason: metrics.ReasonNonNumeric, message: `metric "b" is a string, read "\"0.5\""; metrics must be JSON numbers`,
		},
		{
			name:   "null value",
			body:   `{"step": 1, "metrics": {"c": null}}`,
			reason: metrics.ReasonNonNumeric, message: `metric "c" is null, read "null"; metrics must be JSON numbers`,
		},
		{
			name:   "object value",
			body:   `{"step": 1, "metrics": {"c": {"d": 1}}}`,
			reason: metrics.ReasonNonNumeric, message: `metric "c" is an object, read "{\"d\": 1}"; metrics must be JSON numbers`,
		},
		{
			name:    "value too large",
			body:    `{"step": 1, "metrics": {"c": -1e400}}`,
			reason:  metrics.ReasonOutOfRange,
			message: `metric "c" is -1e400, which is too large for a 64-bit float, whose largest magnitude is 1.7976931348623157e+308`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReport(strings.NewReader(tc.body), tc.limits)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("ParseReport: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ParseReport (-want +got):\n%s", diff)
				}
				return
			}
			var e *metrics.Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseReport = %+v, %v; want a *metrics.Error", got, err)
			}
			if diff := cmp.Diff(&metrics.Error{Reason: tc.reason, Message: tc.message}, e); diff != "" {
				t.Errorf("ParseReport error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportReadError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := ParseReport(iotest.ErrReader(boom), Limits{}); !errors.Is(err, boom) {
		t.Errorf("ParseReport = %v, want the read error", err)
	}
}

// TestParseReportReadsAtMostMaxBytes checks that a huge body is not read
// whole.
func TestParseReportReadsAtMostMaxBytes(t *testing.T) {
	r := &countingReader{r: io.LimitReader(zeros{}, 1<<30)}
	_, err := ParseReport(r, Limits{})
	if !isReason(err, metrics.ReasonTooLarge) {
		t.Errorf("ParseReport = %v, want TooLarge", err)
	}
	if r.n > DefaultMaxBytes+1+32<<10 {
		t.Errorf("ParseReport read %d bytes of a 1 GiB body", r.n)
	}
}

func isReason(err error, reason metrics.Reason) bool {
	var e *metrics.Error
	return errors.As(err, &e) && e.Reason == reason
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestFormatValueAgreesWithMetrics holds FormatValue to the spelling of
// metrics.Parse, so a step metric and a final metric of the same value read
// the same.
func TestFormatValueAgreesWithMetrics(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.0 / 3, 1e-6, 9.99e-7, 1e21, 9.99e20, 123456789012345678,
		math.MaxFloat64, -math.SmallestNonzeroFloat64, 2.5e-9, -0.0000012345678901234567}
	for _, v := range values {
		parsed, err := metrics.Parse(`{"x": ` + strconv.FormatFloat(v, 'g', -1, 64) + `}`)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatValue(v); got != parsed["x"] {
			t.Errorf("FormatValue(%v) = %q; metrics.Parse records %q", v, got, parsed["x"])
		}
		back, err := metrics.Value(FormatValue(v))
		if err != nil || back != v {
			t.Errorf("metrics.Value(FormatValue(%v)) = %v, %v", v, back, err)
		}
	}
}
