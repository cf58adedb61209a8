// Command streamspace-apiserver serves the StreamSpace API groups as a
// Kubernetes aggregated API server on PostgreSQL.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/streamspace/controlplane/pkg/cmd/server"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	server.SetGCDefaults(ctx)
	os.Exit(cli.Run(server.NewCommand(ctx)))
}
