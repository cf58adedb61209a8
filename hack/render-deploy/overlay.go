package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// What artifacts/deploy/cluster/kustomization.yaml reads and generates.
const (
	// overlayDir is the overlay for a real cluster, inside the artifacts tree.
	overlayDir = "deploy/cluster"
	// baseImage is the image every workload of the base names; the overlay's
	// images: entry for it picks the image to deploy.
	baseImage = "ghcr.io/streamspace/controlplane"

	tlsSecretName      = "streamspace-apiserver-tls"
	postgresSecretName = "streamspace-postgres"
	postgresURLKey     = "url"
)

// inputs are the overlay's input files, by name.
type inputs struct {
	servingCertPEM, servingKeyPEM, caBundlePEM []byte
	postgresURL                                string
}

func (in inputs) files() map[string][]byte {
	return map[string][]byte{
		"tls.crt":      in.servingCertPEM,
		"tls.key":      in.servingKeyPEM,
		"ca.crt":       in.caBundlePEM,
		"postgres-url": []byte(in.postgresURL),
	}
}

// manifestFile is the built overlay, in --out.
const manifestFile = "streamspace.yaml"

// writeOutput writes the overlay's input files to dir, so that the same
// build can be made with kubectl's kustomize (docs/deploy.md), and the built
// overlay beside them. Both hold secrets: only the owner may read them.
func writeOutput(dir, overlay string, in inputs, built resmap.ResMap) (manifestPath string, err error) {
	manifest, err := built.AsYaml()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	for name, data := range in.files() {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	manifestPath = filepath.Join(dir, manifestFile)
	header := fmt.Sprintf("# Built by hack/render-deploy from %s: render again rather than edit.\n", overlay)
	if err := os.WriteFile(manifestPath, append([]byte(header), manifest...), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", manifestPath, err)
	}
	return manifestPath, nil
}

// buildOverlay builds the overlay from a copy of the artifacts tree in
// memory, with the inputs beside the overlay's kustomization.yaml: kustomize
// reads generator files only from inside the kustomization's directory, and
// keys and passwords must not be written into the repository. A non-empty
// image replaces the overlay's image, as `kustomize edit set image` would.
func buildOverlay(artifacts string, in inputs, image string) (resmap.ResMap, error) {
	fSys := filesys.MakeFsInMemory()
	const root = "/artifacts"
	if err := copyTree(artifacts, fSys, root); err != nil {
		return nil, err
	}
	overlay := path.Join(root, overlayDir)
	for name, data := range in.files() {
		if err := fSys.WriteFile(path.Join(overlay, name), data); err != nil {
			return nil, err
		}
	}
	if image != "" {
		if err := setImage(fSys, overlay, image); err != nil {
			return nil, err
		}
	}
	// The order kubectl's kustomize writes: Namespace and RBAC first,
	// webhooks last.
	options := krusty.MakeDefaultOptions()
	options.Reorder = krusty.ReorderOptionLegacy
	objects, err := krusty.MakeKustomizer(options).Run(fSys, overlay)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", filepath.Join(artifacts, overlayDir), err)
	}
	return objects, nil
}

// copyTree copies the regular files under dir on disk to root in fSys.
func copyTree(dir string, fSys filesys.FileSystem, root string) error {
	return filepath.WalkDir(dir, func(name string, entry fs.DirEntry, err error) error {
		if err != nil || !entry.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		return fSys.WriteFile(path.Join(root, filepath.ToSlash(rel)), data)
	})
}

// setImage points the overlay's images: entry for baseImage at image.
func setImage(fSys filesys.FileSystem, overlay, image string) error {
	file := path.Join(overlay, "kustomization.yaml")
	data, err := fSys.ReadFile(file)
	if err != nil {
		return err
	}
	var kustomization types.Kustomization
	if err := yaml.UnmarshalStrict(data, &kustomization); err != nil {
		return fmt.Errorf("parse %s: %w", overlayDir, err)
	}
	name, tag, digest := util.SplitImageName(image)
	entry := types.Image{Name: baseImage, NewName: name, NewTag: tag, Digest: digest}
	found := false
	for i := range kustomization.Images {
		if kustomization.Images[i].Name == baseImage {
			kustomization.Images[i], found = entry, true
		}
	}
	if !found {
		kustomization.Images = append(kustomization.Images, entry)
	}
	if data, err = yaml.Marshal(kustomization); err != nil {
		return err
	}
	return fSys.WriteFile(file, data)
}

// object is the part of a built object render-deploy reads.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	// Secret
	Data map[string][]byte `json:"data"`
	// APIService; the pod template of a workload
	Spec struct {
		CABundle []byte `json:"caBundle"`
		Service  *struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"service"`
		Template struct {
			Spec struct {
				InitContainers []container `json:"initContainers"`
				Containers     []container `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

func decodeObjects(objects resmap.ResMap) ([]object, error) {
	var decoded []object
	for _, r := range objects.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var obj object
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", r.GetKind(), r.GetName(), err)
		}
		decoded = append(decoded, obj)
	}
	return decoded, nil
}

// serviceDNSNames are the names the aggregator dials to reach the Service
// the APIServices point at: the serving certificate must carry them.
func serviceDNSNames(objects []object, clusterDomain string) ([]string, error) {
	var service string
	for _, obj := range objects {
		if obj.Kind != "APIService" {
			continue
		}
		ref := obj.Spec.Service
		if ref == nil {
			return nil, fmt.Errorf("APIService %s has no spec.service", obj.Metadata.Name)
		}
		name := ref.Name + "." + ref.Namespace + ".svc"
		if service != "" && service != name {
			return nil, fmt.Errorf("APIService %s points at %s, others at %s: one certificate cannot serve both", obj.Metadata.Name, name, service)
		}
		service = name
	}
	if service == "" {
		return nil, errors.New("the overlay holds no APIService")
	}
	return []string{service, service + "." + clusterDomain}, nil
}

// workloadKinds run pods: --image sets the image of every container of
// every one of them.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// checkBuilt checks that every input landed where the server and the
// aggregator read it, so that an overlay edited out of shape fails here
// rather than in the cluster.
func checkBuilt(objects []object, in inputs, image string) error {
	var tlsSecret, postgresSecret bool
	var apiServices, workloads int
	for _, obj := range objects {
		switch {
		case obj.Kind == "Secret" && obj.Metadata.Name == tlsSecretName:
			tlsSecret = true
			if !bytes.Equal(obj.Data["tls.crt"], in.servingCertPEM) || !bytes.Equal(obj.Data["tls.key"], in.servingKeyPEM) {
				return fmt.Errorf("Secret %s does not hold the serving certificate as tls.crt and tls.key", tlsSecretName)
			}
		case obj.Kind == "Secret" && obj.Metadata.Name == postgresSecretName:
			postgresSecret = true
			if string(obj.Data[postgresURLKey]) != in.postgresURL {
				return fmt.Errorf("Secret %s does not hold the database URL as %s", postgresSecretName, postgresURLKey)
			}
		case obj.Kind == "APIService":
			apiServices++
			if !bytes.Equal(obj.Spec.CABundle, in.caBundlePEM) {
				return fmt.Errorf("APIService %s: caBundle is not the CA bundle", obj.Metadata.Name)
			}
		case workloadKinds[obj.Kind] && image != "":
			workloads++
			pod := obj.Spec.Template.Spec
			for _, c := range append(pod.InitContainers, pod.Containers...) {
				if c.Image != image {
					return fmt.Errorf("%s %s: container %s runs %q, not %q", obj.Kind, obj.Metadata.Name, c.Name, c.Image, image)
				}
			}
		}
	}
	switch {
	case !tlsSecret:
		return fmt.Errorf("the overlay generates no Secret %s", tlsSecretName)
	case !postgresSecret:
		return fmt.Errorf("the overlay generates no Secret %s", postgresSecretName)
	case apiServices == 0:
		return errors.New("the overlay holds no APIService")
	case image != "" && workloads == 0:
		return errors.New("the overlay holds no Deployment to set the image of")
	}
	return nil
}
