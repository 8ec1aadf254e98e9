// Package metrics reads the final metrics a trainer container reports in its
// termination message, and compares objective values.
//
// A trainer reports its metrics by writing one JSON object of numbers to its
// termination message file (/dev/termination-log by default), for example:
//
//	{"val_loss": 0.231, "accuracy": 0.912}
//
// The kubelet copies at most MaxMessageBytes of that file, from its end, into
// the container's status, where the operator reads it with Parse. Parse
// records every value as a canonical decimal string, because the API has no
// floating-point fields: the same number is spelled the same way however the
// trainer wrote it (1, 1.0 and 1e0 are all recorded as "1"), so status diffs
// and kubectl columns stay stable. Value and Better turn those strings back
// into numbers to pick the best trial.
//
// When a message cannot be read, Parse returns an *Error whose Reason is a
// stable CamelCase word suitable for a condition reason, and whose Message is
// a one-line sentence that quotes what was read and says what was expected.
package metrics
