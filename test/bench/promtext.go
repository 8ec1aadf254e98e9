package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseProm reads the samples of the metrics that keep(name) selects from a
// Prometheus text exposition. Comments, and lines it cannot read, are
// skipped.
func parseProm(text string, keep func(name string) bool) []sample {
	var out []sample
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		s := sample{name: line[:end]}
		if !keep(s.name) {
			continue
		}
		rest := line[end:]
		if rest[0] == '{' {
			labels, after, ok := parseLabels(rest[1:])
			if !ok {
				continue
			}
			s.labels, rest = labels, after
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// parseLabels reads `a="x",b="y"}` and returns the labels and what follows
// the closing brace.
func parseLabels(s string) (map[string]string, string, bool) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if s == "" {
			return nil, "", false
		}
		if s[0] == '}' {
			return labels, s[1:], true
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", false
		}
		name := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", false
		}
		labels[name] = b.String()
		s = s[i+1:]
	}
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
func apiserverWrites(text string) reqCounts {
	out := reqCounts{}
	for _, s := range parseProm(text, func(n string) bool { return n == "apiserver_request_total" }) {
		verb := s.labels["verb"]
		if !writeVerbs[verb] || s.labels["dry_run"] != "" {
			continue
		}
		k := reqKey{Verb: verb, Group: s.labels["group"], Resource: s.labels["resource"], Subresource: s.labels["subresource"]}
		k.Failed = !strings.HasPrefix(s.labels["code"], "2")
		out[k] += s.value
	}
	return out
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
}

func parseManagerMetrics(text string) managerMetrics {
	m := managerMetrics{
		Requests: map[string]float64{}, FailedRequests: map[string]float64{},
		Reconciles: map[string]float64{}, ReconcileSeconds: map[string]float64{}, ReconcileErrors: map[string]float64{},
		QueueAdds: map[string]float64{}, QueueWaitSeconds: map[string]float64{}, QueueWaitCount: map[string]float64{},
	}
	keep := func(n string) bool {
		return strings.HasPrefix(n, "rest_client_requests_total") ||
			strings.HasPrefix(n, "controller_runtime_reconcile_") || strings.HasPrefix(n, "workqueue_")
	}
	for _, s := range parseProm(text, keep) {
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
		}
	}
	return m
}

// writes is the manager's write requests: POST, PUT, PATCH, DELETE.
func (m managerMetrics) writes() float64 {
	return m.Requests["POST"] + m.Requests["PUT"] + m.Requests["PATCH"] + m.Requests["DELETE"]
}
