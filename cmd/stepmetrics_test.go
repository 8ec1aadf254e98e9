package main

import (
	"strings"
	"testing"
)

func TestLeaderEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       options
		wantErr string
	}{
		{name: "a Service, the bind port and the Pod's IP",
			o: options{stepMetricsService: "crucible-system/crucible-step-metrics", stepMetricsAddr: ":9443", stepMetricsPodIP: "10.1.2.3"}},
		{name: "IPv6", o: options{stepMetricsService: "ns/svc", stepMetricsAddr: "[::]:9443", stepMetricsPodIP: "fd00::7"}},
		{name: "no namespace", o: options{stepMetricsService: "svc", stepMetricsAddr: ":9443", stepMetricsPodIP: "10.1.2.3"},
			wantErr: "want <namespace>/<name>"},
		{name: "a path", o: options{stepMetricsService: "ns/svc/x", stepMetricsAddr: ":9443", stepMetricsPodIP: "10.1.2.3"},
			wantErr: "want <namespace>/<name>"},
		{name: "a port chosen at random", o: options{stepMetricsService: "ns/svc", stepMetricsAddr: ":0", stepMetricsPodIP: "10.1.2.3"},
			wantErr: "needs a fixed port"},
		{name: "no Pod IP ($POD_IP unset)", o: options{stepMetricsService: "ns/svc", stepMetricsAddr: ":9443"},
			wantErr: `"" is not an IP address`},
		{name: "loopback", o: options{stepMetricsService: "ns/svc", stepMetricsAddr: ":9443", stepMetricsPodIP: "127.0.0.1"},
			wantErr: "want the Pod's IP"},
		{name: "the downward API's variable, unexpanded", o: options{stepMetricsService: "ns/svc", stepMetricsAddr: ":9443", stepMetricsPodIP: "$(POD_IP)"},
			wantErr: "is not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := leaderEndpoint(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Port != 9443 || p.PortName != "https" || p.Address != tc.o.stepMetricsPodIP ||
				p.Service.Namespace+"/"+p.Service.Name != tc.o.stepMetricsService {
				t.Errorf("publisher %+v", p)
			}
		})
	}
}
