package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxCatalogTemplateNameLength keeps a CatalogTemplate's name a valid label
// value, because installing it labels the Template
// catalog.stream.space/source=<name> (label values have at most 63 characters).
const MaxCatalogTemplateNameLength = validation.LabelValueMaxLength

// nameHashLength is the number of hex digits of SHA-256 that end a shortened name.
const nameHashLength = 10

// CatalogTemplateName is the name of a repository's template: unique across
// repositories and DNS-safe, "<repository>-<template>". A longer name than
// MaxCatalogTemplateNameLength is cut and ends with "-" and 10 hex digits of
// the SHA-256 of the full name, so two long names sharing a prefix stay
// apart. The cut never leaves a "." or "-" before the suffix (a DNS label
// must end with a letter or digit).
func CatalogTemplateName(repository, template string) string {
	name := repository + "-" + template
	if len(name) <= MaxCatalogTemplateNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:])[:nameHashLength]
	head := strings.TrimRight(name[:MaxCatalogTemplateNameLength-len(suffix)], "-.")
	return head + suffix
}
