// Package statuspatch builds JSON merge patches of the status fields one
// controller owns. Several controllers write parts of a Session's status;
// each patches only its own fields, computed as the difference to what it
// last saw, so none of them overwrites another's fields and no patch
// conflicts.
package statuspatch

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Status returns {"status": {...}} with each of fields whose JSON value
// differs between oldStatus and newStatus (null when newStatus omits it),
// and false when none differs.
func Status(oldStatus, newStatus any, fields ...string) ([]byte, bool, error) {
	oldFields, err := toFields(oldStatus)
	if err != nil {
		return nil, false, err
	}
	newFields, err := toFields(newStatus)
	if err != nil {
		return nil, false, err
	}
	changed := map[string]json.RawMessage{}
	for _, f := range fields {
		o, n := oldFields[f], newFields[f]
		if bytes.Equal(o, n) {
			continue
		}
		if n == nil {
			n = json.RawMessage("null")
		}
		changed[f] = n
	}
	if len(changed) == 0 {
		return nil, false, nil
	}
	data, err := json.Marshal(map[string]any{"status": changed})
	if err != nil {
		return nil, false, fmt.Errorf("encode status patch: %w", err)
	}
	return data, true, nil
}

// StatusAt is Status with a precondition: the patch carries
// metadata.resourceVersion, so the server refuses it with 409 Conflict when
// the object changed since resourceVersion (e.g. the informer cache it was
// computed from is stale). Controllers use it for writes that record
// something to act on once, such as an Event or a metric.
func StatusAt(resourceVersion string, oldStatus, newStatus any, fields ...string) ([]byte, bool, error) {
	patch, changed, err := Status(oldStatus, newStatus, fields...)
	if err != nil || !changed {
		return patch, changed, err
	}
	return withResourceVersion(patch, resourceVersion)
}

// AnnotationsAt is Annotations with the resourceVersion precondition of StatusAt.
func AnnotationsAt(resourceVersion string, values map[string]*string) ([]byte, error) {
	patch, err := Annotations(values)
	if err != nil {
		return nil, err
	}
	patch, _, err = withResourceVersion(patch, resourceVersion)
	return patch, err
}

func withResourceVersion(patch []byte, resourceVersion string) ([]byte, bool, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(patch, &fields); err != nil {
		return nil, false, fmt.Errorf("decode patch: %w", err)
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := fields["metadata"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, false, fmt.Errorf("decode patch metadata: %w", err)
		}
	}
	rv, err := json.Marshal(resourceVersion)
	if err != nil {
		return nil, false, err
	}
	meta["resourceVersion"] = rv
	if fields["metadata"], err = json.Marshal(meta); err != nil {
		return nil, false, err
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, false, fmt.Errorf("encode patch: %w", err)
	}
	return data, true, nil
}

// Annotations returns a merge patch that sets (value != nil) or removes
// (value == nil) annotations.
func Annotations(values map[string]*string) ([]byte, error) {
	return json.Marshal(map[string]any{"metadata": map[string]any{"annotations": values}})
}

func toFields(v any) (map[string]json.RawMessage, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	return fields, nil
}
