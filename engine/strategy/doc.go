// Package strategy implements test-time scaling strategies on top of the
// engine: self-consistency voting, best-of-N under a scorer (mean token
// logprob or a reward model), beam search and step-level tree search.
//
// Each strategy depends on a small interface rather than on *engine.Engine,
// so it can be tested with scripted samplers and synthetic language models:
// Vote and BestOfN take a Sampler (engine.Engine's Stream), Beam and Tree an
// LM (see FromEngine). Beam and Tree branch with Node.Fork, which on the
// engine shares KV blocks copy-on-write, and advance all branches with one
// batched Extend per token.
package strategy
