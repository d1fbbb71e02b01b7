package server

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func readJSON(t *testing.T, res *http.Response) map[string]any {
	t.Helper()
	defer res.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	return m
}

func TestModelsMaxLen(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	res, err := http.Get(ts.URL + "/v1/models")
	require.NoError(t, err)
	m := readJSON(t, res)
	data := m["data"].([]any)
	require.Equal(t, float64(e.Context()), data[0].(map[string]any)["max_model_len"])
	res, err = http.Get(ts.URL + "/v1/models/stories260K")
	require.NoError(t, err)
	require.Equal(t, float64(e.Context()), readJSON(t, res)["max_model_len"])
}
