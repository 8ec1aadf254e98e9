package main

import "testing"

const managerText = `# HELP rest_client_requests_total Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 2000
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="POST"} 7
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PATCH"} 1500
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 12
# HELP crucible_trial_status_writes_total Trial status writes, by the phase written.
# TYPE crucible_trial_status_writes_total counter
crucible_trial_status_writes_total{phase="Pending"} 250
crucible_trial_status_writes_total{phase="Succeeded"} 1000
# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="trial",result="success"} 5000
controller_runtime_reconcile_total{controller="trial",result="error"} 3
# HELP workqueue_queue_duration_seconds How long in seconds an item stays in workqueue before being requested
# TYPE workqueue_queue_duration_seconds histogram
workqueue_queue_duration_seconds_bucket{controller="trial",name="trial",le="1"} 4000
workqueue_queue_duration_seconds_bucket{controller="trial",name="trial",le="+Inf"} 5003
workqueue_queue_duration_seconds_sum{controller="trial",name="trial"} 1234.5
workqueue_queue_duration_seconds_count{controller="trial",name="trial"} 5003
`

func TestParseManagerMetrics(t *testing.T) {
	m, err := parseManagerMetrics(managerText)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want float64
	}{
		{"POST requests", m.Requests["POST"], 2007},
		{"failed POSTs", m.FailedRequests["POST 409"], 7},
		{"writes", m.writes(), 3507},
		{"Pending status writes", m.StatusWrites["Pending"], 250},
		{"Succeeded status writes", m.StatusWrites["Succeeded"], 1000},
		{"trial reconciles", m.Reconciles["trial"], 5003},
		{"trial reconcile errors", m.ReconcileErrors["trial"], 3},
		{"trial queue wait sum", m.QueueWaitSeconds["trial"], 1234.5},
		{"trial queue wait count", m.QueueWaitCount["trial"], 5003},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.what, c.got, c.want)
		}
	}
}

func TestAPIServerWrites(t *testing.T) {
	text := `# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="crucible.dev",resource="trials",scope="resource",subresource="",verb="POST",version="v1alpha1"} 1000
apiserver_request_total{code="409",component="apiserver",dry_run="",group="crucible.dev",resource="trials",scope="resource",subresource="",verb="POST",version="v1alpha1"} 4
apiserver_request_total{code="201",component="apiserver",dry_run="All",group="crucible.dev",resource="trials",scope="resource",subresource="",verb="POST",version="v1alpha1"} 9
apiserver_request_total{code="200",component="apiserver",dry_run="",group="crucible.dev",resource="trials",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 1300
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 50
`
	got, err := apiserverWrites(text)
	if err != nil {
		t.Fatal(err)
	}
	want := reqCounts{
		{Verb: "POST", Group: "crucible.dev", Resource: "trials"}:                         1000,
		{Verb: "POST", Group: "crucible.dev", Resource: "trials", Failed: true}:           4,
		{Verb: "PATCH", Group: "crucible.dev", Resource: "trials", Subresource: "status"}: 1300,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows %v; want %v (dry runs and reads left out)", len(got), got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
}

func TestParsePromRefusesBrokenText(t *testing.T) {
	if _, err := parseManagerMetrics("rest_client_requests_total{code=\"200\" 3\n"); err == nil {
		t.Error("a line with an unclosed label set was read; want an error")
	}
}
