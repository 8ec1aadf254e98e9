package naming

import (
	"regexp"
	"strings"
	"testing"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

func params(kv ...string) []crucible.ParameterAssignment {
	var out []crucible.ParameterAssignment
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, crucible.ParameterAssignment{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestTrialNameIsDeterministicAndBounded(t *testing.T) {
	long := strings.Repeat("a", crucible.MaxExperimentNameLength)
	cases := []struct {
		name       string
		experiment string
		params     []crucible.ParameterAssignment
		seed       int64
		wantPrefix string
	}{
		{name: "short", experiment: "resnet", params: params("lr", "0.1"), seed: 1, wantPrefix: "resnet-"},
		{name: "longest allowed", experiment: long, params: params("lr", "0.1"), seed: 1, wantPrefix: long + "-"},
		{name: "too long is cut", experiment: strings.Repeat("b", 80), params: nil, seed: 0, wantPrefix: strings.Repeat("b", 50) + "-"},
		{name: "no parameters", experiment: "seeds-only", params: nil, seed: 7, wantPrefix: "seeds-only-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := TrialName(tc.experiment, tc.params, tc.seed)
			if again := TrialName(tc.experiment, tc.params, tc.seed); again != got {
				t.Fatalf("TrialName is not deterministic: %q then %q", got, again)
			}
			if len(got) > MaxNameLength {
				t.Errorf("TrialName = %q, %d characters; want at most %d", got, len(got), MaxNameLength)
			}
			if !strings.HasPrefix(got, tc.wantPrefix) || len(got) != len(tc.wantPrefix)+HashLength {
				t.Errorf("TrialName = %q; want %q followed by %d hex digits", got, tc.wantPrefix, HashLength)
			}
			if !dnsLabel.MatchString(got) {
				t.Errorf("TrialName = %q is not a DNS label", got)
			}
		})
	}
}

func TestHashDistinguishesAssignments(t *testing.T) {
	// Pairs that a careless encoding (plain concatenation, a separator that
	// may appear in values, order-insensitive maps) would confuse.
	cases := []struct {
		name string
		a, b []crucible.ParameterAssignment
		sa   int64
		sb   int64
	}{
		{name: "seed differs", a: params("lr", "0.1"), b: params("lr", "0.1"), sa: 1, sb: 2},
		{name: "value differs", a: params("lr", "0.1"), b: params("lr", "0.01"), sa: 1, sb: 1},
		{name: "name and value boundary", a: params("ab", "c"), b: params("a", "bc"), sa: 0, sb: 0},
		{name: "separator inside a value", a: params("a", "1", "b", "2"), b: params("a", "1b2"), sa: 0, sb: 0},
		{name: "order matters", a: params("a", "1", "b", "2"), b: params("b", "2", "a", "1"), sa: 0, sb: 0},
		{name: "seed digits against value digits", a: params("a", "1"), b: params("a", ""), sa: 0, sb: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if ha, hb := Hash(tc.a, tc.sa), Hash(tc.b, tc.sb); ha == hb {
				t.Errorf("Hash(%v, %d) == Hash(%v, %d) == %q", tc.a, tc.sa, tc.b, tc.sb, ha)
			}
		})
	}
}

func TestHashIsStable(t *testing.T) {
	// A Trial's name is how a restarted operator recognises it: the hash
	// must not change between operator versions. Changing this value
	// changes every Trial name and is a breaking change. Independently:
	//   printf "2:lr3:0.15:depth1:4seed=1234" | sha256sum | cut -c1-12
	const want = "72ed2ad97c3f"
	if got := Hash(params("lr", "0.1", "depth", "4"), 1234); got != want {
		t.Errorf("Hash = %q; want %q (the naming scheme changed: existing Trials would be run again)", got, want)
	}
}

func TestHashHasNoCollisionsOnALargeGrid(t *testing.T) {
	seen := make(map[string]int, 100000)
	for i := 0; i < 100000; i++ {
		h := Hash(params("i", strings.Repeat("x", i%7), "j", string(rune('a'+i%26))), int64(i))
		if prev, ok := seen[h]; ok {
			t.Fatalf("hash collision between trial %d and %d: %s", prev, i, h)
		}
		seen[h] = i
	}
}
