package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample is one value of the Prometheus text exposition format: a counter,
// gauge or untyped value under its family's name, or a histogram's or
// summary's sum and count as name_sum and name_count.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseProm reads the samples of the metric families that keep(name)
// selects (by family name: "x" for x_sum and x_count) from a Prometheus text
// exposition.
func parseProm(text string, keep func(name string) bool) ([]sample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	var out []sample
	for name, fam := range families {
		if !keep(name) {
			continue
		}
		for _, m := range fam.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			add := func(name string, v float64) { out = append(out, sample{name: name, labels: labels, value: v}) }
			switch {
			case m.Counter != nil:
				add(name, m.GetCounter().GetValue())
			case m.Gauge != nil:
				add(name, m.GetGauge().GetValue())
			case m.Untyped != nil:
				add(name, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				add(name+"_sum", m.GetHistogram().GetSampleSum())
				add(name+"_count", float64(m.GetHistogram().GetSampleCount()))
			case m.Summary != nil:
				add(name+"_sum", m.GetSummary().GetSampleSum())
				add(name+"_count", float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	return out, nil
}

// writeVerbs are apiserver_request_total's verbs that change state.
var writeVerbs = map[string]bool{
	"POST": true, "CREATE": true, "PUT": true, "UPDATE": true, "PATCH": true, "APPLY": true,
	"DELETE": true, "DELETECOLLECTION": true,
}

// reqKey is one row of the API server's write counts.
type reqKey struct {
	Verb, Group, Resource, Subresource string
	// Failed is true for responses other than 2xx (conflicts,
	// AlreadyExists, NotFound, throttling).
	Failed bool
}

func (k reqKey) resource() string {
	r := k.Resource
	if k.Subresource != "" {
		r += "/" + k.Subresource
	}
	if k.Group != "" {
		r += "." + k.Group
	}
	return r
}

func (k reqKey) String() string {
	s := k.Verb + " " + k.resource()
	if k.Failed {
		s += " (failed)"
	}
	return s
}

// reqCounts counts write requests by kind.
type reqCounts map[reqKey]float64

// apiserverWrites reads the write requests out of kube-apiserver's /metrics.
func apiserverWrites(text string) (reqCounts, error) {
	samples, err := parseProm(text, func(n string) bool { return n == "apiserver_request_total" })
	if err != nil {
		return nil, err
	}
	out := reqCounts{}
	for _, s := range samples {
		verb := s.labels["verb"]
		if !writeVerbs[verb] || s.labels["dry_run"] != "" {
			continue
		}
		k := reqKey{Verb: verb, Group: s.labels["group"], Resource: s.labels["resource"], Subresource: s.labels["subresource"]}
		k.Failed = !strings.HasPrefix(s.labels["code"], "2")
		out[k] += s.value
	}
	return out, nil
}

func (c reqCounts) minus(before reqCounts) reqCounts {
	out := reqCounts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (c reqCounts) total(filter func(reqKey) bool) float64 {
	var t float64
	for k, v := range c {
		if filter == nil || filter(k) {
			t += v
		}
	}
	return t
}

func (c reqCounts) keys() []reqKey {
	keys := make([]reqKey, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// managerMetrics is what the manager's own /metrics says about one run.
type managerMetrics struct {
	// Requests counts the manager's HTTP requests to the API server by
	// method (client-go's rest_client_requests_total), 2xx or not.
	Requests map[string]float64
	// FailedRequests counts those that were not 2xx, by method and code.
	FailedRequests map[string]float64
	// Reconciles, ReconcileSeconds, ReconcileErrors by controller.
	Reconciles       map[string]float64
	ReconcileSeconds map[string]float64
	ReconcileErrors  map[string]float64
	// QueueAdds, QueueWaitSeconds (summed over items) by controller.
	QueueAdds        map[string]float64
	QueueWaitSeconds map[string]float64
	QueueWaitCount   map[string]float64
	// StatusWrites counts the Trial reconciler's status writes by the phase
	// written (crucible_trial_status_writes_total).
	StatusWrites map[string]float64
}

func parseManagerMetrics(text string) (managerMetrics, error) {
	m := managerMetrics{
		Requests: map[string]float64{}, FailedRequests: map[string]float64{}, StatusWrites: map[string]float64{},
		Reconciles: map[string]float64{}, ReconcileSeconds: map[string]float64{}, ReconcileErrors: map[string]float64{},
		QueueAdds: map[string]float64{}, QueueWaitSeconds: map[string]float64{}, QueueWaitCount: map[string]float64{},
	}
	keep := func(n string) bool {
		return n == "rest_client_requests_total" || n == "crucible_trial_status_writes_total" ||
			strings.HasPrefix(n, "controller_runtime_reconcile_") || strings.HasPrefix(n, "workqueue_")
	}
	samples, err := parseProm(text, keep)
	if err != nil {
		return m, err
	}
	for _, s := range samples {
		l := s.labels
		switch s.name {
		case "rest_client_requests_total":
			m.Requests[l["method"]] += s.value
			if !strings.HasPrefix(l["code"], "2") {
				m.FailedRequests[fmt.Sprintf("%s %s", l["method"], l["code"])] += s.value
			}
		case "controller_runtime_reconcile_total":
			m.Reconciles[l["controller"]] += s.value
			if l["result"] == "error" {
				m.ReconcileErrors[l["controller"]] += s.value
			}
		case "controller_runtime_reconcile_time_seconds_sum":
			m.ReconcileSeconds[l["controller"]] += s.value
		case "workqueue_adds_total":
			m.QueueAdds[l["name"]] += s.value
		case "workqueue_queue_duration_seconds_sum":
			m.QueueWaitSeconds[l["name"]] += s.value
		case "workqueue_queue_duration_seconds_count":
			m.QueueWaitCount[l["name"]] += s.value
		case "crucible_trial_status_writes_total":
			m.StatusWrites[l["phase"]] += s.value
		}
	}
	return m, nil
}

// writes is the manager's write requests: POST, PUT, PATCH, DELETE.
func (m managerMetrics) writes() float64 {
	return m.Requests["POST"] + m.Requests["PUT"] + m.Requests["PATCH"] + m.Requests["DELETE"]
}
