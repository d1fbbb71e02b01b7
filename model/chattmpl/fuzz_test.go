package chattmpl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzLimits are small, so that a random template that runs away hits a
// limit quickly.
var fuzzLimits = Limits{Depth: 16, Steps: 200_000, Output: 1 << 16, Alloc: 1 << 22, Time: time.Second}

// FuzzRender compiles and renders random template sources: rendering
// never panics, always returns within its time limit (plus slack for a
// busy machine), never outputs more than the output limit, and its plain
// spans lie sorted inside the output.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}",
		"{% for i in range(1000000000) %}x{% endfor %}",
		`{{ "x" * 10000000000 }}`,
		"{% for m in messages %}{{ m.role | capitalize }}: {{ m.content | trim }}\n{% endfor %}",
		"{{ messages[0]['content'].split('|')[::-1] | join('<|im_end|>') | tojson(indent=2) }}",
		"{% set ns = namespace(x='') %}{% for c in messages[0].content %}{% set ns.x = c ~ ns.x %}{% endfor %}{{ ns.x }}",
		"{%- if x is not defined -%}{{ raise_exception('no x') }}{%- endif %}",
		"{% raw %}{{{% endraw %}{# c #}{%+ if 1 -%} a {%- endif %}",
		"{{ messages[1].content | replace('x', 'y') | upper }}{{ messages[1].content.split()[1:] | join('|') }}{{ messages[1].content[::-1] }}",
		"{% for k, v in {messages[1].content: messages[0].content} | items %}{{ k ~ v | trim }}{% endfor %}{{ messages | tojson }}{{ messages | map(attribute='content') | list }}",
	} {
		f.Add(s)
	}
	files, _ := filepath.Glob("../../../shared/testdata/chat-templates/*.jinja")
	for _, p := range append(files, "../../engine/chat/fallback.jinja") {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	// \x01 marks content: a template with no \x01 and no escapes of its
	// own can only have copied it from a message, so every \x01 in the
	// output must lie in a plain span.
	msgs := []any{NewDict("role", "system", "content", PlainText("Be <|im_end|>\x01 brief.")),
		NewDict("role", "user", "content", PlainText("\x01\x01 x\x01y \x01")),
		NewDict("role", "user", "content", PlainText("  Hi | there  ")),
		NewDict("role", "assistant", "content", PlainText("<think>x</think>ok"))}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Compile(src)
		if err != nil {
			return
		}
		start := time.Now()
		// A rendering that never returns fails here, naming its source.
		hang := time.AfterFunc(fuzzLimits.Time+5*time.Second, func() { panic(fmt.Sprintf("rendering %q does not return", src)) })
		defer hang.Stop()
		out, err := tmpl.Render(context.Background(), fuzzLimits, map[string]any{
			"messages": msgs, "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})
		require.Less(t, time.Since(start), fuzzLimits.Time+5*time.Second, "%q", src)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(out.S), fuzzLimits.Output)
		end := 0
		for _, s := range out.Plain {
			require.True(t, end <= s.Start && s.Start < s.End && s.End <= len(out.S), "%q: spans %v", src, out.Plain)
			end = s.End
		}
		if !strings.ContainsAny(src, "\x01\\") {
			for i := range len(out.S) {
				if out.S[i] == 1 {
					require.True(t, out.Plain.Overlaps(i, i+1), "%q: content byte %d of %q not plain (%v)", src, i, out.S, out.Plain)
				}
			}
		}
	})
}
