package controller

import (
	"github.com/streamspace/controlplane/pkg/controller/connection"
	"github.com/streamspace/controlplane/pkg/controller/hibernation"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/repository"
	"github.com/streamspace/controlplane/pkg/controller/session"
	"github.com/streamspace/controlplane/pkg/controller/templatevalidation"
)

// Controllers are every controller streamspace-controller runs, in start
// order; --controllers selects among them. A new controller is one line.
func Controllers() manager.Registry {
	return manager.Registry{
		session.Registration(),
		connection.Registration(),
		hibernation.Registration(),
		templatevalidation.Registration(),
		repository.Registration(),
	}
}
