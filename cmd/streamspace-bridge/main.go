// Command streamspace-bridge serves StreamSpace's WebSocket feeds, the old
// REST API and a small dashboard, always as the calling user.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/streamspace/controlplane/pkg/cmd/bridge"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	os.Exit(cli.Run(bridge.NewCommand(ctx)))
}
