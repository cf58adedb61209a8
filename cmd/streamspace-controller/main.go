// Command streamspace-controller runs the StreamSpace controllers (session
// workloads, connections, hibernation, template validation), leader-elected.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/streamspace/controlplane/pkg/cmd/controller"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	os.Exit(cli.Run(controller.NewCommand(ctx)))
}
