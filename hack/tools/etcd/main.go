// Command etcd is the etcd server, built from the Go module proxy for the
// local control plane (there is no etcd package on the machine).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
