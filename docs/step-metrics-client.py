"""Report a training run's step metrics to Crucible. Standard library only.

Save this file next to your trainer as step_metrics_client.py, or paste
report() and its helpers into it:

    from step_metrics_client import report

    for step in range(steps):
        loss = train_one_step()
        report(step, loss=loss, lr=scheduler.get_last_lr()[0])

Names that are not Python identifiers go through a dict:
report(step, **{"val/loss": 0.3}). Values may be anything float() accepts
(ints, numpy and torch scalars); they must be finite.

Crucible sets three environment variables in each trial's Pod:
CRUCIBLE_METRICS_URL (where to report), CRUCIBLE_METRICS_CA (the PEM file of
the CA that signs the endpoint's certificate) and CRUCIBLE_METRICS_TOKEN_FILE
(the Pod's projected token, read again for every report because the kubelet
rotates it). Outside Crucible CRUCIBLE_METRICS_URL is unset and report() does
nothing, so the trainer runs unchanged on a laptop or in CI.

report() raises ReportError when the endpoint refuses a report; catch it if a
lost report should not stop training. Told to slow down (HTTP 429), it waits
as the endpoint asks (at most a minute) and tries once more.

From a shell: python3 step-metrics-client.py STEP NAME=VALUE...
"""

import json
import math
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

_MAX_RETRY_AFTER = 60.0
_contexts = {}


class ReportError(Exception):
    """The endpoint refused a report: status, reason and its message."""

    def __init__(self, status, reason, message):
        super().__init__("crucible: step metrics endpoint answered %d: %s" % (status, message))
        self.status, self.reason, self.message = status, reason, message


def report(step, **metrics):
    """Report the metrics of one step; a no-op outside Crucible."""
    url = os.environ.get("CRUCIBLE_METRICS_URL")
    if not url:
        return
    step = int(step)
    values = {name: float(value) for name, value in metrics.items()}
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError("crucible: metric %r is %r; metrics must be finite" % (name, value))
    body = json.dumps({"step": step, "metrics": values}, allow_nan=False).encode()
    for attempt in (0, 1):
        with open(os.environ["CRUCIBLE_METRICS_TOKEN_FILE"]) as f:
            token = f.read().strip()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": "Bearer " + token,
            "Content-Type": "application/json",
        })
        try:
            with urllib.request.urlopen(request, context=_context(), timeout=30):
                return
        except urllib.error.HTTPError as e:
            if e.code == 429 and attempt == 0:
                time.sleep(_retry_after(e.headers.get("Retry-After")))
                continue
            raise _refusal(e) from None


def _context():
    ca = os.environ.get("CRUCIBLE_METRICS_CA") or None
    if ca not in _contexts:
        _contexts[ca] = ssl.create_default_context(cafile=ca)
    return _contexts[ca]


def _retry_after(header):
    try:
        return min(max(float(header), 0.0), _MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return 1.0


def _refusal(e):
    text = e.read(4096).decode("utf-8", "replace")
    try:
        body = json.loads(text)
        return ReportError(e.code, body.get("reason", ""), body["error"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ReportError(e.code, "", text.strip() or e.reason)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: %s STEP NAME=VALUE..." % sys.argv[0])
    pairs = [arg.split("=", 1) for arg in sys.argv[2:]]
    if any(len(pair) != 2 for pair in pairs):
        sys.exit("usage: %s STEP NAME=VALUE..." % sys.argv[0])
    try:
        report(sys.argv[1], **dict(pairs))
    except ReportError as e:
        sys.exit(str(e))
