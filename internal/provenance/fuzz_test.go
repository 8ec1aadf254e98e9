package provenance

import (
	"testing"
)

// FuzzRead feeds Read arbitrary lines: it must return a record or an
// error, never panic, and a record it returns must be whole. Run it with
//
//	go test ./internal/provenance/ -run '^$' -fuzz FuzzRead -fuzztime 30s
func FuzzRead(f *testing.F) {
	f.Add(envelopeOf(f, nil, richInputs(f)))
	s, _ := newSigner(f)
	f.Add(envelopeOf(f, s, richInputs(f)))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[{"keyid":"","sig":""}]}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Read(line)
		if err != nil {
			if r != nil {
				t.Errorf("Read returned a record with its error %v", err)
			}
			return
		}
		if r.Spec == nil || r.Statement == nil || r.Provenance == nil || r.Metrics == nil || r.PayloadDigest == "" {
			t.Errorf("Read returned a record without its spec, statement, provenance, metrics or digest: %+v", r)
		}
	})
}
