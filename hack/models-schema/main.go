// Command models-schema prints the OpenAPI v2 definitions of the served types
// as a Swagger document, the schema applyconfiguration-gen embeds in the
// generated apply configurations for their Extract functions and for the fake
// clientset's server-side apply.
//
// The model names (+k8s:openapi-model-package) are the types' Go package
// paths made REST-friendly, the names applyconfiguration-gen looks kinds up
// by, so the embedded schema and scheme.ToOpenAPIDefinitionName agree.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/streamspace/controlplane/pkg/generated/openapi"
)

func main() {
	if err := output(); err != nil {
		fmt.Fprintf(os.Stderr, "models-schema: %v\n", err)
		os.Exit(1)
	}
}

func output() error {
	refFunc := func(name string) spec.Ref {
		return spec.MustCreateRef(fmt.Sprintf("#/definitions/%s", name))
	}
	defs := openapi.GetOpenAPIDefinitions(refFunc)
	schemaDefs := make(map[string]spec.Schema, len(defs))
	for k, v := range defs {
		// The output is OpenAPI v2: where a definition embeds a v2 schema
		// (marked by an extension), that one is used.
		if schema, ok := v.Schema.Extensions[common.ExtensionV2Schema]; ok {
			if v2Schema, isOpenAPISchema := schema.(spec.Schema); isOpenAPISchema {
				schemaDefs[k] = v2Schema
				continue
			}
		}
		schemaDefs[k] = v.Schema
	}
	data, err := json.Marshal(&spec.Swagger{
		SwaggerProps: spec.SwaggerProps{
			Definitions: schemaDefs,
			Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "StreamSpace", Version: "unversioned"}},
			Swagger:     "2.0",
		},
	})
	if err != nil {
		return fmt.Errorf("encode the definitions: %w", err)
	}
	_, err = os.Stdout.Write(data)
	return err
}
