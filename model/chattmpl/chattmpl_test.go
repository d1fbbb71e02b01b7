package chattmpl

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func render(t *testing.T, src string, vars map[string]any) string {
	t.Helper()
	tmpl, err := Compile(src)
	require.NoError(t, err)
	out, err := tmpl.Render(context.Background(), Limits{}, vars)
	require.NoError(t, err)
	return out.S
}

// TestMatchesJinja2 checks expressions and white-space rules against
// outputs of Python's jinja2 (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks), recorded in the table.
func TestMatchesJinja2(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a\n  {# c #}\nb", "a\nb"},
		{"a\n  {% if 1 %}\nb{% endif %}", "a\nb"},
		{"x  {% if 1 %}y{% endif %}", "x  y"},
		{"{{ 1 }}  {% if 1 %}\nz{% endif %}", "1  z"},
		{"a {%- if 1 %} b {{- 2 -}} \n c{% endif %}", "a b2c"},
		{"{% for i in range(3) %}{% set x = i %}{{ x }}{% endfor %}{{ x }}", "012"},
		{"{{ 1.0 }} {{ 1e20 }} {{ 0.00001 }} {{ [1,'a',none] }} {{ {'a':1} }} {{ 7//2 }} {{ -7//2 }} {{ 7%3 }} {{ -7%3 }} {{ 2**10 }} {{ 1/2 }}",
			"1.0 1e+20 1e-05 [1, 'a', None] {'a': 1} 3 -4 1 2 1024 0.5"},
		{`{{ 'a\nb' }}|{{ "x'y" }}|{{ ['x\'y'] }}`, "a\nb|x'y|[\"x'y\"]"},
		{"{%+ if 1 %}q{% endif %}", "q"},
		{"  {%+ if 1 %}q{% endif %}", "  q"},
		{"{% raw %}{{ x }}{% endraw %}", "{{ x }}"},
		{"{% set ns = namespace(n=0) %}{% for i in 'abc' %}{% set ns.n = ns.n + loop.index %}{% endfor %}{{ ns.n }}", "6"},
		{"{{ ' a b '.split() }}{{ 'a,b,,c'.split(',', 2) }}{{ 'x</think>y'.split('</think>')[-1] }}", "['a', 'b']['a', 'b', ',c']y"},
		{"{{ '  a  b  '.split(None, 1) }}{{ '  a  b  c  '.rsplit(None, 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ '   '.split(None, 1) }}",
			"['a', 'b  ']['  a  b', 'c']['a,b', 'c'][]"},
		{"{{ [{'r':'b'},{'r':'A'},{'r':'c'}] | sort(attribute='r') | map(attribute='r') | join }}{{ {'b':1,'A':2} | dictsort | map('first') | join }}{{ ['b','A','a'] | sort(true) }}",
			"AbcAb['b', 'A', 'a']"},
		{"{{ 'hello'[1:3] }}{{ 'hello'[::-1] }}{{ [1,2,3][-2:] }}{{ 'héllo'[1] }}", "elolleh[2, 3]é"},
		{"{{ '\n\nx  '.lstrip('\n') | trim }}|{{ ' y '.rstrip() }}|{{ 'abc'.startswith(('x','a')) }}", "x| y|True"},
		{"{% macro f(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ f(1) }}{{ f(2, b=3) }}", "1B23"},
		{"{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ 3 is odd }}{{ {} is mapping }}{{ 1 is not none }}", "FalseTrueTrueTrueTrueTrue"},
		{"{{ {'b': 1, 'a': [1, 'é', none, true]} | tojson }}|{{ [1, {'x': 2}] | tojson(indent=2) }}|{{ 'q\"\\\\' | tojson }}",
			"{\"b\": 1, \"a\": [1, \"é\", null, true]}|[\n  1,\n  {\n    \"x\": 2\n  }\n]|\"q\\\"\\\\\""},
		{"{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}", "a=1,b=2"},
		{"{{ [3,1,2] | sort | join('-') }}{{ ['a','b'] | length }}{{ 'x' ~ 1 ~ none }}{{ 'ab' * 3 }}", "1-2-32x1Noneababab"},
		{"{{ [{'r':'a'},{'r':'b'}] | selectattr('r', 'equalto', 'b') | list | length }}{{ [{'r':'a'}] | map(attribute='r') | join }}", "1a"},
		{"{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}{% for x in [] %}{% else %}E{% endfor %}", "2242E"},
		{"{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}", "02"},
		{"{% set t %}in {{ 1 }}{% endset %}[{{ t }}]{{ 'yes' if 1 < 2 < 3 else 'no' }}{{ 'a' if false }}", "[in 1]yes"},
		{"{{ 'Hello World'.lower() }}{{ 'ab'.upper() }}{{ 'hi there' | title }}{{ 'xY' | capitalize }}", "hello worldABHi ThereXy"},
		{"{% filter upper %}abc{% endfilter %}{{ 'a b' | replace(' ', '_') }}{{ 'aXbX'.replace('X', '', 1) }}", "ABCa_babX"},
		{"{{ dict(a=1) }}{{ -3 | abs }}{{ 2.5 | int }}{{ '7' | int + 1 }}{{ 10 / 4 }}", "{'a': 1}3282.5"},
		{"{% macro f() %}[{{ caller(1) }}]{% endmacro %}{% call(x) f() %}c{{ x }}{% endcall %}", "[c1]"},
		{"{{ 'a' ~ [1, 'b'] }}|{{ 1 == 1.0 }}|{{ true + 1 }}|{{ 'abc' | list }}|{{ {'a':1}.get('b', 2) }}", "a[1, 'b']|True|2|['a', 'b', 'c']|2"},
	} {
		require.Equal(t, tc.want, render(t, tc.src, nil), tc.src)
	}
}

// TestSharedTemplates renders the shared models' chat templates and the
// server's fallback for server/testdata/chat's conversations, compared with
// Python jinja2's renderings there.
func TestSharedTemplates(t *testing.T) {
	var cases []struct {
		Name     string           `json:"name"`
		Gen      bool             `json:"add_generation_prompt"`
		Messages []map[string]any `json:"messages"`
	}
	b, err := os.ReadFile("../../server/testdata/chat/cases.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cases))
	files, _ := filepath.Glob("../../../shared/testdata/chat-templates/*.jinja")
	files = append(files, "../../engine/chat/fallback.jinja")
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		tmpl, err := Compile(string(src))
		require.NoError(t, err, f)
		name := strings.TrimSuffix(filepath.Base(f), ".jinja")
		for _, c := range cases {
			var msgs []any
			for _, m := range c.Messages {
				msgs = append(msgs, NewDict("role", m["role"], "content", PlainText(m["content"].(string))))
			}
			want, err := os.ReadFile(filepath.Join("../../server/testdata/chat/expected", name+"."+c.Name+".txt"))
			require.NoError(t, err)
			out, err := tmpl.Render(context.Background(), Limits{}, map[string]any{
				"messages": msgs, "add_generation_prompt": c.Gen, "bos_token": "<s>", "eos_token": "</s>"})
			require.NoError(t, err, name+"/"+c.Name)
			require.Equal(t, string(want), out.S, name+"/"+c.Name)
			// Every plain byte is a byte of some message's content.
			for _, s := range out.Plain {
				found := false
				for _, m := range c.Messages {
					found = found || strings.Contains(m["content"].(string), out.S[s.Start:s.End])
				}
				require.True(t, found, "%s/%s: plain %q", name, c.Name, out.S[s.Start:s.End])
			}
		}
	}
}

func limitOf(err error) string {
	var le *LimitError
	if errors.As(err, &le) {
		return le.Limit
	}
	return ""
}

// TestLimits renders templates that break each bound: each stops quickly
// with the limit named.
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name, src, limit string
		lim              Limits
	}{
		{"recursion", "{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}", "depth", Limits{}},
		{"mutual recursion", "{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}", "depth", Limits{}},
		{"caller recursion", "{% macro f() %}{% call f() %}x{% endcall %}{% endmacro %}{{ f() }}", "depth", Limits{}},
		{"billion loop", "{% for i in range(1000000000) %}x{% endfor %}", "steps", Limits{}},
		{"nested loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "steps", Limits{}},
		{"string times 1e10", `{{ "x" * 10000000000 }}`, "output", Limits{}},
		{"list times 1e10", `{{ [1] * 10000000000 }}`, "output", Limits{}},
		{"doubling", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "output", Limits{}},
		{"output", "{% for i in range(100000) %}xxxxxxxxxx{% endfor %}", "output", Limits{Output: 1 << 16}},
		{"alloc", "{% set ns = namespace(s='x' * 60000) %}{% for i in range(100000) %}{% set ns.t = ns.s ~ i %}{% endfor %}", "alloc", Limits{Output: 1 << 16, Alloc: 1 << 24}},
		{"time", "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "time", Limits{Steps: 1 << 40, Time: 50 * time.Millisecond}},
		{"range", "{% for i in range(100000000) %}{% endfor %}", "alloc", Limits{Steps: 1 << 40}},
		{"quadratic unique", "{{ range(100000) | unique | length }}", "steps", Limits{Steps: 500_000}},
		{"membership", "{% set l = range(1000000) %}{% for i in range(1000) %}{{ -1 in l }}{% endfor %}", "steps", Limits{Steps: 500_000}},
		{"scans", "{% set s = 'x' * 10000000 %}{% for i in range(100000) %}{{ s.find('y') }}{% endfor %}", "steps", Limits{Steps: 500_000}},
		{"printing a list of one string many times", "{% set s = 'x' * 10000 %}{{ [s] * 60000 }}", "output", Limits{Output: 1 << 20}},
		{"joining it", "{% set s = 'x' * 10000 %}{{ ([s] * 60000) | join }}", "output", Limits{Output: 1 << 20}},
		{"json indent", "{{ [[1]] | tojson(indent=10000000000) }}", "output", Limits{}},
		{"strip with a long set", "{% set s = 'a' * 10000000 %}{% for i in range(1000) %}{{ s.strip(s) }}{% endfor %}", "steps", Limits{Steps: 500_000}},
		{"long prefixes", "{% set s = 'a' * 10000000 %}{% for i in range(1000) %}{{ s.startswith([s] * 1000) }}{% endfor %}", "steps", Limits{Steps: 500_000}},
		{"max of long strings", "{% set s = 'a' * 10000000 %}{% for i in range(1000) %}{{ ([s] * 1000) | max }}{% endfor %}", "steps", Limits{Steps: 500_000}},
		{"comparing long strings", "{% set s = 'a' * 10000000 %}{% for i in range(1000000) %}{{ s < s }}{% endfor %}", "steps", Limits{Steps: 500_000}},
		{"list equality", "{% set l = range(1000000) | list %}{% for i in range(1000) %}{{ l == l }}{% endfor %}", "steps", Limits{Steps: 500_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Compile(tc.src)
			require.NoError(t, err)
			start := time.Now()
			_, err = tmpl.Render(context.Background(), tc.lim, nil)
			require.Error(t, err)
			require.Equal(t, tc.limit, limitOf(err), "%v", err)
			require.Contains(t, err.Error(), "chat template exceeds the")
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

func TestDeepNestingIsAnError(t *testing.T) {
	_, err := Compile("{{ " + strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000) + " }}")
	require.ErrorContains(t, err, "nesting deeper than 100 levels")
	// A long flat chain parses, and its evaluation is bounded.
	tmpl, err := Compile("{{ 1" + strings.Repeat(" + 1", 20000) + " }}")
	require.NoError(t, err)
	_, err = tmpl.Render(context.Background(), Limits{}, nil)
	require.Equal(t, "depth", limitOf(err), "%v", err)
}

func TestCancelled(t *testing.T) {
	tmpl, err := Compile("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tmpl.Render(ctx, Limits{Steps: 1 << 40}, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestRaiseException(t *testing.T) {
	tmpl, err := Compile("{{ raise_exception('roles must alternate') }}")
	require.NoError(t, err)
	_, err = tmpl.Render(context.Background(), Limits{}, nil)
	var te *Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, "roles must alternate", te.Msg)
}

// TestPlainSpans follows message content through the transformations
// templates apply to it.
func TestPlainSpans(t *testing.T) {
	msg := PlainText("  <|im_end|>x  ")
	for _, tc := range []struct {
		src   string
		want  string
		plain []string
	}{
		{"<a>{{ m }}<b>", "<a>  <|im_end|>x  <b>", []string{"  <|im_end|>x  "}},
		{"<a>{{ m | trim }}<b>", "<a><|im_end|>x<b>", []string{"<|im_end|>x"}},
		{"{{ m.strip()[2:5] ~ '<c>' }}", "im_<c>", []string{"im_"}},
		{"{{ (m ~ '<c>') | trim }}", "<|im_end|>x  <c>", []string{"<|im_end|>x  "}},
		{"{{ m.split('|')[1] }}", "im_end", []string{"im_end"}},
		{"{{ m | upper }}", "  <|IM_END|>X  ", []string{"  <|IM_END|>X  "}},
		{"{{ m | tojson }}", `"  <|im_end|>x  "`, []string{`"  <|im_end|>x  "`}},
		{"{{ m.replace('x', '<y>') }}", "  <|im_end|><y>  ", []string{"  <|im_end|>", "  "}},
		{"{% for c in m.strip()[:3] %}{{ c }}.{% endfor %}", "<.|.i.", []string{"<", "|", "i"}},
		{"{% for k in {m: 1} %}<{{ k }}>{% endfor %}{{ {m: 1} | tojson }}", "<  <|im_end|>x  >{\"  <|im_end|>x  \": 1}",
			[]string{"  <|im_end|>x  ", `{"  <|im_end|>x  ": 1}`}},
		{"{{ strftime_now(m) }}", "  <|im_end|>x  ", []string{"  <|im_end|>x  "}},
	} {
		out := render(t, tc.src, map[string]any{"m": msg})
		tmpl, _ := Compile(tc.src)
		s, err := tmpl.Render(context.Background(), Limits{}, map[string]any{"m": msg})
		require.NoError(t, err)
		require.Equal(t, tc.want, out, tc.src)
		var got []string
		for _, sp := range s.Plain {
			got = append(got, s.S[sp.Start:sp.End])
		}
		require.Equal(t, tc.plain, got, tc.src)
	}
}

// TestDeepValues builds a list nested 100,000 deep: printing and comparing
// it stop at a bounded depth instead of exhausting the Go stack.
func TestDeepValues(t *testing.T) {
	out := render(t, "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}"+
		"{{ ns.l == ns.l }} {{ '[[...]]' in (ns.l | string) }} {{ (ns.l | string) | length }}", nil)
	require.Equal(t, "False True 8005", out)
}

// TestStackBounded renders the deepest templates the limits allow with the
// Go stack capped at 16 MiB (the default is 1 GiB): going past it would
// kill the test binary, as a stack overflow kills the server.
func TestStackBounded(t *testing.T) {
	old := debug.SetMaxStack(16 << 20)
	defer debug.SetMaxStack(old)
	nested := strings.Repeat("(", 90) + "n" + strings.Repeat(")", 90)
	for _, src := range []string{
		"{{ 1" + strings.Repeat(" + 1", 20000) + " }}",
		"{{ 'x'" + strings.Repeat(" | trim", 20000) + " }}",
		"{% macro f(n) %}{{ " + nested + " }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
		"{% macro f(n) %}{% if n %}{% for x in [1] %}{% if x %}{{ f(n) ~ " + nested + " }}{% endif %}{% endfor %}{% endif %}{% endmacro %}{{ f(1) }}",
	} {
		tmpl, err := Compile(src)
		require.NoError(t, err)
		_, err = tmpl.Render(context.Background(), Limits{}, nil)
		require.Equal(t, "depth", limitOf(err), "%v", err)
	}
}
