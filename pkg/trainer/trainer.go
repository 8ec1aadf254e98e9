// Package trainer reports a training run's step metrics to Crucible, from
// inside the run:
//
//	metrics, err := trainer.FromEnv()
//	if err != nil {
//		log.Fatal(err)
//	}
//	for step := range steps {
//		loss := train(step)
//		if err := metrics.Report(ctx, int64(step), map[string]float64{"loss": loss}); err != nil {
//			log.Print(err) // a lost report need not stop training
//		}
//	}
//
// Crucible gives each trial's Pod three environment variables: EnvURL, the
// HTTPS URL to report to; EnvCA, the path of the PEM file of the CA that
// signs the endpoint's certificate; and EnvTokenFile, the path of the Pod's
// projected ServiceAccount token, whose audience names the trial. Outside
// Crucible EnvURL is unset, and FromEnv returns a Client whose Report does
// nothing, so a trainer runs unchanged on a laptop or in CI.
//
// The package depends only on the standard library. The same client in
// Python, standard library only, is docs/step-metrics-client.py.
package trainer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The environment variables Crucible sets in a trial's Pod.
const (
	// EnvURL is the URL the trial reports to.
	EnvURL = "CRUCIBLE_METRICS_URL"
	// EnvCA is the path of a PEM file of the CA certificates that sign the
	// endpoint's certificate. When unset, the system's roots are used.
	EnvCA = "CRUCIBLE_METRICS_CA"
	// EnvTokenFile is the path of the Pod's projected ServiceAccount token.
	EnvTokenFile = "CRUCIBLE_METRICS_TOKEN_FILE"
)

const (
	// timeout bounds one request.
	timeout = 30 * time.Second
	// maxRetryAfter bounds how long Report waits when told to slow down,
	// whatever the server asks.
	maxRetryAfter = time.Minute
	// maxErrorBody bounds what is read of an error response.
	maxErrorBody = 4 << 10
)

// Config says where and how to report.
type Config struct {
	// URL is the https URL to report to.
	URL string
	// CAFile is the path of a PEM file of CA certificates to trust, or ""
	// for the system's roots.
	CAFile string
	// TokenFile is the path of the bearer token, read again for every
	// report, as the kubelet rotates projected tokens.
	TokenFile string
	// HTTPClient, when not nil, sends the requests instead of a client
	// built from CAFile.
	HTTPClient *http.Client
}

// Client reports step metrics. Its methods are safe for concurrent use.
// The zero Client, and a nil one, report nothing.
type Client struct {
	url       string
	tokenFile string
	http      *http.Client
}

// FromEnv returns a Client configured by EnvURL, EnvCA and EnvTokenFile. When
// EnvURL is unset or empty it returns a Client whose Report does nothing.
func FromEnv() (*Client, error) {
	u := os.Getenv(EnvURL)
	if u == "" {
		return &Client{}, nil
	}
	return New(Config{URL: u, CAFile: os.Getenv(EnvCA), TokenFile: os.Getenv(EnvTokenFile)})
}

// New returns a Client for cfg. The URL must be https and TokenFile set; the
// CA file, if any, must hold at least one certificate. The token file is
// read only when reporting.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("crucible: %s is %q; it must be an https URL", EnvURL, cfg.URL)
	}
	if cfg.TokenFile == "" {
		return nil, fmt.Errorf("crucible: %s is set but %s is not", EnvURL, EnvTokenFile)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("crucible: reading %s: %w", EnvCA, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("crucible: %s, %s, holds no PEM certificate", EnvCA, cfg.CAFile)
			}
			tlsConfig.RootCAs = pool
		}
		transport := &http.Transport{Proxy: http.ProxyFromEnvironment}
		if d, ok := http.DefaultTransport.(*http.Transport); ok {
			transport = d.Clone()
		}
		transport.TLSClientConfig = tlsConfig
		hc = &http.Client{Transport: transport, Timeout: timeout}
	}
	return &Client{url: u.String(), tokenFile: cfg.TokenFile, http: hc}, nil
}

// Enabled reports whether c sends reports.
func (c *Client) Enabled() bool { return c != nil && c.url != "" }

// StatusError is the error Report returns when the endpoint refuses a
// report.
type StatusError struct {
	// StatusCode is the HTTP status, such as 403.
	StatusCode int
	// Reason is the endpoint's one-word reason, such as "Forbidden", or "".
	Reason string
	// Message is the endpoint's explanation, or the start of its body.
	Message string
	// RetryAfter is how long the endpoint asked to wait, for a 429.
	RetryAfter time.Duration
}

// Error says the status and the endpoint's message.
func (e *StatusError) Error() string {
	return fmt.Sprintf("crucible: step metrics endpoint answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Report sends the metrics of one step: a step from 0 to 10^12, and at least
// one finite value. It returns nil once the endpoint accepted them, and at
// once if c is not Enabled. Told to slow down (429), it waits as long as the
// endpoint asks (at most a minute, and no longer than ctx allows) and tries
// once more. Any other refusal is a *StatusError with the endpoint's
// message.
func (c *Client) Report(ctx context.Context, step int64, metrics map[string]float64) error {
	if !c.Enabled() {
		return nil
	}
	if step < 0 {
		return fmt.Errorf("crucible: step %d is negative", step)
	}
	if len(metrics) == 0 {
		return errors.New("crucible: a report needs at least one metric")
	}
	for name, v := range metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("crucible: metric %q is %v; metrics must be finite", name, v)
		}
	}
	body, err := json.Marshal(struct {
		Step    int64              `json:"step"`
		Metrics map[string]float64 `json:"metrics"`
	}{step, metrics})
	if err != nil {
		return fmt.Errorf("crucible: %w", err)
	}
	for attempt := 0; ; attempt++ {
		err := c.post(ctx, body)
		var se *StatusError
		if attempt > 0 || !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests {
			return err
		}
		timer := time.NewTimer(se.RetryAfter)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("crucible: waiting %v to report step %d again: %w", se.RetryAfter, step, context.Cause(ctx))
		case <-timer.C:
		}
	}
}

// post sends one report.
func (c *Client) post(ctx context.Context, body []byte) error {
	token, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return fmt.Errorf("crucible: reading the token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("crucible: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("crucible: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := &StatusError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var refusal struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(data, &refusal) == nil && refusal.Error != "" {
		se.Message, se.Reason = refusal.Error, refusal.Reason
	} else {
		se.Message = strings.TrimSpace(string(data))
		if se.Message == "" {
			se.Message = "(no message)"
		}
	}
	return se
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date; one second
// if it is missing or unreadable; at most maxRetryAfter.
func retryAfter(header string) time.Duration {
	d := time.Second
	if s, err := strconv.ParseInt(strings.TrimSpace(header), 10, 64); err == nil && s >= 0 {
		d = time.Duration(min(s, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(header); err == nil {
		d = max(0, time.Until(t))
	}
	return min(d, maxRetryAfter)
}
