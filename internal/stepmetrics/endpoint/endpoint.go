package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"

	"github.com/crucible-dev/crucible/internal/metrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// PathPattern is the URL path a trial reports to, in net/http's ServeMux
// syntax. (The Handler matches it itself, so that it answers every other
// path, cleaned or not, with a JSON 404 rather than a redirect.)
const PathPattern = "/v1/namespaces/{namespace}/trials/{name}/metrics"

// AudiencePrefix starts every trial's audience.
const AudiencePrefix = "crucible.dev/trial/"

// maxTokenBytes bounds the bearer token the Handler passes on. A projected
// ServiceAccount token is 1 to 2 KiB.
const maxTokenBytes = 16 << 10

// maxMessageBytes bounds an error message the Handler sends.
const maxMessageBytes = 1024

// Path returns the URL path trial namespace/name reports to.
func Path(namespace, name string) string {
	return "/v1/namespaces/" + namespace + "/trials/" + name + "/metrics"
}

// Audience returns the audience the endpoint demands of the token of trial
// namespace/name, and that the operator puts in the projected token of the
// trial's Pod: "crucible.dev/trial/<namespace>/<name>". A token for one
// trial is therefore refused for every other.
func Audience(namespace, name string) string {
	return AudiencePrefix + namespace + "/" + name
}

// Identity is who a token authenticates: a ServiceAccount, and the Pod the
// token is bound to.
type Identity struct {
	// Namespace is the ServiceAccount's namespace.
	Namespace string
	// ServiceAccount is the ServiceAccount's name.
	ServiceAccount string
	// PodName is the name of the Pod the token is bound to, or "".
	PodName string
	// PodUID is that Pod's UID, or "".
	PodUID string
}

// Errors an Authenticator wraps to say why it refuses a token. Their
// messages, with what the Authenticator adds, are sent to the client.
var (
	// ErrUnauthenticated: the token is not valid (malformed, expired,
	// revoked). The Handler answers 401.
	ErrUnauthenticated = errors.New("the token is not valid")
	// ErrForbidden: the token is valid but not for this trial (another
	// audience), or not a ServiceAccount's. The Handler answers 403.
	ErrForbidden = errors.New("the token is not allowed to report for this trial")
)

// Authenticator checks a bearer token.
type Authenticator interface {
	// Authenticate returns who token authenticates, if it is valid for
	// audience. It returns an error wrapping ErrUnauthenticated or
	// ErrForbidden for a token it refuses, and any other error when it could
	// not decide (the Handler answers 503).
	Authenticate(ctx context.Context, token, audience string) (Identity, error)
}

// TrialInfo is what the Handler needs of a Trial.
type TrialInfo struct {
	// UID is the Trial's UID.
	UID string
	// JobName is the name of the Trial's Job, or "" before it has one.
	JobName string
	// Ended says the Trial has ended and takes no more reports.
	Ended bool
}

// ErrNotFound is what Trials wraps for a Trial or Pod that does not exist.
// A Kubernetes NotFound error is understood as well.
var ErrNotFound = errors.New("not found")

// Trials reads Trials and Pods, typically from the manager's cache.
type Trials interface {
	// Lookup returns the Trial namespace/name.
	Lookup(ctx context.Context, namespace, name string) (TrialInfo, error)
	// PodJob returns the name of the Job that controls the Pod
	// namespace/podName, or "" if none does. It returns an error wrapping
	// ErrNotFound if there is no such Pod or its UID is not podUID.
	PodJob(ctx context.Context, namespace, podName, podUID string) (string, error)
}

// ErrTrialEnded is what a Sink wraps when the Trial ended before the report
// could be recorded. The Handler answers 409.
var ErrTrialEnded = errors.New("the trial has ended")

// Sink records reports. It must be safe for concurrent use.
type Sink interface {
	// Record records report for the Trial namespace/trial of UID uid. It
	// returns an error wrapping stepmetrics.ErrStepConflict for a report
	// that conflicts with those recorded, or ErrTrialEnded; the Handler
	// answers 409 to both, with the error's message. Other errors are not
	// shown to the client (the Handler answers 500).
	Record(ctx context.Context, namespace, trial, uid string, report stepmetrics.Report) error
}

// Reasons in the JSON body of a refusal, besides those of ParseReport
// (metrics.Reason and stepmetrics.Reason* values).
const (
	ReasonNotFound         = "NotFound"
	ReasonMethodNotAllowed = "MethodNotAllowed"
	ReasonUnauthenticated  = "Unauthenticated"
	ReasonForbidden        = "Forbidden"
	ReasonTrialEnded       = "TrialEnded"
	ReasonStepConflict     = "StepConflict"
	ReasonRateLimited      = "RateLimited"
	ReasonUnavailable      = "Unavailable"
	ReasonInternal         = "Internal"
)

// Options configure a Handler.
type Options struct {
	// Authenticator checks tokens. Required.
	Authenticator Authenticator
	// Trials reads Trials and Pods. Required.
	Trials Trials
	// Sink records reports. Required.
	Sink Sink
	// Limits bound each report; the zero Limits is the defaults.
	Limits stepmetrics.Limits
	// Limiter bounds each trial's rate. nil means a Limiter with the
	// default RateLimits and the real clock.
	Limiter *stepmetrics.Limiter
	// Logger logs refusals at V(1) and failures as errors. The zero Logger
	// discards.
	Logger logr.Logger
}

// Handler is the step metrics endpoint. Create it with New.
//
// It checks, in this order, and answers:
//
//   - 405 to a method other than POST, 404 to another path, or to a
//     namespace or name that no Trial can have;
//   - 401, with WWW-Authenticate: Bearer, without a bearer token or when the
//     Authenticator finds it invalid;
//   - 403 when the token is for another audience (another trial), is not
//     bound to a Pod of the trial's namespace, or its Pod does not belong
//     to the trial's Job; the message says which;
//   - 404 when the Trial does not exist (checked after the token, so that
//     only the trial's own Pod learns it);
//   - 409 when the Trial has ended;
//   - 429, with Retry-After in seconds, when the trial reports faster than
//     the Limiter allows;
//   - 413 to a report over Limits.MaxBytes, 400 to one ParseReport refuses,
//     with its message and reason;
//   - 409 when the Sink finds the report conflicts with those recorded,
//     500 when it fails otherwise, 503 when the Authenticator or Trials
//     cannot answer;
//   - 204 No Content when the Sink recorded the report.
type Handler struct {
	opts Options
}

// New returns a Handler, or an error if opts lacks a required field.
func New(opts Options) (*Handler, error) {
	var missing []string
	if opts.Authenticator == nil {
		missing = append(missing, "Authenticator")
	}
	if opts.Trials == nil {
		missing = append(missing, "Trials")
	}
	if opts.Sink == nil {
		missing = append(missing, "Sink")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("endpoint options lack %s", strings.Join(missing, ", "))
	}
	opts.Limits = opts.Limits.WithDefaults()
	if opts.Limiter == nil {
		opts.Limiter = stepmetrics.NewLimiter(stepmetrics.RateLimits{}, clock.RealClock{})
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &Handler{opts: opts}, nil
}

// ServeHTTP serves a report.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, name, ok := parsePath(r.URL.Path)
	if !ok {
		h.refuse(w, r, http.StatusNotFound, ReasonNotFound,
			fmt.Sprintf("no endpoint at %q; reports go to POST %s", truncate(r.URL.Path, 200), PathPattern))
		return
	}
	trial := ns + "/" + name
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, ReasonMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed; reports are POSTed", truncate(r.Method, 20)))
		return
	}
	if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		h.refuse(w, r, http.StatusNotFound, ReasonNotFound,
			fmt.Sprintf("no trial %s: %q is not a namespace or %q not a Trial name", truncate(trial, 200), truncate(ns, 100), truncate(name, 100)))
		return
	}

	token, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="crucible"`)
		h.refuse(w, r, http.StatusUnauthorized, ReasonUnauthenticated,
			"no bearer token; send the Pod's projected token, from the file named by CRUCIBLE_METRICS_TOKEN_FILE, as Authorization: Bearer <token>")
		return
	}
	id, err := h.opts.Authenticator.Authenticate(ctx, token, Audience(ns, name))
	switch {
	case errors.Is(err, ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="crucible", error="invalid_token"`)
		h.refuse(w, r, http.StatusUnauthorized, ReasonUnauthenticated, err.Error())
		return
	case errors.Is(err, ErrForbidden):
		h.refuse(w, r, http.StatusForbidden, ReasonForbidden, err.Error())
		return
	case err != nil:
		h.fail(w, r, http.StatusServiceUnavailable, ReasonUnavailable, "could not check the token; try again later", err)
		return
	}

	info, err := h.opts.Trials.Lookup(ctx, ns, name)
	switch {
	case notFound(err):
		h.refuse(w, r, http.StatusNotFound, ReasonNotFound, fmt.Sprintf("trial %s not found", trial))
		return
	case err != nil:
		h.fail(w, r, http.StatusServiceUnavailable, ReasonUnavailable, "could not read the trial; try again later", err)
		return
	}
	if msg, err := h.checkPod(ctx, ns, trial, id, info); err != nil {
		h.fail(w, r, http.StatusServiceUnavailable, ReasonUnavailable, "could not read the token's Pod; try again later", err)
		return
	} else if msg != "" {
		h.refuse(w, r, http.StatusForbidden, ReasonForbidden, msg)
		return
	}
	if info.Ended {
		h.opts.Limiter.Forget(info.UID)
		h.refuse(w, r, http.StatusConflict, ReasonTrialEnded, fmt.Sprintf("trial %s has ended; it takes no more reports", trial))
		return
	}

	if ok, wait := h.opts.Limiter.Allow(info.UID); !ok {
		seconds := max(1, int64(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", strconv.FormatInt(seconds, 10))
		l := h.opts.Limiter.Limits()
		h.refuse(w, r, http.StatusTooManyRequests, ReasonRateLimited,
			fmt.Sprintf("trial %s reports faster than %g a second (bursts of %d); retry after %d s", trial, l.PerSecond, l.Burst, seconds))
		return
	}

	if r.ContentLength > h.opts.Limits.MaxBytes {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, string(metrics.ReasonTooLarge),
			fmt.Sprintf("report is %d bytes; at most %d are accepted", r.ContentLength, h.opts.Limits.MaxBytes))
		return
	}
	body := r.Body
	if body == nil { // a server request always has one; a handmade one may not
		body = http.NoBody
	}
	report, err := stepmetrics.ParseReport(body, h.opts.Limits)
	if err != nil {
		var perr *metrics.Error
		switch {
		case errors.As(err, &perr) && perr.Reason == metrics.ReasonTooLarge:
			h.refuse(w, r, http.StatusRequestEntityTooLarge, string(perr.Reason), perr.Message)
		case errors.As(err, &perr):
			h.refuse(w, r, http.StatusBadRequest, string(perr.Reason), perr.Message)
		default:
			h.refuse(w, r, http.StatusBadRequest, "ReadError", fmt.Sprintf("could not read the report: %v", err))
		}
		return
	}

	err = h.opts.Sink.Record(ctx, ns, name, info.UID, report)
	switch {
	case errors.Is(err, stepmetrics.ErrStepConflict):
		h.refuse(w, r, http.StatusConflict, ReasonStepConflict, err.Error())
	case errors.Is(err, ErrTrialEnded):
		h.refuse(w, r, http.StatusConflict, ReasonTrialEnded, fmt.Sprintf("trial %s has ended; it takes no more reports", trial))
	case err != nil:
		h.fail(w, r, http.StatusInternalServerError, ReasonInternal, "could not record the report", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// checkPod returns why the Pod of id may not report for the trial, or "" if
// it may. An error means Trials could not answer.
func (h *Handler) checkPod(ctx context.Context, ns, trial string, id Identity, info TrialInfo) (string, error) {
	if id.Namespace != ns {
		return fmt.Sprintf("the token's ServiceAccount %s/%s is not in the trial's namespace %s",
			truncate(id.Namespace, 63), truncate(id.ServiceAccount, 253), ns), nil
	}
	if id.PodName == "" || id.PodUID == "" {
		return fmt.Sprintf("the token of ServiceAccount %s/%s is not bound to a Pod; report with the trial Pod's projected token",
			ns, truncate(id.ServiceAccount, 253)), nil
	}
	job, err := h.opts.Trials.PodJob(ctx, ns, id.PodName, id.PodUID)
	switch {
	case notFound(err):
		return fmt.Sprintf("the token's Pod %s (UID %s) no longer exists", truncate(id.PodName, 253), truncate(id.PodUID, 64)), nil
	case err != nil:
		return "", err
	case info.JobName == "" || job != info.JobName:
		owner := "no Job"
		if job != "" {
			owner = fmt.Sprintf("Job %s", job)
		}
		return fmt.Sprintf("the token's Pod %s belongs to %s, not to trial %s's Job %q", truncate(id.PodName, 253), owner, trial, info.JobName), nil
	}
	return "", nil
}

// parsePath reads the namespace and name of a path that matches
// PathPattern.
func parsePath(path string) (namespace, name string, ok bool) {
	parts := strings.Split(path, "/")
	if len(parts) != 7 || parts[0] != "" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "trials" || parts[6] != "metrics" {
		return "", "", false
	}
	return parts[3], parts[5], true
}

// bearer returns the request's bearer token.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenBytes || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

func notFound(err error) bool {
	return errors.Is(err, ErrNotFound) || apierrors.IsNotFound(err)
}

// errorBody is the JSON body of a refusal.
type errorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// refuse answers a request the Handler will not serve.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason, message string) {
	h.opts.Logger.V(1).Info("Refused a step metrics report", "path", truncate(r.URL.Path, 300), "status", status, "reason", reason, "message", message)
	writeError(w, status, reason, message)
}

// fail answers a request the Handler could not serve; err is logged, not
// sent.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, reason, message string, err error) {
	h.opts.Logger.Error(err, "Could not serve a step metrics report", "path", truncate(r.URL.Path, 300), "status", status)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeError(w, status, reason, message)
}

func writeError(w http.ResponseWriter, status int, reason, message string) {
	body, _ := json.Marshal(errorBody{Error: truncate(message, maxMessageBytes), Reason: reason})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// truncate cuts s to at most n bytes at a character boundary, marking a cut
// with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
