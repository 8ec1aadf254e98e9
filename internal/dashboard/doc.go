// Package dashboard is Crucible's web dashboard: an http.Handler that reads
// Experiments, Trials, their events, Pods and logs through the clients its
// caller hands it, so the cluster's RBAC decides what a user sees (the
// user's kubeconfig under `kubectl crucible dashboard`, a read-only
// ServiceAccount in-cluster under `manager dashboard`). It only reads.
//
// It owns the routes, the html/template pages (tables that work without
// JavaScript, every view a URL with its filters in the query string), the
// server-sent events of an Experiment's live status, the compact trials.json
// the plots read, the step metrics' curves (status.stepMetrics) embedded in
// the trial and Experiment pages as JSON, and the embedded static assets:
// dashboard.js, the styles, and the chart library Apache ECharts, which make
// dashboard-assets fetches and verifies against static/vendor/echarts.lock.
package dashboard
