package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/bench"
)

// bench tts merge keeps every piece's runs (the first piece's included) and
// re-aggregates them.
func TestTTSMerge(t *testing.T) {
	dir := t.TempDir()
	piece := func(name string, n int, correct bool) string {
		rep := bench.TTSReport{Model: "m.gguf", Tasks: "gen:arith:1", Gold: []string{"5", "7"}, Config: bench.TTSReportFlags{Ns: []int{n}}}
		for task := range 2 {
			rep.Runs = append(rep.Runs, bench.TTSRun{Task: task, Strategy: "vote", N: n, Answer: "5", Correct: correct && task == 0,
				Covered: correct && task == 0, Tokens: 10 * n, Seconds: 1, Answers: make([]string, n)})
		}
		rep.Points = bench.Aggregate(rep.Runs)
		b, err := json.Marshal(rep)
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	a, b := piece("a.json", 1, false), piece("b.json", 4, true)
	out := filepath.Join(dir, "out")
	c := ttsMergeCmd()
	var stdout bytes.Buffer
	c.SetOut(&stdout)
	c.SetArgs([]string{a, b, a, "--out", out})
	require.NoError(t, c.Execute())
	var rep bench.TTSReport
	raw, err := os.ReadFile(filepath.Join(out, "tts.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &rep))
	require.Len(t, rep.Runs, 4, "both pieces' runs, the repeated piece once")
	require.Equal(t, []int{1, 4}, rep.Config.Ns)
	require.Len(t, rep.Points, 2)
	require.Equal(t, [2]int{1, 0}, [2]int{rep.Points[0].N, rep.Points[0].Correct})
	require.Equal(t, [2]int{4, 1}, [2]int{rep.Points[1].N, rep.Points[1].Correct})
	require.Equal(t, 4.0, rep.Points[1].TokenCost)
	require.Contains(t, stdout.String(), "| vote | 4 | 50.0% | 50.0% | 40 |")
	_, err = os.Stat(filepath.Join(out, "tts.png"))
	require.NoError(t, err)

	// Another model's report does not join.
	other := bench.TTSReport{Model: "x.gguf", Gold: []string{"5", "7"}}
	bad, _ := json.Marshal(other)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.json"), bad, 0o644))
	c = ttsMergeCmd()
	c.SetArgs([]string{a, filepath.Join(dir, "x.json")})
	require.ErrorContains(t, c.Execute(), "x.gguf on 2 tasks, not m.gguf on 2")
}
