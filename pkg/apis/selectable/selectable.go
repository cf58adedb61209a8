// Package selectable declares, once per kind, the fields that list and watch
// accept as field selectors. The same names are the indexed columns of the
// Postgres tables, so a selector on them is answered by SQL.
package selectable

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Fields per kind, besides metadata.name and metadata.namespace.
var Fields = map[schema.GroupKind][]string{
	{Group: "stream.space", Kind: "Session"}:                    {"spec.user", "spec.template", "spec.state", "status.phase"},
	{Group: "stream.space", Kind: "Connection"}:                 {"spec.session", "spec.user", "status.state"},
	{Group: "stream.space", Kind: "Template"}:                   {"spec.category", "spec.appType"},
	{Group: "catalog.stream.space", Kind: "TemplateRepository"}: {"spec.url", "status.phase"},
	{Group: "catalog.stream.space", Kind: "CatalogTemplate"}:    {"spec.category", "spec.appType", "spec.repository"},
}

// AddFieldLabelConversions registers the selectable fields of every kind of
// the group version, so that other field selectors are refused with 400.
func AddFieldLabelConversions(scheme *runtime.Scheme, gv schema.GroupVersion) error {
	for gk, fields := range Fields {
		if gk.Group != gv.Group {
			continue
		}
		allowed := map[string]bool{"metadata.name": true, "metadata.namespace": true}
		for _, f := range fields {
			allowed[f] = true
		}
		err := scheme.AddFieldLabelConversionFunc(gv.WithKind(gk.Kind),
			func(label, value string) (string, string, error) {
				if allowed[label] {
					return label, value, nil
				}
				return "", "", fmt.Errorf("field label not supported: %s", label)
			})
		if err != nil {
			return err
		}
	}
	return nil
}
