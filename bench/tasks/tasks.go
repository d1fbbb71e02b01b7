// Package tasks holds the problem sets of `bench tts`: JSONL files of
// questions with verifiable answers (GSM8K's format among them), the answer
// extractor and normaliser, and a seeded generator of graded problems.
package tasks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/tscale/engine/engine/strategy"
)

// Task is one problem. In a JSONL file each line holds at least question and
// answer; GSM8K's answers (a worked solution ending "#### 18") are read as
// the number after "####".
type Task struct {
	ID       string `json:"id,omitempty"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
	// Prompt is the question's template, {question} replaced by Question
	// ("" means the runner's default chain-of-thought prompt).
	Prompt string `json:"prompt,omitempty"`
	// Type is "number" (the default: answers compare as numbers, "1,000" =
	// "1000.0") or "text" (case and surrounding space or punctuation ignored).
	Type  string `json:"type,omitempty"`
	Kind  string `json:"kind,omitempty"`  // generated tasks: arith, units or count
	Level int    `json:"level,omitempty"` // generated tasks: difficulty
}

// Gold is the task's final answer, normalised.
func (t Task) Gold() string {
	a := t.Answer
	if i := strings.LastIndex(a, "####"); i >= 0 {
		a = a[i+4:]
	}
	return Normalize(a, t.Type)
}

// Extractor is t's answer extractor: the answers it returns are normalised
// as Gold is, so equal answers vote together.
func (t Task) Extractor() strategy.Extractor {
	return strategy.Func(func(text string) (string, bool) { return Extract(text, t.Type) })
}

// Correct reports whether completion text answers t.
func (t Task) Correct(text string) bool {
	a, ok := Extract(text, t.Type)
	return ok && a == t.Gold()
}

// Normalize puts an answer in canonical form: a number as LastNumber writes
// it (no thousands separators or trailing zeros), text lower-cased without
// surrounding space and punctuation.
func Normalize(s, typ string) string {
	if typ == "text" {
		return strings.ToLower(strings.Trim(strings.TrimSpace(s), " .,!?;:\"'`*$"))
	}
	if n, ok := strategy.LastNumber.Extract(s); ok {
		return n
	}
	return strings.TrimSpace(s)
}

var (
	answerIs = regexp.MustCompile(`(?i)answer\s*(?:is|:|=)[\s:*$]*(-?[\d,]*\.?\d+)`)
	answerTo = regexp.MustCompile(`(?i)answer\s*(?:is|:)\s*([^\n.]+)`)
)

// Extract finds the final answer of a completion: the last \boxed{...}, else
// the first "answer is X" (few-shot prompts end their examples so, and small
// models go on after it), else GSM8K's "#### X", else (numbers) the last
// number. A boxed number keeps only the number ("\boxed{\$18}" is 18);
// a box without one (a copied placeholder) is passed over.
func Extract(text, typ string) (string, bool) {
	if b, ok := strategy.Boxed.Extract(text); ok && b != "" {
		if typ == "text" {
			return Normalize(b, typ), true
		}
		if n, ok := strategy.LastNumber.Extract(b); ok {
			return n, true
		} // a placeholder such as \boxed{N}: look further
	}
	re := answerIs
	if typ == "text" {
		re = answerTo
	}
	if m := re.FindStringSubmatch(text); m != nil {
		return Normalize(m[1], typ), true
	}
	if i := strings.LastIndex(text, "####"); i >= 0 {
		if a := Normalize(text[i+4:], typ); a != "" {
			return a, true
		}
	}
	if typ == "text" {
		return "", false
	}
	return strategy.LastNumber.Extract(text)
}

// Load reads a JSONL task file; blank lines are skipped.
func Load(path string) ([]Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads JSONL tasks from r; name is used in errors.
func Read(r io.Reader, name string) ([]Task, error) {
	var out []Task
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var t Task
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if t.Question == "" || t.Answer == "" {
			return nil, fmt.Errorf("%s:%d: need question and answer", name, line)
		}
		if t.Type != "" && t.Type != "number" && t.Type != "text" {
			return nil, fmt.Errorf("%s:%d: type %q (want number or text)", name, line, t.Type)
		}
		if t.Prompt != "" && !strings.Contains(t.Prompt, "{question}") {
			return nil, fmt.Errorf("%s:%d: prompt has no {question}", name, line)
		}
		if t.ID == "" {
			t.ID = fmt.Sprint(line)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tasks", name)
	}
	return out, nil
}

// Write writes tasks as JSONL.
func Write(w io.Writer, ts []Task) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, t := range ts {
		if err := enc.Encode(t); err != nil {
			return err
		}
	}
	return nil
}
