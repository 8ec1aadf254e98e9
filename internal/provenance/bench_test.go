package provenance

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkRecord is the operator's CPU for one trial's record when it
// ends, unsigned (a trial without a signing key): "payload" is what the
// Trial reconciler does (Payload, Digest, Envelope); "statement+marshal",
// the baseline, encodes the Statement a second time as it used to.
func BenchmarkRecord(b *testing.B) {
	in := richInputs(b)
	b.Run("statement+marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st, err := Statement(in)
			if err != nil {
				b.Fatal(err)
			}
			payload, err := Marshal(st)
			if err != nil {
				b.Fatal(err)
			}
			record(b, payload)
		}
	})
	b.Run("payload", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			payload, err := Payload(in)
			if err != nil {
				b.Fatal(err)
			}
			record(b, payload)
		}
	})
}

func record(b *testing.B, payload []byte) {
	_ = Digest(payload)
	if _, err := Envelope(context.Background(), nil, payload); err != nil {
		b.Fatal(err)
	}
}

func TestPayloadIsTheMarshalledStatement(t *testing.T) {
	in := richInputs(t)
	st, err := Statement(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Payload(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Payload differs from Marshal(Statement):\n%s\n%s", got, want)
	}
}
