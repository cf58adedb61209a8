// +k8s:deepcopy-gen=package
// +groupName=stream.space

// Package stream is the internal (hub) version of the stream.space API:
// Sessions, Templates and Connections.
package stream
