package trialspec

import (
	"strings"
	"testing"
	"unicode/utf8"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

func TestAssignment(t *testing.T) {
	long := strings.Repeat("é", 200)
	cases := []struct {
		name   string
		params []crucible.ParameterAssignment
		want   string
	}{
		{name: "none", params: nil, want: ""},
		{name: "one", params: []crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}}, want: "lr=0.01"},
		{name: "in order", params: []crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}, {Name: "depth", Value: "4"}}, want: "lr=0.01 depth=4"},
		{name: "cut", params: []crucible.ParameterAssignment{{Name: "a", Value: long}}, want: ("a=" + long)[:253] + "..."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := assignment(tc.params)
			if tc.name == "cut" {
				// The cut lands inside a two-byte character, which is dropped.
				tc.want = strings.ToValidUTF8(tc.want[:len(tc.want)-3], "") + "..."
			}
			if got != tc.want {
				t.Errorf("assignment() = %q, want %q", got, tc.want)
			}
			if len(got) > maxAssignmentLength || !utf8.ValidString(got) {
				t.Errorf("assignment() = %q: %d bytes, valid UTF-8 %v", got, len(got), utf8.ValidString(got))
			}
		})
	}
}
