package controller

import (
	"github.com/streamspace/controlplane/pkg/controller/connectionstate"
	"github.com/streamspace/controlplane/pkg/controller/hibernation"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/repository"
	"github.com/streamspace/controlplane/pkg/controller/sessionpool"
	"github.com/streamspace/controlplane/pkg/controller/sessionquota"
	"github.com/streamspace/controlplane/pkg/controller/sessionschedule"
	"github.com/streamspace/controlplane/pkg/controller/sessionshare"
	"github.com/streamspace/controlplane/pkg/controller/sessionworkload"
	"github.com/streamspace/controlplane/pkg/controller/templatevalidation"
)

// Controllers are every controller streamspace-controller runs, in start
// order; --controllers selects among them. A new controller is one line.
func Controllers() manager.Registry {
	return manager.Registry{
		sessionworkload.Registration(),
		connectionstate.Registration(),
		hibernation.Registration(),
		templatevalidation.Registration(),
		repository.Registration(),
		sessionquota.Registration(),
		sessionshare.Registration(),
		sessionschedule.Registration(),
		sessionpool.Registration(),
	}
}
