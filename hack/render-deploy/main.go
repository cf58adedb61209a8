// Command render-deploy turns artifacts/deploy into manifests for a real
// cluster. It issues the serving certificate of streamspace-apiserver from a
// CA (created on first use, reused on later runs), fills Secret
// streamspace-apiserver-tls, the APIServices' caBundle and Secret
// streamspace-postgres, and writes every object of the kustomization, in
// its order, to one directory:
//
//	go run ./hack/render-deploy --out ~/streamspace-deploy --postgres-url "$URL"
//	kubectl apply --server-side -f ~/streamspace-deploy
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
)

type options struct {
	manifests     string
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
	flags.StringVar(&o.manifests, "manifests", "artifacts/deploy", "directory of the kustomization to render")
	flags.StringVar(&o.out, "out", "", "directory to write the rendered manifests to (required); it holds secrets, keep it private")
	flags.StringVar(&o.caDir, "ca-dir", "", "directory of the CA (ca.crt, ca.key) that signs the serving certificate; a new CA is created there when it holds none (default OUT/pki)")
	flags.StringArrayVar(&o.trustCAs, "trust-ca", nil, "PEM file of another CA to trust in caBundle as well, e.g. the previous CA while rotating the CA (repeatable)")
	flags.StringVar(&o.postgresURL, "postgres-url", "", "PostgreSQL URL for Secret streamspace-postgres (default $STREAMSPACE_POSTGRES_URL)")
	flags.StringVar(&o.image, "image", "", "container image of every workload in the manifests: streamspace-apiserver, streamspace-bridge and streamspace-controller (default: the one in the manifests)")
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

	manifests, err := loadKustomization(o.manifests)
	if err != nil {
		return err
	}
	dnsNames, err := serviceDNSNames(manifests, o.clusterDomain)
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

	if err := fill(manifests, values{
		servingCertPEM: serving.certPEM,
		servingKeyPEM:  serving.keyPEM,
		caBundlePEM:    bundle,
		postgresURL:    o.postgresURL,
		image:          o.image,
	}); err != nil {
		return err
	}
	if err := writeManifests(o.out, manifests); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d manifests to %s; serving certificate for %v valid until %s\n",
		len(manifests), o.out, dnsNames, serving.cert.NotAfter.Format(time.DateOnly))
	return nil
}
