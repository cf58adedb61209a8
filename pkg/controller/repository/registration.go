package repository

import (
	"github.com/streamspace/controlplane/pkg/controller/manager"
)

// Name is the controller's name in --controllers.
const Name = "repository"

// Registration adds the repository controller to streamspace-controller.
func Registration() manager.Registration {
	opts := NewOptions()
	return manager.Registration{Name: Name, Options: opts, New: func(c manager.Context) (manager.Controller, error) {
		return New(Config{
			Client:          c.StreamClient,
			KubeClient:      c.KubeClient,
			InformerFactory: c.StreamInformers,
			Options:         *opts,
			Clock:           c.Clock,
			Recorder:        c.EventRecorder(Name),
			Logger:          c.Logger,
		})
	}}
}
