// Package model is the Model reconciler. It resolves every alias of a
// Model's spec to the ModelVersion it names (found through a cache index on
// the versions' spec.model), says in the Ready condition whether each alias
// points at a Ready version, and records every move of an alias in a
// bounded history, with the field manager the API server credits with it.
// It never writes spec, and it never deletes: a deleted Model leaves its
// versions, which it does not own, in place.
//
// The pure functions of model_status.go compute the status from the Model,
// its versions and its managedFields; reconciler.go reads those inputs and
// writes the status once per pass, only when it changed.
//
// A version an alias points at is kept from deletion by the API server, not
// by this package: config/policy/modelversion-aliased.yaml.
package model
