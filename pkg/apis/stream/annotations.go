package stream

// WokenAtAnnotation is set on a Session when a connection wakes it from
// hibernation (by the connect subresource or the hibernation controller),
// to the time of the wake in RFC 3339 with nanoseconds. The session
// controller measures the time from it to Running, then removes it.
const WokenAtAnnotation = "stream.space/woken-at"
