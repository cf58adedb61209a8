package storebuilder

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage/names"
)

// strategyDefaults are the choices every resource here makes alike.
type strategyDefaults struct {
	runtime.ObjectTyper
	names.NameGenerator
}

// AllowCreateOnUpdate is false: PUT never creates.
func (strategyDefaults) AllowCreateOnUpdate(context.Context) bool { return false }

// AllowUnconditionalUpdate is true: an update without resourceVersion is allowed.
func (strategyDefaults) AllowUnconditionalUpdate(context.Context) bool { return true }

// Canonicalize does nothing: objects are stored as given.
func (strategyDefaults) Canonicalize(runtime.Object) {}

// WarningsOnCreate returns none.
func (strategyDefaults) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// WarningsOnUpdate returns none.
func (strategyDefaults) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
