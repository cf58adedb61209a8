package storebuilder

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage/names"
)

// StrategyDefaults are the choices every resource here makes alike; strategies
// embed it and add what differs (scope, preparation, validation, reset fields).
type StrategyDefaults struct {
	runtime.ObjectTyper
	names.NameGenerator
}

// NewStrategyDefaults uses the scheme as typer and generates names from generateName.
func NewStrategyDefaults(typer runtime.ObjectTyper) StrategyDefaults {
	return StrategyDefaults{typer, names.SimpleNameGenerator}
}

// AllowCreateOnUpdate is false: PUT never creates.
func (StrategyDefaults) AllowCreateOnUpdate(context.Context) bool { return false }

// AllowUnconditionalUpdate is true: an update without resourceVersion is allowed.
func (StrategyDefaults) AllowUnconditionalUpdate(context.Context) bool { return true }

// Canonicalize does nothing: objects are stored as given.
func (StrategyDefaults) Canonicalize(runtime.Object) {}

// WarningsOnCreate returns none.
func (StrategyDefaults) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// WarningsOnUpdate returns none.
func (StrategyDefaults) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
