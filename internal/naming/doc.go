// Package naming derives the names of the objects the operator creates.
//
// A Trial is named "<experiment>-<hash>", the hash taken over its parameter
// assignment and seed. The name is a pure function of what the Trial runs, so
// creating it twice is a no-op and an operator that restarts, or reads a
// lagging cache, can never run the same point and seed twice: the API server
// refuses the second create with AlreadyExists. The Trial's Job takes the
// Trial's name.
package naming
