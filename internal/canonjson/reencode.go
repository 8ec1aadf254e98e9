package canonjson

import (
	"bytes"
	"encoding/json"
)

// Reencode re-encodes a JSON document compact, with object keys sorted,
// numbers exactly as they were written and no HTML escaping: the bytes of
// the operator's signed and hashed documents (the provenance statement).
func Reencode(raw []byte) ([]byte, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return encode(v)
}

// ReencodePruned is Reencode without the object members whose value is
// null, {} or [] (once their own such members are dropped), so that a field
// left out and one spelled out empty encode alike: the bytes of the
// Experiment's spec digest. Array elements are kept whatever their value:
// their position counts.
func ReencodePruned(raw []byte) ([]byte, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return encode(prune(v))
}

func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// prune drops null, {} and [] members from the objects in v.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, m := range v {
			m = prune(m)
			if empty(m) {
				delete(v, k)
				continue
			}
			v[k] = m
		}
	case []any:
		for i, e := range v {
			v[i] = prune(e)
		}
	}
	return v
}

// empty reports whether v is null, {} or [].
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}
