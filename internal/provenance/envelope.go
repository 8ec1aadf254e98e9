package provenance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
)

// MaxEnvelopeSize bounds a record: Envelope writes none larger, Read and
// Verify read none larger. A typical record is about 5.5 KiB (the rich
// fixture's is 5,609 bytes signed, see TestEnvelopeSize). The bound leaves
// room for the largest spec etcd stores (1.5 MiB), which a record carries
// about twice (the canonical spec, and command, args and env again) and
// base64 grows by a third.
const MaxEnvelopeSize = 4 << 20

// PEM block types of the keys.
const (
	privateKeyPEM = "PRIVATE KEY"
	publicKeyPEM  = "PUBLIC KEY"
)

// Signer signs records with an ed25519 key.
type Signer struct {
	sv *signerverifier.ED25519SignerVerifier
}

// KeyID names the signer's key: securesystemslib's key ID, the hex sha256
// of its public key in canonical JSON. The public key computes the same.
func (s *Signer) KeyID() string {
	if s == nil {
		return ""
	}
	id, _ := s.sv.KeyID() // ED25519SignerVerifier.KeyID never fails
	return id
}

// GenerateKey returns a new ed25519 key pair as PEM: the private key in
// PKCS #8 ("PRIVATE KEY", as `openssl genpkey -algorithm ed25519` writes
// it) and the public key in PKIX ("PUBLIC KEY").
func GenerateKey() (privatePEM, publicPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating an ed25519 key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: privateKeyPEM, Bytes: privDER}),
		pem.EncodeToMemory(&pem.Block{Type: publicKeyPEM, Bytes: pubDER}), nil
}

// LoadSigner returns a Signer for an ed25519 private key in PKCS #8 PEM
// ("PRIVATE KEY"), as GenerateKey and `openssl genpkey -algorithm ed25519`
// write it.
func LoadSigner(pemBytes []byte) (*Signer, error) {
	block, err := onePEM(pemBytes, privateKeyPEM, "a private key")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the private key is not PKCS #8: %w", err)
	}
	if _, ok := key.(ed25519.PrivateKey); !ok {
		return nil, fmt.Errorf("the private key is %s, not ed25519: generate one with `kubectl crucible provenance keygen` or `openssl genpkey -algorithm ed25519`", keyKind(key))
	}
	sv, err := loadSignerVerifier(pemBytes)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv}, nil
}

// loadVerifier returns a verifier for an ed25519 public key in PKIX PEM
// ("PUBLIC KEY").
func loadVerifier(pemBytes []byte) (*signerverifier.ED25519SignerVerifier, error) {
	block, err := onePEM(pemBytes, publicKeyPEM, "a public key")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the public key is not PKIX: %w", err)
	}
	if _, ok := key.(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("the public key is %s, not ed25519", keyKind(key))
	}
	return loadSignerVerifier(pemBytes)
}

// loadSignerVerifier makes securesystemslib's signer and verifier of a
// PEM key already checked to be ed25519.
func loadSignerVerifier(pemBytes []byte) (*signerverifier.ED25519SignerVerifier, error) {
	key, err := signerverifier.LoadKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("loading the key: %w", err)
	}
	sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	if err != nil {
		return nil, fmt.Errorf("loading the key: %w", err)
	}
	return sv, nil
}

// onePEM decodes the single PEM block of a key file and checks its type.
func onePEM(pemBytes []byte, wantType, what string) (*pem.Block, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("want %s in PEM (%q), found no PEM block", what, wantType)
	}
	if block.Type != wantType {
		hint := ""
		switch block.Type {
		case privateKeyPEM:
			hint = ": this is a private key; pass the public one"
		case publicKeyPEM:
			hint = ": this is a public key; pass the private one"
		}
		return nil, fmt.Errorf("want %s in PEM (%q), found %q%s", what, wantType, block.Type, hint)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("want one PEM block of %s, found more", what)
	}
	return block, nil
}

// keyKind names a key's algorithm for an error.
func keyKind(key any) string {
	return fmt.Sprintf("%T", key)
}

// Envelope returns the DSSE envelope of a payload as one line of JSON and
// a newline, signed by s. With a nil s it has no signature, and says so
// with "signatures":[].
func Envelope(ctx context.Context, s *Signer, payload []byte) ([]byte, error) {
	env := &dsse.Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsse.Signature{},
	}
	if s != nil {
		es, err := dsse.NewEnvelopeSigner(s.sv)
		if err != nil {
			return nil, fmt.Errorf("signing the statement: %w", err)
		}
		if env, err = es.SignPayload(ctx, PayloadType, payload); err != nil {
			return nil, fmt.Errorf("signing the statement: %w", err)
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encoding the envelope: %w", err)
	}
	if len(b)+1 > MaxEnvelopeSize {
		return nil, fmt.Errorf("the record would be %d bytes, more than the %d a record may have", len(b)+1, MaxEnvelopeSize)
	}
	return append(b, '\n'), nil
}

// Read parses a record's envelope without checking its signature: for an
// unsigned record, or to see what a record says before it is verified.
// The Record's Signed says whether the envelope carries a signature,
// Verified is false.
func Read(line []byte) (*Record, error) {
	env, payload, err := parseEnvelope(line)
	if err != nil {
		return nil, err
	}
	r, err := parseStatement(payload)
	if err != nil {
		return nil, err
	}
	if len(env.Signatures) > 0 {
		r.Signed = true
		r.KeyID = env.Signatures[0].KeyID
	}
	return r, nil
}

// Verify parses a record's envelope and checks its signature against an
// ed25519 public key in PKIX PEM, with DSSE's own verifier. It refuses an
// unsigned envelope, a signature by another key, and any changed byte.
func Verify(ctx context.Context, line, publicKeyPEM []byte) (*Record, error) {
	v, err := loadVerifier(publicKeyPEM)
	if err != nil {
		return nil, &KeyError{Err: err}
	}
	env, payload, err := parseEnvelope(line)
	if err != nil {
		return nil, err
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("the record is unsigned: the operator that wrote it had no signing key")
	}
	ev, err := dsse.NewEnvelopeVerifier(v)
	if err != nil {
		return nil, fmt.Errorf("verifying the signature: %w", err)
	}
	keyID, _ := v.KeyID() // ED25519SignerVerifier.KeyID never fails
	accepted, body, err := ev.VerifyAndDecode(ctx, env)
	if err != nil || len(accepted) == 0 {
		return nil, fmt.Errorf("the signature does not verify with key %s: the record was changed or signed with another key", keyID)
	}
	if !bytes.Equal(body, payload) {
		return nil, errors.New("the signed payload is not the payload read")
	}
	r, err := parseStatement(payload)
	if err != nil {
		return nil, err
	}
	r.Signed, r.Verified, r.KeyID = true, true, accepted[0].KeyID
	return r, nil
}

// KeyError is Verify's error when the public key cannot be used: it is
// not PEM, not public, not ed25519. Any other error is about the record.
type KeyError struct{ Err error }

func (e *KeyError) Error() string { return e.Err.Error() }

// Unwrap returns the error about the key.
func (e *KeyError) Unwrap() error { return e.Err }

// parseEnvelope parses one line of a .intoto.jsonl file: a DSSE envelope
// of an in-toto Statement, and an optional newline. Its keys are matched
// exactly and its base64 must be canonical, so that no changed byte is
// read as the same envelope.
func parseEnvelope(line []byte) (*dsse.Envelope, []byte, error) {
	if len(line) > MaxEnvelopeSize {
		return nil, nil, fmt.Errorf("the record is %d bytes, more than the %d a record may have", len(line), MaxEnvelopeSize)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil, errors.New("the record is empty")
	}
	var fields map[string]json.RawMessage
	if err := strictUnmarshal(line, &fields); err != nil {
		return nil, nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if err := exactKeys(fields, "payloadType", "payload", "signatures"); err != nil {
		return nil, nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	env := &dsse.Envelope{}
	var sigs []map[string]json.RawMessage
	if err := errors.Join(
		strictUnmarshal(fields["payloadType"], &env.PayloadType),
		strictUnmarshal(fields["payload"], &env.Payload),
		strictUnmarshal(fields["signatures"], &sigs),
	); err != nil {
		return nil, nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if sigs == nil {
		return nil, nil, errors.New(`not a DSSE envelope: "signatures" is not a list`)
	}
	for i, s := range sigs {
		var sig dsse.Signature
		if err := exactKeys(s, "keyid", "sig"); err != nil {
			return nil, nil, fmt.Errorf("not a DSSE envelope: signature %d: %w", i, err)
		}
		if err := errors.Join(strictUnmarshal(s["keyid"], &sig.KeyID), strictUnmarshal(s["sig"], &sig.Sig)); err != nil {
			return nil, nil, fmt.Errorf("not a DSSE envelope: signature %d: %w", i, err)
		}
		if _, err := canonicalBase64(sig.Sig); err != nil {
			return nil, nil, fmt.Errorf("not a DSSE envelope: signature %d: %w", i, err)
		}
		env.Signatures = append(env.Signatures, sig)
	}
	if env.PayloadType != PayloadType {
		return nil, nil, fmt.Errorf("the envelope's payloadType is %q, not an in-toto Statement's %q", env.PayloadType, PayloadType)
	}
	payload, err := canonicalBase64(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("the envelope's payload: %w", err)
	}
	return env, payload, nil
}

// strictUnmarshal decodes one JSON value and refuses anything after it.
func strictUnmarshal(data []byte, v any) error {
	if data == nil {
		return errors.New("missing value")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("data after the JSON value")
	}
	return nil
}

// exactKeys checks that an object has exactly the keys named, spelled
// exactly: encoding/json alone would match them ignoring case.
func exactKeys(fields map[string]json.RawMessage, keys ...string) error {
	for k := range fields {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("unknown key %q", k)
		}
	}
	for _, k := range keys {
		if _, ok := fields[k]; !ok {
			return fmt.Errorf("missing key %q", k)
		}
	}
	return nil
}

// canonicalBase64 decodes standard or URL-safe base64 (DSSE allows both),
// refusing any spelling but the one the encoder writes: line breaks and
// stray padding bits decode to the same bytes.
func canonicalBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		b, err := enc.Strict().DecodeString(s)
		if err == nil && enc.EncodeToString(b) == s {
			return b, nil
		}
	}
	return nil, errors.New("not canonical base64")
}
