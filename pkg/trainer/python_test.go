package trainer

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// pythonClient is the Python client of the documentation.
const pythonClient = "../../docs/step-metrics-client.py"

// runPython runs the Python client's command line with the environment of
// s (a trial's Pod), returning its standard error and exit error.
func runPython(t *testing.T, s *server, args ...string) (string, error) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	cmd := exec.CommandContext(t.Context(), python, append([]string{pythonClient}, args...)...)
	cmd.Env = append(os.Environ(),
		EnvURL+"="+s.url, EnvCA+"="+s.caFile, EnvTokenFile+"="+s.tokenFile,
		"PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	return stderr.String(), err
}

// TestPythonClient runs docs/step-metrics-client.py against the endpoint:
// the report reaches the Sink, a 429 is retried once, and a refusal exits
// with the endpoint's message.
func TestPythonClient(t *testing.T) {
	s := newServer(t)
	if stderr, err := runPython(t, s, "7", "loss=0.25", "val/acc=1e-3"); err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr)
	}
	count := 0
	s.setBefore(tooManyOnce(&count))
	if stderr, err := runPython(t, s, "8", "loss=0.125"); err != nil {
		t.Fatalf("python3 after a 429: %v\n%s", err, stderr)
	}
	if count != 2 {
		t.Errorf("the Python client sent %d requests around a 429, want 2", count)
	}
	s.setBefore(nil)
	reports, tokens := s.fakes.received()
	want := []stepmetrics.Report{
		{Step: 7, Metrics: map[string]float64{"loss": 0.25, "val/acc": 0.001}},
		{Step: 8, Metrics: map[string]float64{"loss": 0.125}},
	}
	if diff := cmp.Diff(want, reports); diff != "" {
		t.Errorf("the Sink received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"token-1", "token-1"}, tokens); diff != "" {
		t.Errorf("tokens presented (-want +got):\n%s", diff)
	}

	// A refusal: the script exits with the endpoint's message.
	s.setToken(t, "stolen")
	stderr, err := runPython(t, s, "9", "loss=0.1")
	if err == nil {
		t.Fatal("python3 succeeded with a bad token")
	}
	if want := "crucible: step metrics endpoint answered 401: the token is not valid: unknown token"; strings.TrimSpace(stderr) != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}

	// Non-finite values are refused before sending.
	s.setToken(t, "token-1")
	if stderr, err := runPython(t, s, "9", "loss=nan"); err == nil || !strings.Contains(stderr, "metric 'loss' is nan; metrics must be finite") {
		t.Errorf("python3 with NaN: %v\n%s", err, stderr)
	}
}

// TestPythonClientOutsideCrucible checks report() does nothing without
// CRUCIBLE_METRICS_URL.
func TestPythonClientOutsideCrucible(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	cmd := exec.CommandContext(t.Context(), python, pythonClient, "1", "loss=0.5")
	cmd.Env = []string{"PYTHONDONTWRITEBYTECODE=1", "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("python3 outside Crucible: %v %q", err, out)
	}
}

// TestPythonClientNamesTheSameVariables keeps the snippet's environment
// variables those of this package.
func TestPythonClientNamesTheSameVariables(t *testing.T) {
	src, err := os.ReadFile(pythonClient)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{EnvURL, EnvCA, EnvTokenFile} {
		if !strings.Contains(string(src), `os.environ.get("`+name+`")`) && !strings.Contains(string(src), `os.environ["`+name+`"]`) {
			t.Errorf("%s does not read %s", pythonClient, name)
		}
	}
}
