package provenance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
)

// TestSignVerify signs with a generated key and verifies with Verify and
// with DSSE's own verifier, given nothing but the public key's PEM.
func TestSignVerify(t *testing.T) {
	s, pub := newSigner(t)
	payload := payloadOf(t, richInputs(t))
	line, err := Envelope(t.Context(), s, payload)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || !bytes.HasSuffix(line, []byte("\n")) {
		t.Errorf("the envelope is not one line ending with a newline")
	}

	r, err := Verify(t.Context(), line, pub)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.Signed || !r.Verified || r.KeyID != s.KeyID() || r.KeyID == "" {
		t.Errorf("Signed %v, Verified %v, KeyID %q; want true, true, %q", r.Signed, r.Verified, r.KeyID, s.KeyID())
	}
	if r.PayloadDigest != Digest(payload) {
		t.Errorf("PayloadDigest %s; want %s", r.PayloadDigest, Digest(payload))
	}

	// DSSE's own verifier, with a key loaded by securesystemslib.
	key, err := signerverifier.LoadKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := dsse.NewEnvelopeVerifier(v)
	if err != nil {
		t.Fatal(err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatal(err)
	}
	accepted, body, err := ev.VerifyAndDecode(t.Context(), &env)
	if err != nil {
		t.Fatalf("dsse verifier: %v", err)
	}
	if len(accepted) != 1 || accepted[0].KeyID != s.KeyID() || !bytes.Equal(body, payload) {
		t.Errorf("dsse verifier accepted %v with the payload %v; want the signer's key and the payload", accepted, bytes.Equal(body, payload))
	}
	if env.PayloadType != "application/vnd.in-toto+json" {
		t.Errorf("payloadType %q", env.PayloadType)
	}

	// The same payload signed twice gives the same envelope: ed25519 is
	// deterministic.
	again, err := Envelope(t.Context(), s, payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, line) {
		t.Errorf("signing twice gave two envelopes")
	}
}

// TestVerifyRefusesEveryChangedByte changes each byte of a signed
// envelope in two ways (the lowest bit; the case bit, which encoding/json
// would ignore in a key): Verify must refuse every one.
func TestVerifyRefusesEveryChangedByte(t *testing.T) {
	s, pub := newSigner(t)
	line := envelopeOf(t, s, richInputs(t))
	for _, mask := range []byte{0x01, 0x20} {
		for i := range line {
			changed := bytes.Clone(line)
			changed[i] ^= mask
			if _, err := Verify(t.Context(), changed, pub); err == nil {
				t.Errorf("byte %d changed from %q to %q: Verify accepted it", i, line[i], changed[i])
			}
		}
	}
}

// TestVerifyRefuses checks what Verify refuses and how it says so.
func TestVerifyRefuses(t *testing.T) {
	s, pub := newSigner(t)
	_, otherPub := newSigner(t)
	line := envelopeOf(t, s, richInputs(t))
	var env dsse.Envelope
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatal(err)
	}
	reencode := func(change func(e *dsse.Envelope)) []byte {
		e := env
		e.Signatures = append([]dsse.Signature(nil), env.Signatures...)
		change(&e)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	flipDecoded := func(s string, i int) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		b[i] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	privPEM, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		line    []byte
		key     []byte
		wantErr string
		keyErr  bool // the error is about the key
	}{
		{
			name:    "another key",
			line:    line,
			key:     otherPub,
			wantErr: "the signature does not verify with key",
		},
		{
			name:    "unsigned",
			line:    envelopeOf(t, nil, richInputs(t)),
			key:     pub,
			wantErr: "the record is unsigned",
		},
		{
			name:    "a byte of the payload changed",
			line:    reencode(func(e *dsse.Envelope) { e.Payload = flipDecoded(e.Payload, 100) }),
			key:     pub,
			wantErr: "the signature does not verify with key",
		},
		{
			name:    "a byte of the signature changed",
			line:    reencode(func(e *dsse.Envelope) { e.Signatures[0].Sig = flipDecoded(e.Signatures[0].Sig, 7) }),
			key:     pub,
			wantErr: "the signature does not verify with key",
		},
		{
			name:    "another key ID",
			line:    reencode(func(e *dsse.Envelope) { e.Signatures[0].KeyID = strings.Repeat("0", 64) }),
			key:     pub,
			wantErr: "the signature does not verify with key",
		},
		{
			name:    "a private key for the public one",
			line:    line,
			key:     privPEM,
			wantErr: `want a public key in PEM ("PUBLIC KEY"), found "PRIVATE KEY": this is a private key; pass the public one`,
			keyErr:  true,
		},
		{
			name:    "not PEM",
			line:    line,
			key:     []byte("ssh-ed25519 AAAA"),
			wantErr: "want a public key in PEM",
			keyErr:  true,
		},
		{
			name:    "an ECDSA key",
			line:    line,
			key:     ecdsaPublicPEM(t),
			wantErr: "the public key is *ecdsa.PublicKey, not ed25519",
			keyErr:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Verify(t.Context(), tc.line, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Verify: error %v; want one containing %q", err, tc.wantErr)
			}
			if r != nil {
				t.Errorf("Verify returned a record with its error")
			}
			if _, isKeyErr := errors.AsType[*KeyError](err); isKeyErr != tc.keyErr {
				t.Errorf("Verify: error %v is a KeyError: %v; want %v", err, isKeyErr, tc.keyErr)
			}
		})
	}
}

func ecdsaPublicPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestUnsigned(t *testing.T) {
	line := envelopeOf(t, nil, richInputs(t))
	if !bytes.Contains(line, []byte(`"signatures":[]`)) {
		t.Errorf("an unsigned envelope does not say \"signatures\":[]: %s", line)
	}
	r, err := Read(line)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if r.Signed || r.Verified || r.KeyID != "" {
		t.Errorf("Signed %v, Verified %v, KeyID %q; want false, false and none", r.Signed, r.Verified, r.KeyID)
	}

	// Read does not check a signature, and says it is there.
	s, _ := newSigner(t)
	r, err = Read(envelopeOf(t, s, richInputs(t)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !r.Signed || r.Verified || r.KeyID != s.KeyID() {
		t.Errorf("Signed %v, Verified %v, KeyID %q; want true, false, %q", r.Signed, r.Verified, r.KeyID, s.KeyID())
	}
}

func TestLoadSigner(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Written by `openssl genpkey -algorithm ed25519` (OpenSSL 3).
	const opensslKey = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINy4B7Wxe4YIMJjXrKaLyuHu37xL0wAjqRb9pXRMKIjt
-----END PRIVATE KEY-----
`
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{name: "generated", pem: priv},
		{name: "openssl", pem: []byte(opensslKey)},
		{name: "public key", pem: pub, wantErr: `found "PUBLIC KEY": this is a public key; pass the private one`},
		{name: "rsa", pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}), wantErr: "the private key is *rsa.PrivateKey, not ed25519"},
		{name: "pkcs1", pem: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), wantErr: `want a private key in PEM ("PRIVATE KEY"), found "RSA PRIVATE KEY"`},
		{name: "empty", pem: nil, wantErr: "found no PEM block"},
		{name: "two keys", pem: append(bytes.Clone(priv), priv...), wantErr: "want one PEM block of a private key, found more"},
		{name: "garbage in the block", pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}), wantErr: "the private key is not PKCS #8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadSigner(tc.pem)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadSigner: %v", err)
				}
				if len(s.KeyID()) != 64 {
					t.Errorf("KeyID %q; want 64 hex digits", s.KeyID())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LoadSigner: error %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestEnvelopeSize reports the size of the rich fixture's envelope, signed
// and unsigned, and keeps it within a budget: records are stored per trial
// and read whole.
func TestEnvelopeSize(t *testing.T) {
	s, _ := newSigner(t)
	in := richInputs(t)
	payload := payloadOf(t, in)
	signed := envelopeOf(t, s, in)
	unsigned := envelopeOf(t, nil, in)
	t.Logf("statement %d bytes; envelope %d bytes signed, %d unsigned", len(payload), len(signed), len(unsigned))
	const budget = 8 << 10
	if len(signed) > budget {
		t.Errorf("the signed envelope is %d bytes, over the %d budget", len(signed), budget)
	}
	if len(signed) > MaxEnvelopeSize/100 {
		t.Errorf("the signed envelope is %d bytes: MaxEnvelopeSize %d leaves it too little room", len(signed), MaxEnvelopeSize)
	}
}

func TestEnvelopeTooBig(t *testing.T) {
	_, err := Envelope(t.Context(), nil, make([]byte, MaxEnvelopeSize))
	if want := "more than the 4194304 a record may have"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Envelope of %d bytes: error %v; want one containing %q", MaxEnvelopeSize, err, want)
	}
}

func TestDigest(t *testing.T) {
	if got, want := Digest([]byte("abc")), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Digest(abc) = %s; want %s", got, want)
	}
	if diff := cmp.Diff(64+len("sha256:"), len(Digest(nil))); diff != "" {
		t.Error(diff)
	}
}
