package engine

// Constraint restricts what every sample of a request may generate: a
// grammar, a JSON schema, a regular expression. Each sample gets its own
// state; a fork (beam, tree) clones it with the sequence.
type Constraint interface {
	// Start returns the state of a sample that has generated nothing yet.
	Start() ConstraintState
}

// ConstraintState is one sample's position in a Constraint.
type ConstraintState interface {
	// Mask sets the logits of tokens that may not come next to -Inf; end-of-
	// generation tokens stay only where the output so far is complete. It
	// returns an error when no token at all may come next.
	Mask(logits []float32) error
	// Accept advances the state past id (a token Mask allowed).
	Accept(id int32) error
	// Clone copies the state for a fork.
	Clone() ConstraintState
}
