// Command render-deploy builds the kustomize overlay artifacts/deploy/cluster
// for a real cluster. It issues the serving certificate of
// streamspace-apiserver from a CA (created on first use, reused on later
// runs), since kustomize cannot issue certificates; writes the files the
// overlay's generators read (the certificate, its key, the CA bundle, the
// database URL) to one directory; and builds the overlay with them into one
// manifest there:
//
//	go run ./hack/render-deploy --out ~/streamspace-deploy --postgres-url "$URL"
//	kubectl apply --server-side -f ~/streamspace-deploy/streamspace.yaml
//
// Run again with the same --out to renew the serving certificate under the
// same CA (caBundle unchanged). See docs/deploy.md.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

type options struct {
	artifacts     string
	out           string
	caDir         string
	trustCAs      []string
	postgresURL   string
	image         string
	clusterDomain string
	validity      time.Duration
}

func main() {
	var o options
	flags := pflag.NewFlagSet("render-deploy", pflag.ExitOnError)
	flags.StringVar(&o.artifacts, "artifacts", "artifacts", "directory of the kustomizations; the overlay built is "+overlayDir+" in it")
	flags.StringVar(&o.out, "out", "", "directory to write the overlay's inputs and the built manifest to (required); it holds secrets, keep it private")
	flags.StringVar(&o.caDir, "ca-dir", "", "directory of the CA (ca.crt, ca.key) that signs the serving certificate; a new CA is created there when it holds none (default OUT/pki)")
	flags.StringArrayVar(&o.trustCAs, "trust-ca", nil, "PEM file of another CA to trust in caBundle as well, e.g. the previous CA while rotating the CA (repeatable)")
	flags.StringVar(&o.postgresURL, "postgres-url", "", "PostgreSQL URL for Secret streamspace-postgres (default $STREAMSPACE_POSTGRES_URL)")
	flags.StringVar(&o.image, "image", "", "container image of every workload: streamspace-apiserver, streamspace-bridge and streamspace-controller (default: the overlay's images: entry)")
	flags.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain, for the certificate's fully qualified service name")
	flags.DurationVar(&o.validity, "cert-validity", 365*24*time.Hour, "how long the serving certificate is valid")
	_ = flags.Parse(os.Args[1:])
	if o.postgresURL == "" {
		o.postgresURL = os.Getenv("STREAMSPACE_POSTGRES_URL")
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "render-deploy: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	switch {
	case o.out == "":
		return errors.New("--out is required")
	case o.postgresURL == "":
		return errors.New("--postgres-url (or $STREAMSPACE_POSTGRES_URL) is required")
	case o.validity <= 0:
		return errors.New("--cert-validity must be positive")
	}
	if o.caDir == "" {
		o.caDir = filepath.Join(o.out, "pki")
	}

	// The names the certificate must carry come from the APIServices, so
	// the overlay is built once before the certificate exists.
	draft, err := buildOverlay(o.artifacts, inputs{}, "")
	if err != nil {
		return err
	}
	objects, err := decodeObjects(draft)
	if err != nil {
		return err
	}
	dnsNames, err := serviceDNSNames(objects, o.clusterDomain)
	if err != nil {
		return err
	}

	ca, created, err := loadOrCreateCA(o.caDir)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(os.Stderr, "created a new CA in %s (keep it: later runs renew the certificate under it)\n", o.caDir)
	} else {
		fmt.Fprintf(os.Stderr, "signing with the CA in %s (%s, valid until %s)\n", o.caDir, ca.cert.Subject.CommonName, ca.cert.NotAfter.Format(time.DateOnly))
	}
	serving, err := ca.issueServingCert(dnsNames, o.validity)
	if err != nil {
		return err
	}
	bundle, err := caBundle(ca, o.trustCAs)
	if err != nil {
		return err
	}
	if err := verifyServingCert(serving.certPEM, bundle, dnsNames); err != nil {
		return err
	}

	in := inputs{
		servingCertPEM: serving.certPEM,
		servingKeyPEM:  serving.keyPEM,
		caBundlePEM:    bundle,
		postgresURL:    o.postgresURL,
	}
	built, err := buildOverlay(o.artifacts, in, o.image)
	if err != nil {
		return err
	}
	if objects, err = decodeObjects(built); err != nil {
		return err
	}
	if err := checkBuilt(objects, in, o.image); err != nil {
		return fmt.Errorf("build %s: %w", overlayDir, err)
	}
	path, err := writeOutput(o.out, filepath.Join(o.artifacts, overlayDir), in, built)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d objects to %s; serving certificate for %v valid until %s\n",
		len(objects), path, dnsNames, serving.cert.NotAfter.Format(time.DateOnly))
	webhook, err := writeTokenWebhookKubeconfig(o.out, dnsNames[0], bundle)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s for kube-apiserver's --authentication-token-webhook-config-file (see docs/security.md, API keys)\n", webhook)
	return nil
}

// tokenWebhookClient is the common name of kube-apiserver's client
// certificate for the API key token webhook, as the Deployment's
// --token-webhook-allowed-names names it.
const tokenWebhookClient = "streamspace-token-webhook-client"

// writeTokenWebhookKubeconfig writes the kubeconfig kube-apiserver needs to
// authenticate API keys through streamspace-apiserver: the webhook's URL at
// the Service, verified against the serving CA bundle, and kube-apiserver's
// client certificate (issued by the cluster's client CA with common name
// tokenWebhookClient) in the control plane's pki directory.
func writeTokenWebhookKubeconfig(dir, serviceName string, caBundle []byte) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = "https://" + serviceName + ":443/authenticate/apikeys"
	cluster.CertificateAuthorityData = caBundle
	cfg.Clusters["streamspace-apiserver"] = cluster
	auth := clientcmdapi.NewAuthInfo()
	auth.ClientCertificate = "/etc/kubernetes/pki/" + tokenWebhookClient + ".crt"
	auth.ClientKey = "/etc/kubernetes/pki/" + tokenWebhookClient + ".key"
	cfg.AuthInfos["kube-apiserver"] = auth
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo = "streamspace-apiserver", "kube-apiserver"
	cfg.Contexts["token-webhook"] = kctx
	cfg.CurrentContext = "token-webhook"
	path := filepath.Join(dir, "token-webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
