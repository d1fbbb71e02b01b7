package tasks

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTaskGenerateSeeded(t *testing.T) {
	for _, kind := range Kinds {
		for level := 1; level <= MaxLevel; level++ {
			a, err := Generate(kind, level, 30, 7)
			require.NoError(t, err)
			b, err := Generate(kind, level, 30, 7)
			require.NoError(t, err)
			require.Equal(t, a, b, "%s:%d: same seed, same tasks", kind, level)
			c, err := Generate(kind, level, 30, 8)
			require.NoError(t, err)
			require.NotEqual(t, a, c, "%s:%d: another seed, other tasks", kind, level)
			// A longer set starts with the shorter one.
			d, err := Generate(kind, level, 40, 7)
			require.NoError(t, err)
			require.Equal(t, a, d[:30])
			for i, task := range a {
				require.Equal(t, fmt.Sprintf("%s-%d-%03d", kind, level, i), task.ID)
				require.Equal(t, kind, task.Kind)
				require.Equal(t, level, task.Level)
			}
		}
	}
	// The JSONL round trip keeps them.
	ts, err := Generate("units", 4, 5, 1)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, ts))
	back, err := Read(&buf, "gen")
	require.NoError(t, err)
	require.Equal(t, ts, back)
}

func TestTaskGenerateErrors(t *testing.T) {
	for _, c := range []struct {
		kind   string
		level  int
		n      int
		substr string
	}{
		{"arith", 0, 1, "level 0"}, {"arith", MaxLevel + 1, 1, "level 6"}, {"poems", 1, 1, `unknown kind "poems"`}, {"count", 1, 0, "0 tasks"},
	} {
		_, err := Generate(c.kind, c.level, c.n, 1)
		require.ErrorContains(t, err, c.substr)
	}
	for spec, want := range map[string]string{"gen:arith": "want gen:KIND:LEVEL", "gen:arith:x": "level"} {
		_, _, ok, err := ParseGen(spec)
		require.True(t, ok)
		require.ErrorContains(t, err, want)
	}
	kind, level, ok, err := ParseGen("gen:count:3")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "count", kind)
	require.Equal(t, 3, level)
	_, _, ok, err = ParseGen("test.jsonl")
	require.NoError(t, err)
	require.False(t, ok)
}

// eval computes an arithmetic question's value with the usual precedence,
// by its own recursive descent (not the generator's left-to-right walk).
func eval(t *testing.T, s string) int {
	toks := regexp.MustCompile(`\d+|[-+*()]`).FindAllString(s, -1)
	require.Equal(t, strings.ReplaceAll(s, " ", ""), strings.Join(toks, ""), "only numbers and + - * ( )")
	i := 0
	var expr, term, atom func() int
	atom = func() int {
		tok := toks[i]
		i++
		if tok == "(" {
			v := expr()
			require.Equal(t, ")", toks[i])
			i++
			return v
		}
		v, err := strconv.Atoi(tok)
		require.NoError(t, err)
		return v
	}
	term = func() int {
		v := atom()
		for i < len(toks) && toks[i] == "*" {
			i++
			v *= atom()
		}
		return v
	}
	expr = func() int {
		v := term()
		for i < len(toks) && (toks[i] == "+" || toks[i] == "-") {
			op := toks[i]
			i++
			if op == "+" {
				v += term()
			} else {
				v -= term()
			}
		}
		return v
	}
	v := expr()
	require.Equal(t, len(toks), i)
	return v
}

// perUnit is each unit in its smallest unit of the same dimension.
var perUnit = map[string]int{
	"centimetres": 1, "metres": 100, "kilometres": 100000,
	"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800,
	"grams": 1, "kilograms": 1000, "millilitres": 1, "litres": 1000,
	"inches": 1, "feet": 12, "yards": 36,
}

func TestTaskGenerateAnswers(t *testing.T) {
	arith := regexp.MustCompile(`^What is (.+)\?$`)
	units := regexp.MustCompile(`^How many (\w+) are in (\d+) (\w+)(?: and (\d+) (\w+))?\?$`)
	count := regexp.MustCompile(`^Here is a list of fruits: ([a-z, ]+)\. How many times does the word (\w+) appear in the list\?$`)
	for level := 1; level <= MaxLevel; level++ {
		ts, err := Generate("arith", level, 200, 3)
		require.NoError(t, err)
		for _, task := range ts {
			m := arith.FindStringSubmatch(task.Question)
			require.NotNil(t, m, task.Question)
			v := eval(t, m[1])
			require.Equal(t, strconv.Itoa(v), task.Answer, task.Question)
			require.GreaterOrEqual(t, v, 0, task.Question)
			require.Equal(t, []int{1, 1, 2, 2, 3}[level-1], strings.Count(m[1], " ")/2, "operations at level %d: %s", level, task.Question)
			require.Equal(t, level >= 4, strings.Contains(m[1], "*"), task.Question)
			if level == 1 {
				require.Regexp(t, `^\d \+ \d$`, m[1])
			}
		}

		ts, err = Generate("units", level, 200, 3)
		require.NoError(t, err)
		for _, task := range ts {
			m := units.FindStringSubmatch(task.Question)
			require.NotNil(t, m, task.Question)
			to, n, from := perUnit[m[1]], atoi(t, m[2]), perUnit[m[3]]
			require.NotZero(t, to*from, task.Question)
			want := n * from
			if m[4] != "" {
				require.Less(t, perUnit[m[5]], from, task.Question)
				want += atoi(t, m[4]) * perUnit[m[5]]
			}
			require.Zero(t, want%to, task.Question)
			require.Equal(t, strconv.Itoa(want/to), task.Answer, task.Question)
			require.Equal(t, level == 3 || level == 5, m[4] != "", "mixed quantities at levels 3 and 5: %s", task.Question)
			if level == 1 {
				require.LessOrEqual(t, n, 3, task.Question)
			}
		}

		ts, err = Generate("count", level, 200, 3)
		require.NoError(t, err)
		for _, task := range ts {
			m := count.FindStringSubmatch(task.Question)
			require.NotNil(t, m, task.Question)
			list := strings.Split(m[1], ", ")
			require.Len(t, list, []int{4, 6, 10, 16, 24}[level-1])
			n := 0
			for _, w := range list {
				if w == m[2] {
					n++
				}
			}
			require.Equal(t, strconv.Itoa(n), task.Answer, task.Question)
		}
	}
}

func atoi(t *testing.T, s string) int {
	v, err := strconv.Atoi(s)
	require.NoError(t, err)
	return v
}

func TestTaskExtract(t *testing.T) {
	for _, c := range []struct {
		text, want string
		ok         bool
	}{
		// GSM8K's worked answers and what models write.
		{"She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18", true},
		{"So the total is 1,200 + 30 = 1,230.\n#### 1,230", "1230", true},
		{"The answer is $18.00.", "18", true},
		{"The final answer is: 65. Then 3 more.", "65", true},
		{"**Answer:** 42", "42", true},
		{"answer = -7, so 12 is wrong", "-7", true},
		{"2 + 2 = 4, so \\boxed{4}. Next 9", "4", true},
		{"first \\boxed{3} then \\boxed{\\$1,000}", "1000", true},
		// A copied placeholder box is passed over.
		{"39 + 58 = 97. So the answer is \\boxed{N}.", "97", true},
		{"is it 3 or 0.50", "0.5", true},
		{"no numbers here", "", false},
		{"", "", false},
	} {
		got, ok := Extract(c.text, "number")
		require.Equal(t, c.ok, ok, c.text)
		require.Equal(t, c.want, got, c.text)
	}
	for _, c := range []struct{ text, want string }{
		{"The answer is Paris.", "paris"},
		{"\\boxed{ Blue }", "blue"},
		{"Answer: \"yes\"!", "yes"},
	} {
		got, ok := Extract(c.text, "text")
		require.True(t, ok, c.text)
		require.Equal(t, c.want, got, c.text)
	}
	_, ok := Extract("just words", "text")
	require.False(t, ok)
}

func TestTaskGold(t *testing.T) {
	for _, c := range []struct{ task, gold string }{
		{`{"question":"q","answer":"Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\n#### 18"}`, "18"},
		{`{"question":"q","answer":"#### 1,000"}`, "1000"},
		{`{"question":"q","answer":"3.50"}`, "3.5"},
		{`{"question":"q","answer":"-0"}`, "0"},
		{`{"question":"q","answer":" Paris. ","type":"text"}`, "paris"},
	} {
		ts, err := Read(strings.NewReader(c.task), "t")
		require.NoError(t, err)
		require.Equal(t, c.gold, ts[0].Gold(), c.task)
		require.Equal(t, "1", ts[0].ID)
	}
	ts, err := Read(strings.NewReader(`{"question":"q","answer":"#### 18"}`), "t")
	require.NoError(t, err)
	require.True(t, ts[0].Correct("so \\boxed{18}"))
	require.False(t, ts[0].Correct("so 18 and then 19"))
	a, ok := ts[0].Extractor().Extract("it is 18.0")
	require.True(t, ok)
	require.Equal(t, "18", a)
}

func TestTaskReadErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "t: no tasks",
		"\n{\"question\":\"q\"}": "t:2: need question and answer",
		"{bad":                   "t:1: invalid character",
		`{"question":"q","answer":"1","type":"date"}`: `t:1: type "date"`,
		`{"question":"q","answer":"1","prompt":"Q:"}`: "t:1: prompt has no {question}",
	} {
		_, err := Read(strings.NewReader(in), "t")
		require.ErrorContains(t, err, want, in)
	}
}

// GSM8K's test set, where ../shared has it: every line loads and every
// worked answer's own final number is its gold.
func TestTaskGSM8K(t *testing.T) {
	const path = "../../../shared/data/gsm8k/test.jsonl"
	if _, err := os.Stat(path); err != nil {
		t.Skip("no " + path)
	}
	ts, err := Load(path)
	require.NoError(t, err)
	require.Len(t, ts, 1319)
	require.Equal(t, "18", ts[0].Gold())
	for _, task := range ts {
		g := task.Gold()
		require.Regexp(t, `^-?\d+(\.\d+)?$`, g, task.Answer)
		a, ok := Extract(task.Answer, "number")
		require.True(t, ok)
		require.Equal(t, g, a, task.Answer)
	}
}
