package canonjson

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReencodePruned(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "keys sorted",
			in:   `{"b": 1, "a": {"d": 2, "c": 3}}`,
			want: `{"a":{"c":3,"d":2},"b":1}`,
		},
		{
			name: "null, {} and [] members dropped",
			in:   `{"a": null, "b": {}, "c": [], "d": {"e": null, "f": [], "g": {"h": {}}}, "i": 1}`,
			want: `{"i":1}`,
		},
		{
			name: "false, zero and empty strings kept",
			in:   `{"a": false, "b": 0, "c": ""}`,
			want: `{"a":false,"b":0,"c":""}`,
		},
		{
			name: "array elements kept in order, even empty",
			in:   `{"a": [{}, null, [], {"b": null}, 2, 1]}`,
			want: `{"a":[{},null,[],{},2,1]}`,
		},
		{
			name: "numbers as written, beyond float64 precision",
			in:   `{"a": 9007199254740993, "b": -1}`,
			want: `{"a":9007199254740993,"b":-1}`,
		},
		{
			name: "no HTML escaping",
			in:   `{"a": "<b>&</b>"}`,
			want: `{"a":"<b>&</b>"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReencodePruned([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("ReencodePruned (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReencodeKeepsEmptyMembers(t *testing.T) {
	got, err := Reencode([]byte(`{"b": [], "a": {"d": null, "c": 9007199254740993}, "e": "<&>"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"c":9007199254740993,"d":null},"b":[],"e":"<&>"}`; string(got) != want {
		t.Errorf("Reencode = %s; want %s", got, want)
	}
	if _, err := Reencode([]byte(`{"a":`)); err == nil {
		t.Error("Reencode of a truncated document: no error")
	}
}
