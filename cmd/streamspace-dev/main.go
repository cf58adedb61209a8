// Command streamspace-dev runs the local StreamSpace control plane:
// `run` in the foreground, `up`/`down` in the background, `status`.
// See internal/devstack and `make run`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/streamspace/controlplane/internal/devstack/cli"
)

func main() {
	if err := cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "streamspace-dev:", err)
		os.Exit(1)
	}
}
