package endpoint

import (
	"context"
	"fmt"
	"sync"

	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// The fixture: trial "ns/t1" of UID "uid-1" runs as Job "t1-job", whose Pod
// "t1-pod" (UID "pod-uid-1") holds token "token-t1". Trial "ns/t2" is another
// trial with token "token-t2". Trial "ns/gone" has ended.
const (
	fixtureNS = "ns"
	tokenT1   = "token-t1"
)

// fakeAuthenticator knows tokens by their audience.
type fakeAuthenticator struct {
	tokens map[string]struct {
		audience string
		id       Identity
	}
	err error // returned for every token, if set
}

func newFakeAuthenticator() *fakeAuthenticator {
	a := &fakeAuthenticator{tokens: map[string]struct {
		audience string
		id       Identity
	}{}}
	a.add(tokenT1, Audience(fixtureNS, "t1"), Identity{Namespace: fixtureNS, ServiceAccount: "default", PodName: "t1-pod", PodUID: "pod-uid-1"})
	a.add("token-t2", Audience(fixtureNS, "t2"), Identity{Namespace: fixtureNS, ServiceAccount: "default", PodName: "t2-pod", PodUID: "pod-uid-2"})
	a.add("token-gone", Audience(fixtureNS, "gone"), Identity{Namespace: fixtureNS, ServiceAccount: "default", PodName: "gone-pod", PodUID: "pod-uid-3"})
	return a
}

func (a *fakeAuthenticator) add(token, audience string, id Identity) {
	a.tokens[token] = struct {
		audience string
		id       Identity
	}{audience, id}
}

func (a *fakeAuthenticator) Authenticate(_ context.Context, token, audience string) (Identity, error) {
	if a.err != nil {
		return Identity{}, a.err
	}
	t, ok := a.tokens[token]
	switch {
	case !ok:
		return Identity{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	case t.audience != audience:
		return Identity{}, fmt.Errorf("%w: the token is for audience %q, not %q", ErrForbidden, t.audience, audience)
	}
	return t.id, nil
}

type fakeTrials struct {
	trials map[string]TrialInfo // by namespace/name
	pods   map[string]string    // Job by namespace/pod/uid
	err    error
}

func newFakeTrials() *fakeTrials {
	return &fakeTrials{
		trials: map[string]TrialInfo{
			"ns/t1":   {UID: "uid-1", JobName: "t1-job"},
			"ns/t2":   {UID: "uid-2", JobName: "t2-job"},
			"ns/gone": {UID: "uid-3", JobName: "gone-job", Ended: true},
		},
		pods: map[string]string{
			"ns/t1-pod/pod-uid-1":   "t1-job",
			"ns/t2-pod/pod-uid-2":   "t2-job",
			"ns/gone-pod/pod-uid-3": "gone-job",
		},
	}
}

func (f *fakeTrials) Lookup(_ context.Context, namespace, name string) (TrialInfo, error) {
	if f.err != nil {
		return TrialInfo{}, f.err
	}
	info, ok := f.trials[namespace+"/"+name]
	if !ok {
		return TrialInfo{}, fmt.Errorf("trial %s/%s: %w", namespace, name, ErrNotFound)
	}
	return info, nil
}

func (f *fakeTrials) PodJob(_ context.Context, namespace, podName, podUID string) (string, error) {
	job, ok := f.pods[namespace+"/"+podName+"/"+podUID]
	if !ok {
		return "", fmt.Errorf("pod %s/%s: %w", namespace, podName, ErrNotFound)
	}
	return job, nil
}

// recorded is one report a fakeSink received.
type recorded struct {
	Namespace, Trial, UID string
	Report                stepmetrics.Report
}

// fakeSink records reports in a History per trial, as a real Sink would.
type fakeSink struct {
	mu        sync.Mutex
	reports   []recorded
	histories map[string]*stepmetrics.History
	err       error
}

func (s *fakeSink) Record(_ context.Context, namespace, trial, uid string, report stepmetrics.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.histories == nil {
		s.histories = map[string]*stepmetrics.History{}
	}
	h, ok := s.histories[uid]
	if !ok {
		h = stepmetrics.NewHistory(stepmetrics.HistoryLimits{})
		s.histories[uid] = h
	}
	if _, err := h.Add(report); err != nil {
		return err
	}
	s.reports = append(s.reports, recorded{Namespace: namespace, Trial: trial, UID: uid, Report: report})
	return nil
}

func (s *fakeSink) received() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reports...)
}
