package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunSamples: -N prints every sample, numbered; sample i uses seed
// --seed+i, so sample 2 of seed 5 is sample 1 of seed 6.
func TestRunSamples(t *testing.T) {
	need(t, stories)
	code, out, errOut := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "12", "-N", "3", "--seed", "5")
	require.Equal(t, 0, code, errOut)
	parts := regexp.MustCompile(`(?m)^=== sample (\d) \((\w+), (\d+) tokens\) ===\n`).Split(out, -1)
	require.Len(t, parts, 4, out)
	for _, p := range parts[1:] {
		require.True(t, strings.HasPrefix(p, "Once upon a time"), p)
	}
	code, one, errOut := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "12", "--seed", "6")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, one, parts[2])
}

func TestRunStrategies(t *testing.T) {
	need(t, stories)
	for _, tc := range []struct {
		name string
		args []string
		want []string // regexps the output must match
		n    int      // sample headers expected
	}{
		{
			// Every sample is cut off by -n 16: by default none votes.
			name: "vote",
			args: []string{"-p", "Once upon a time, there was a little girl named", "-n", "16", "--strategy", "vote", "--extract", `regex:^\s*(\w+)`},
			want: []string{`(?m)^no answer: all 8 samples abstained$`, `(?m)^abstained: 8 \(8 cut off by length\)$`},
			n:    8,
		},
		{
			name: "vote counting truncated samples",
			args: []string{"-p", "Once upon a time, there was a little girl named", "-n", "16", "--strategy", "vote", "--extract", `regex:^\s*(\w+)`,
				"--vote-truncated"},
			want: []string{`(?m)^answer: Lily \(5 votes from 5 finished samples of 8\)$`, `(?m)^votes: Lily: 5$`,
				`(?m)^abstained: 0 \(5 cut off by length, voting\)$`, `(?m)^stopped early after 5 of 8 samples$`},
			n: 8,
		},
		{
			name: "weighted vote",
			args: []string{"-p", "Once upon a time, there was a little girl named", "-n", "16", "-N", "4", "--strategy", "vote",
				"--extract", `regex:^\s*(\w+)`, "--weighted", "--vote-truncated"},
			want: []string{`(?m)^answer: \w+ \(\d votes from \d finished samples of 4\)$`, `weight 0\.\d{3}\)`},
			n:    4,
		},
		{
			name: "best-of",
			args: []string{"-p", "Tom had a dog", "-n", "12", "-N", "3", "--strategy", "best-of"},
			want: []string{`(?m)^best: sample \d \(score -\d\.\d{4}\)$`},
			n:    3,
		},
		{
			name: "best-of reward model",
			args: []string{"-p", "Tom had a dog", "-n", "12", "-N", "3", "--strategy", "best-of", "--reward-model", stories},
			want: []string{`(?m)^best: sample \d \(score 0\.\d{4}\)$`},
			n:    3,
		},
		{
			name: "beam",
			args: []string{"-p", "Once upon a time", "-n", "10", "--strategy", "beam", "--beam-width", "3"},
			want: []string{`=== beam 1 \(length, score -0\.1158, logprob -1\.1581, 10 tokens\) ===\nOnce upon a time, there was a little girl named Lily\n`,
				`(?m)^best: beam 1 \(score -0\.1158\)$`},
			n: 3,
		},
		{
			name: "tree",
			args: []string{"-p", "Once upon a time", "--strategy", "tree", "--delimiter", ".", "--depth", "2", "--step-tokens", "20",
				"--tree-k", "2", "--tree-b", "2"},
			want: []string{`(?m)^depth 1: kept \[\d \d\] of \[1 2\]$`, `(?m)^depth 2: kept \[\d \d\] of \[3 4 5 6\]$`, `(?m)^best: node \d \(score -\d\.\d{4}, 6 nodes explored\)$`},
			n:    2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(append([]string{"run", "-m", stories}, tc.args...)...)
			require.Equal(t, 0, code, errOut)
			for _, w := range tc.want {
				require.Regexp(t, regexp.MustCompile(w), out)
			}
			headers := regexp.MustCompile(`(?m)^=== (sample|beam|node) (\d+) `).FindAllStringSubmatch(out, -1)
			require.Len(t, headers, tc.n, out)
			if tc.name != "tree" {
				for i, h := range headers {
					require.Equal(t, strconv.Itoa(i+1), h[2])
				}
			}
		})
	}
}

func TestRunStrategyErrors(t *testing.T) {
	need(t, stories)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--strategy", "mcts"}, `unknown --strategy "mcts"`},
		{[]string{"--strategy", "vote", "--extract", "regex:("}, "--extract: extractor"},
		{[]string{"--strategy", "vote", "--extract", "words"}, `unknown extractor "words"`},
		{[]string{"--strategy", "beam", "--reward-model", stories}, "--reward-model needs --strategy best-of or tree"},
		{[]string{"-N", "0"}, "--samples must be >= 1"},
		{[]string{"--strategy", "beam", "--beam-width", "0"}, "need --beam-width"},
		{[]string{"--strategy", "best-of", "--reward-model", "nope.gguf"}, "reward model: gguf: open nope.gguf: no such file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := cli(append([]string{"run", "-m", stories, "-p", "x", "-n", "4"}, tc.args...)...)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, tc.want)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		})
	}
}
