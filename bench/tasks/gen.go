package tasks

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kinds are the generator's task kinds, each with levels 1 to MaxLevel.
var Kinds = []string{"arith", "units", "count"}

// MaxLevel is the hardest level of every kind.
const MaxLevel = 5

// Generate writes n tasks of kind at level (1 to MaxLevel); the same seed
// gives the same tasks.
//
//	arith: 1 one-digit sum ("What is 3 + 5?"), 2 a two-digit sum or
//	       difference, 3 two operations, 4 two with one multiplication,
//	       5 three ("What is (17 + 8) * 3 - 5?"), evaluated left to right
//	units: 1 a small count of an everyday unit ("How many days are in 2 weeks?"),
//	       2 any one-factor conversion ("How many centimetres are in 7 metres?"),
//	       3 a mixed quantity ("... in 3 hours and 25 minutes?"),
//	       4 two factors ("How many seconds are in 4 hours?"), 5 both
//	count: how often a word occurs in a list of 4, 6, 10, 16 or 24 words
func Generate(kind string, level, n int, seed uint64) ([]Task, error) {
	if level < 1 || level > MaxLevel {
		return nil, fmt.Errorf("generate: level %d (want 1 to %d)", level, MaxLevel)
	}
	if n < 1 {
		return nil, fmt.Errorf("generate: %d tasks (want >= 1)", n)
	}
	var gen func(r *rand.Rand, level int) (string, int)
	switch kind {
	case "arith":
		gen = arith
	case "units":
		gen = units
	case "count":
		gen = count
	default:
		return nil, fmt.Errorf("generate: unknown kind %q (want %s)", kind, strings.Join(Kinds, ", "))
	}
	// One stream per (kind, level, seed): adding a level leaves the others.
	r := rand.New(rand.NewPCG(seed, uint64(level)<<32|uint64(len(kind))<<8|uint64(kind[0])))
	out := make([]Task, n)
	for i := range out {
		q, a := gen(r, level)
		out[i] = Task{ID: fmt.Sprintf("%s-%d-%03d", kind, level, i), Question: q, Answer: strconv.Itoa(a), Kind: kind, Level: level}
	}
	return out, nil
}

// ParseGen reads a "gen:KIND:LEVEL" task spec; ok is false for anything
// that does not start with "gen:".
func ParseGen(spec string) (kind string, level int, ok bool, err error) {
	rest, ok := strings.CutPrefix(spec, "gen:")
	if !ok {
		return "", 0, false, nil
	}
	kind, lv, found := strings.Cut(rest, ":")
	if !found {
		return "", 0, true, fmt.Errorf("task spec %q: want gen:KIND:LEVEL", spec)
	}
	level, err = strconv.Atoi(lv)
	if err != nil {
		return "", 0, true, fmt.Errorf("task spec %q: level: %w", spec, err)
	}
	return kind, level, true, nil
}

func between(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

func arith(r *rand.Rand, level int) (string, int) {
	if level == 1 {
		a, b := between(r, 1, 9), between(r, 1, 9)
		return fmt.Sprintf("What is %d + %d?", a, b), a + b
	}
	ops := [...]int{1, 2, 2, 3}[level-2]
	mul := -1 // the step that multiplies
	if level >= 4 {
		mul = r.IntN(ops)
	}
	v := between(r, 2, 60)
	expr, sum := strconv.Itoa(v), false // sum: expr ends in a + or - at top level
	for i := 0; i < ops; i++ {
		switch {
		case i == mul:
			k := between(r, 2, 9)
			if sum {
				expr = "(" + expr + ")"
			}
			expr, v, sum = fmt.Sprintf("%s * %d", expr, k), v*k, false
		case r.IntN(2) == 0 || v < 4:
			k := between(r, 2, 60)
			expr, v, sum = fmt.Sprintf("%s + %d", expr, k), v+k, true
		default:
			k := between(r, 2, min(60, v-1))
			expr, v, sum = fmt.Sprintf("%s - %d", expr, k), v-k, true
		}
	}
	return "What is " + expr + "?", v
}

// conv is a conversion from big to small units.
type conv struct {
	big, small string
	factor     int
}

var (
	everyday = []conv{{"weeks", "days", 7}, {"yards", "feet", 3}, {"feet", "inches", 12}, {"hours", "minutes", 60},
		{"metres", "centimetres", 100}, {"days", "hours", 24}}
	oneStep = []conv{{"metres", "centimetres", 100}, {"kilometres", "metres", 1000}, {"hours", "minutes", 60},
		{"minutes", "seconds", 60}, {"kilograms", "grams", 1000}, {"days", "hours", 24}, {"weeks", "days", 7},
		{"feet", "inches", 12}, {"yards", "feet", 3}, {"litres", "millilitres", 1000}}
	twoStep = []conv{{"hours", "seconds", 3600}, {"days", "minutes", 1440}, {"weeks", "hours", 168},
		{"kilometres", "centimetres", 100000}, {"yards", "inches", 36}}
	// mixed pairs the two-step conversions' intermediate unit with each.
	mixedMid = map[string]conv{"hours": {"hours", "minutes", 60}, "days": {"days", "hours", 24},
		"weeks": {"weeks", "days", 7}, "kilometres": {"kilometres", "metres", 1000}, "yards": {"yards", "feet", 3}}
)

func units(r *rand.Rand, level int) (string, int) {
	switch level {
	case 1:
		c := everyday[r.IntN(len(everyday))]
		n := between(r, 1, 3)
		return fmt.Sprintf("How many %s are in %d %s?", c.small, n, c.big), n * c.factor
	case 2:
		c := oneStep[r.IntN(len(oneStep))]
		n := between(r, 2, 12)
		return fmt.Sprintf("How many %s are in %d %s?", c.small, n, c.big), n * c.factor
	case 3:
		c := oneStep[r.IntN(len(oneStep))]
		n, m := between(r, 2, 9), between(r, 1, c.factor-1)
		return fmt.Sprintf("How many %s are in %d %s and %d %s?", c.small, n, c.big, m, c.small), n*c.factor + m
	case 4:
		c := twoStep[r.IntN(len(twoStep))]
		n := between(r, 2, 9)
		return fmt.Sprintf("How many %s are in %d %s?", c.small, n, c.big), n * c.factor
	}
	c := twoStep[r.IntN(len(twoStep))]
	mid := mixedMid[c.big]
	n, m := between(r, 2, 5), between(r, 1, mid.factor-1)
	return fmt.Sprintf("How many %s are in %d %s and %d %s?", c.small, n, c.big, m, mid.small),
		n*c.factor + m*(c.factor/mid.factor)
}

var words = []string{"apple", "pear", "plum", "cherry", "lemon", "grape", "melon", "peach"}

func count(r *rand.Rand, level int) (string, int) {
	size := [...]int{4, 6, 10, 16, 24}[level-1]
	kinds := words[:min(3+level, len(words))]
	target := kinds[r.IntN(len(kinds))]
	list := make([]string, size)
	n := 0
	for i := range list {
		list[i] = kinds[r.IntN(len(kinds))]
		if list[i] == target {
			n++
		}
	}
	return fmt.Sprintf("Here is a list of fruits: %s. How many times does the word %s appear in the list?",
		strings.Join(list, ", "), target), n
}
