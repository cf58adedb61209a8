// Package growstack gives the goroutine that serves a request the stack it
// will need in one step, while the request is still shallow.
//
// A request to an API server built on k8s.io/apiserver is served by three
// goroutines, each starting with the runtime's initial stack: HTTP/2's
// stream goroutine runs the outermost filters up to the timeout filter,
// which starts a goroutine for the rest of the chain (authentication, audit,
// priority and fairness, authorization, routing, decoding the body and
// encoding the answer); the finisher's runs managed fields, admission and
// the storage. A stack grows by doubling as the request goes deeper, and
// every doubling copies the whole stack used so far and adjusts each of its
// frames (runtime.copystack): the deeper the request when it happens, the
// more it costs. Under a load of creates the timeout filter's goroutine
// grew more than once per request, the last time deep in the JSON decoding
// of the body: about 6 % of streamspace-apiserver's CPU.
//
// Placing one large frame on the stack while the goroutine is still shallow
// makes the runtime allocate the final size at once and copy only a few
// frames, and the rest of the request runs without growing. The earliest
// code of this server that the timeout filter's goroutine runs is the
// authenticator (eight frames deep), so that is where the stack is grown
// (Authenticator). The technique is CockroachDB's (pkg/util/growstack).
//
// A grown stack is freed when its goroutine exits, as without this; the cost
// is a 32 KiB stack for the life of each request, and the zeroing of one
// 16 KiB frame. A long-running request (a watch) is authenticated on
// HTTP/2's goroutine, which keeps the grown stack while it waits; the
// collector halves a stack less than a quarter used, so an idle watch's
// stack goes back down.
package growstack

import (
	"net/http"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// frame is the size of the frame Grow places on the stack. A goroutine whose
// stack is smaller than twice this grows to twice it (the runtime doubles
// until the frame fits).
const frame = 16 << 10

// Grow grows the calling goroutine's stack to at least 32 KiB in one step.
//
//go:noinline
func Grow() {
	touch(0)
}

// touch reads and writes its frame through an index the compiler cannot
// know, so the frame is neither removed nor shrunk.
//
//go:noinline
func touch(i int) byte {
	var buf [frame]byte
	buf[i&(frame-1)] = byte(i)
	return buf[(i*7)&(frame-1)]
}

// Authenticator grows the stack of the goroutine that authenticates each
// request, then asks a.
func Authenticator(a authenticator.Request) authenticator.Request {
	return authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		Grow()
		return a.AuthenticateRequest(r)
	})
}
