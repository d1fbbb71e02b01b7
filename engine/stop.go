package engine

import "strings"

// stopper watches a stream of text for stop strings. It releases text only
// once it can no longer be the start of a stop string, so a stop string is
// never emitted, even when it arrives split across tokens.
type stopper struct {
	stops []string
	held  string
}

// push adds text and returns what can be emitted, and whether a stop string
// was found (in which case the text before it is returned and the rest is
// dropped).
func (s *stopper) push(text string) (out string, stopped bool) {
	if len(s.stops) == 0 {
		return text, false
	}
	buf := s.held + text
	first := -1
	for _, st := range s.stops {
		if i := strings.Index(buf, st); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		s.held = ""
		return buf[:first], true
	}
	// Hold back the longest suffix that is a proper prefix of a stop string.
	keep := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(buf)); n > keep; n-- {
			if strings.HasSuffix(buf, st[:n]) {
				keep = n
				break
			}
		}
	}
	s.held = buf[len(buf)-keep:]
	return buf[:len(buf)-keep], false
}

// flush returns the held-back text at the end of generation.
func (s *stopper) flush() string {
	h := s.held
	s.held = ""
	return h
}
