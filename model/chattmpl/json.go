package chattmpl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxJSONDepth bounds the nesting FromJSON takes (tojson's own bound).
const maxJSONDepth = maxNest

// FromJSON decodes one JSON value into a template value, keeping the key
// order of objects (Python's dicts do; Convert sorts). Every string and
// key is marked plain: JSON from a request (tools, tool call arguments) is
// content, never template text. Integers become int64, other numbers
// float64, as Python's json.loads makes int and float.
func FromJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := fromJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("json: data after the value")
	}
	return v, nil
}

func fromJSON(dec *json.Decoder, depth int) (Value, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("json: too deeply nested")
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case nil, bool:
		return x, nil
	case string:
		return PlainText(x), nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("json: number %s: %w", x, err)
		}
		return f, nil
	case json.Delim:
		if x == '[' {
			list := []Value{}
			for dec.More() {
				v, err := fromJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		}
		d := NewDict()
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := fromJSON(dec, depth+1)
			if err != nil {
				return nil, err
			}
			d.setKey(PlainText(k.(string)), v)
		}
		_, err := dec.Token()
		return d, err
	}
	return nil, fmt.Errorf("json: unexpected token %v", t)
}
