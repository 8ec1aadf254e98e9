// Package stepmetrics owns the metrics a trainer reports while it runs, step
// by step, as opposed to the final metrics of its termination message
// (package metrics):
//
//   - ParseReport reads one report, a JSON object such as
//     {"step": 40, "metrics": {"loss": 0.52}}, within size and count limits,
//     and says precisely what is wrong with one it refuses.
//   - History keeps, per metric, a bounded and downsampled curve of the
//     reported values, whose kept steps are a pure function of the reported
//     steps, so a Trial's status can hold the curve without growing: at most
//     MaxHistoryBytes of JSON, whatever the trainer reports.
//   - Limiter bounds how often each trial may report, and says when it may
//     report again.
//
// Package endpoint serves reports over HTTPS; package trainer (pkg/trainer)
// and docs/step-metrics-client.py send them. Metric names follow the rule of
// the termination message: 1 to metrics.MaxNameLength bytes, each name once
// per report. Values are finite numbers and are recorded as the canonical
// decimal strings package metrics writes (see FormatValue), because the API
// has no floating-point fields.
package stepmetrics
