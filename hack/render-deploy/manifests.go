package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The objects whose placeholders are filled, as named in artifacts/deploy.
const (
	tlsSecretName      = "streamspace-apiserver-tls"
	postgresSecretName = "streamspace-postgres"
	postgresURLKey     = "url"
)

// workloadKinds run pods: --image sets the image of every container of
// every one of them (streamspace-apiserver, streamspace-bridge,
// streamspace-controller; one image holds every command).
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// manifest is one file of the kustomization.
type manifest struct {
	source  string // where it was read
	content []byte
	objects []objectHeader
	secret  bool // holds keys or passwords once filled
}

type objectHeader struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

type secretObject struct {
	Data       map[string][]byte `json:"data"`
	StringData map[string]string `json:"stringData"`
}

type apiServiceObject struct {
	Spec struct {
		CABundle []byte `json:"caBundle"`
		Service  *struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"service"`
	} `json:"spec"`
}

type workloadObject struct {
	Spec struct {
		Template struct {
			Spec struct {
				InitContainers []containerImage `json:"initContainers"`
				Containers     []containerImage `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type containerImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// loadKustomization reads the files a kustomization lists, in its order.
// A listed directory contributes what its own kustomization.yaml lists or,
// without one, its *.yaml files, as `kubectl apply -f DIR` would.
func loadKustomization(dir string) ([]*manifest, error) {
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	if err := decodeFile(filepath.Join(dir, "kustomization.yaml"), &kustomization); err != nil {
		return nil, err
	}
	var manifests []*manifest
	for _, resource := range kustomization.Resources {
		if strings.Contains(resource, "://") {
			return nil, fmt.Errorf("%s: remote resource %s is not supported", dir, resource)
		}
		path := filepath.Clean(filepath.Join(dir, resource))
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("kustomization %s: %w", dir, err)
		}
		if !info.IsDir() {
			m, err := loadManifest(path)
			if err != nil {
				return nil, err
			}
			manifests = append(manifests, m)
			continue
		}
		if ok, err := exists(filepath.Join(path, "kustomization.yaml")); err != nil {
			return nil, err
		} else if ok {
			nested, err := loadKustomization(path)
			if err != nil {
				return nil, err
			}
			manifests = append(manifests, nested...)
			continue
		}
		files, err := filepath.Glob(filepath.Join(path, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			m, err := loadManifest(file)
			if err != nil {
				return nil, err
			}
			manifests = append(manifests, m)
		}
	}
	return manifests, nil
}

func loadManifest(path string) (*manifest, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &manifest{source: path, content: content}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(content), 4096)
	for {
		var header objectHeader
		if err := decoder.Decode(&header); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if header.Kind != "" {
			m.objects = append(m.objects, header)
		}
	}
	if len(m.objects) == 0 {
		return nil, fmt.Errorf("%s holds no object", path)
	}
	return m, nil
}

// serviceDNSNames are the names the aggregator dials to reach the Service
// the APIServices point at: the serving certificate must carry them.
func serviceDNSNames(manifests []*manifest, clusterDomain string) ([]string, error) {
	var service string
	for _, m := range manifests {
		for i, obj := range m.objects {
			if obj.Kind != "APIService" {
				continue
			}
			var apiService apiServiceObject
			if err := decodeDocument(m, i, &apiService); err != nil {
				return nil, err
			}
			ref := apiService.Spec.Service
			if ref == nil {
				return nil, fmt.Errorf("%s: APIService %s has no spec.service", m.source, obj.Metadata.Name)
			}
			name := ref.Name + "." + ref.Namespace + ".svc"
			if service != "" && service != name {
				return nil, fmt.Errorf("%s: APIService %s points at %s, others at %s: one certificate cannot serve both", m.source, obj.Metadata.Name, name, service)
			}
			service = name
		}
	}
	if service == "" {
		return nil, errors.New("the manifests hold no APIService")
	}
	return []string{service, service + "." + clusterDomain}, nil
}

// values fill the placeholders.
type values struct {
	servingCertPEM, servingKeyPEM, caBundlePEM []byte
	postgresURL                                string
	image                                      string // empty: keep the manifest's
}

// fill sets the placeholders of the manifests and checks, by decoding the
// result, that each value landed where it belongs. It edits the text rather
// than re-encoding the YAML, so the rendered files keep their comments.
func fill(manifests []*manifest, v values) error {
	var filledTLS, filledPostgres bool
	var workloads int
	var apiServices int
	for _, m := range manifests {
		for _, obj := range m.objects {
			target := true
			switch {
			case obj.Kind == "Secret" && obj.Metadata.Name == tlsSecretName:
				filledTLS = true
			case obj.Kind == "Secret" && obj.Metadata.Name == postgresSecretName:
				filledPostgres = true
			case obj.Kind == "APIService":
				apiServices++
			case workloadKinds[obj.Kind] && v.image != "":
				workloads++
			default:
				target = false
			}
			if target && len(m.objects) > 1 {
				return fmt.Errorf("%s: %s %s must be in a file of its own to be rendered", m.source, obj.Kind, obj.Metadata.Name)
			}
		}
		if len(m.objects) == 1 {
			if err := fillObject(m, v); err != nil {
				return fmt.Errorf("render %s: %w", m.source, err)
			}
		}
	}
	switch {
	case !filledTLS:
		return fmt.Errorf("the manifests hold no Secret %s", tlsSecretName)
	case !filledPostgres:
		return fmt.Errorf("the manifests hold no Secret %s", postgresSecretName)
	case apiServices == 0:
		return errors.New("the manifests hold no APIService")
	case v.image != "" && workloads == 0:
		return errors.New("the manifests hold no Deployment to set the image of")
	}
	return nil
}

func fillObject(m *manifest, v values) error {
	obj := m.objects[0]
	b64 := base64.StdEncoding.EncodeToString
	switch {
	case obj.Kind == "Secret" && obj.Metadata.Name == tlsSecretName:
		m.secret = true
		if err := setValues(m, map[string]string{"tls.crt": b64(v.servingCertPEM), "tls.key": b64(v.servingKeyPEM)}); err != nil {
			return err
		}
		var secret secretObject
		if err := decodeDocument(m, 0, &secret); err != nil {
			return err
		}
		if !bytes.Equal(secret.Data["tls.crt"], v.servingCertPEM) || !bytes.Equal(secret.Data["tls.key"], v.servingKeyPEM) {
			return errors.New("tls.crt and tls.key must be keys of data")
		}

	case obj.Kind == "Secret" && obj.Metadata.Name == postgresSecretName:
		m.secret = true
		// The placeholder may be in data (base64) or in stringData.
		var placeholder secretObject
		if err := decodeDocument(m, 0, &placeholder); err != nil {
			return err
		}
		value := strconv.Quote(v.postgresURL)
		if _, ok := placeholder.Data[postgresURLKey]; ok {
			value = b64([]byte(v.postgresURL))
		}
		if err := setValues(m, map[string]string{postgresURLKey: value}); err != nil {
			return err
		}
		var secret secretObject
		if err := decodeDocument(m, 0, &secret); err != nil {
			return err
		}
		if secret.StringData[postgresURLKey] != v.postgresURL && string(secret.Data[postgresURLKey]) != v.postgresURL {
			return fmt.Errorf("%s must be a key of data or stringData", postgresURLKey)
		}

	case obj.Kind == "APIService":
		if err := setValues(m, map[string]string{"caBundle": b64(v.caBundlePEM)}); err != nil {
			return err
		}
		var apiService apiServiceObject
		if err := decodeDocument(m, 0, &apiService); err != nil {
			return err
		}
		if !bytes.Equal(apiService.Spec.CABundle, v.caBundlePEM) {
			return errors.New("caBundle must be a key of spec")
		}

	case workloadKinds[obj.Kind] && v.image != "":
		if err := setEveryValue(m, "image", strconv.Quote(v.image)); err != nil {
			return err
		}
		var workload workloadObject
		if err := decodeDocument(m, 0, &workload); err != nil {
			return err
		}
		pod := workload.Spec.Template.Spec
		if len(pod.Containers) == 0 {
			return errors.New("the pod template has no container to set the image of")
		}
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			if c.Image != v.image {
				return fmt.Errorf("container %s: image must be the value of the line 'image:'", c.Name)
			}
		}
	}
	return nil
}

// setValues replaces the value of the one line "key: ..." per key (a
// Go-quoted string is a valid YAML double-quoted scalar).
func setValues(m *manifest, values map[string]string) error {
	for key, value := range values {
		line := regexp.MustCompile(`(?m)^([ \t]*(?:-[ \t]+)?` + regexp.QuoteMeta(key) + `:)(?:[ \t].*)?$`)
		if n := len(line.FindAllIndex(m.content, -1)); n != 1 {
			return fmt.Errorf("want exactly one line %q to fill, found %d", key+":", n)
		}
		m.content = line.ReplaceAllFunc(m.content, func(match []byte) []byte {
			prefix := line.FindSubmatch(match)[1]
			return append(append(bytes.Clone(prefix), ' '), value...)
		})
	}
	return nil
}

// setEveryValue replaces the value of every line "key: ..." (at least one).
func setEveryValue(m *manifest, key, value string) error {
	line := regexp.MustCompile(`(?m)^([ \t]*(?:-[ \t]+)?` + regexp.QuoteMeta(key) + `:)(?:[ \t].*)?$`)
	if len(line.FindAllIndex(m.content, -1)) == 0 {
		return fmt.Errorf("want a line %q to fill, found none", key+":")
	}
	m.content = line.ReplaceAllFunc(m.content, func(match []byte) []byte {
		prefix := line.FindSubmatch(match)[1]
		return append(append(bytes.Clone(prefix), ' '), value...)
	})
	return nil
}

// writeManifests writes the manifests to dir as NN-name.yaml, so that
// `kubectl apply -f dir`, which takes files in name order, creates the
// Namespace before what lives in it. Files of an earlier run go first.
func writeManifests(dir string, manifests []*manifest) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	stale, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9]-*.yaml"))
	if err != nil {
		return err
	}
	for _, path := range stale {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	for i, m := range manifests {
		base := filepath.Base(m.source)
		if other, ok := seen[base]; ok {
			return fmt.Errorf("%s and %s have the same file name", other, m.source)
		}
		seen[base] = m.source
		header := fmt.Sprintf("# Rendered by hack/render-deploy from %s: render again rather than edit.\n", m.source)
		mode := os.FileMode(0o644)
		if m.secret {
			mode = 0o600
		}
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, base))
		if err := os.WriteFile(path, append([]byte(header), m.content...), mode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

func decodeFile(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(into); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// decodeDocument decodes the index-th object of a manifest into a typed
// view of it.
func decodeDocument(m *manifest, index int, into any) error {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(m.content), 4096)
	for i := 0; ; {
		var raw map[string]any
		if err := decoder.Decode(&raw); err != nil {
			return fmt.Errorf("parse %s: %w", m.source, err)
		}
		if len(raw) == 0 { // a document of comments only
			continue
		}
		if i < index {
			i++
			continue
		}
		data, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, into); err != nil {
			return fmt.Errorf("parse %s: %w", m.source, err)
		}
		return nil
	}
}
