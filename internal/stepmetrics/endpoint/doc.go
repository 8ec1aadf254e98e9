// Package endpoint serves the HTTPS endpoint to which a trainer reports its
// step metrics:
//
//	POST /v1/namespaces/{namespace}/trials/{name}/metrics
//	Authorization: Bearer <the Pod's projected ServiceAccount token>
//
//	{"step": 40, "metrics": {"loss": 0.52}}
//
// The operator gives each trial's Pod the endpoint's URL (Path), its CA and a
// projected ServiceAccount token whose audience names the trial (Audience).
// The Handler accepts a report only from the trial's own Pod: the token must
// be valid for the trial's audience (Authenticator, in production a
// TokenReview), bound to a Pod of the trial's namespace, and that Pod must
// belong to the trial's own Job (Trials). It then bounds the trial's rate
// (stepmetrics.Limiter), parses the report (stepmetrics.ParseReport) and
// hands it to a Sink, which records it.
//
// Every refusal has its own status and a JSON body {"error": "...",
// "reason": "..."} whose error is one sentence saying what was wrong; see
// Handler for the list. The Handler never panics, whatever it is sent
// (FuzzHandler).
package endpoint
