package chattmpl

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFromJSON: key order kept, every string and key plain, numbers as
// Python's json.loads makes them.
func TestFromJSON(t *testing.T) {
	v, err := FromJSON([]byte(`{"z": 1, "a": [true, null, 2.5, "<|x|>"], "m": {"k": "v"}}`))
	require.NoError(t, err)
	tmpl, err := Compile(`{{ x | tojson }}|{% for k in x %}{{ k }},{% endfor %}|{{ x.a[2] * 2 }}|{{ x.z + 1 }}`)
	require.NoError(t, err)
	out, err := tmpl.Render(context.Background(), DefaultLimits, map[string]any{"x": v})
	require.NoError(t, err)
	require.Equal(t, `{"z": 1, "a": [true, null, 2.5, "<|x|>"], "m": {"k": "v"}}|z,a,m,|5.0|2`, out.S)
	i := strings.Index(out.S, "<|x|>")
	require.True(t, out.Plain.Overlaps(i, i+1))
	k := strings.Index(out.S, "|z,") + 1
	require.True(t, out.Plain.Overlaps(k, k+1), "keys are plain")

	for _, bad := range []string{``, `{`, `{"a": 1} x`, `[1,]`, strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2)} {
		_, err := FromJSON([]byte(bad))
		require.Error(t, err, bad)
	}
}

// FuzzFromJSON: no panic; valid JSON (not too deep) decodes, and tojson
// writes it back as the same JSON value.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5e3, "x\u00e9"], "b": {"c": null}}`, `[]`, `"s"`, `-0`, `1e400`, `{"a":1,"a":2}`} {
		f.Add(s)
	}
	tmpl, err := Compile(`{{ x | tojson }}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := FromJSON([]byte(s))
		if err != nil {
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("decoded invalid JSON %q", s)
		}
		out, err := tmpl.Render(context.Background(), DefaultLimits, map[string]any{"x": v})
		if err != nil {
			return // NaN-free by construction; limits may still stop it
		}
		var want, got any
		if json.Unmarshal([]byte(s), &want) != nil || json.Unmarshal([]byte(out.S), &got) != nil {
			return // numbers past float64: Go's decoder refuses them
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q came back as %q", s, out.S)
		}
	})
}
