package growstack

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"unsafe"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// deep uses about n KiB of stack in frames of 1 KiB.
//
//go:noinline
func deep(n int) byte {
	var buf [1 << 10]byte
	buf[n&(len(buf)-1)] = byte(n)
	if n <= 1 {
		return buf[0]
	}
	return deep(n-1) + buf[(n*3)&(len(buf)-1)]
}

// movesWhileDeep reports whether the calling goroutine's stack moved (a
// local variable's address changed) while it used about 24 KiB of stack.
func movesWhileDeep() bool {
	var x int
	before := uintptr(unsafe.Pointer(&x))
	deep(24)
	return before != uintptr(unsafe.Pointer(&x))
}

// moves reports whether a fresh goroutine's stack moves while it uses about
// 24 KiB of stack, with or without growing it first.
func moves(grow bool) bool {
	result := make(chan bool)
	go func() {
		if grow {
			Grow()
		}
		result <- movesWhileDeep()
	}()
	return <-result
}

func TestGrowAvoidsLaterGrowth(t *testing.T) {
	// Without Grow, the deep call grows the stack and moves it: the
	// measurement can tell.
	if !moves(false) {
		t.Fatal("the stack of a fresh goroutine did not move while it used 24 KiB; the test cannot tell growth apart")
	}
	if moves(true) {
		t.Error("after Grow the stack still moved while it used 24 KiB")
	}
}

func TestAuthenticatorGrowsBeforeAsking(t *testing.T) {
	moved := true
	a := Authenticator(authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		moved = movesWhileDeep()
		return &authenticator.Response{User: &user.DefaultInfo{Name: "alice"}}, true, nil
	}))
	var (
		resp *authenticator.Response
		ok   bool
		err  error
	)
	done := make(chan struct{})
	// A fresh goroutine, as the one serving a request is.
	go func() {
		defer close(done)
		resp, ok, err = a.AuthenticateRequest(httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-done
	if err != nil || !ok || resp.User.GetName() != "alice" {
		t.Fatalf("got %v, %v, %v; want the wrapped authenticator's alice", resp, ok, err)
	}
	if moved {
		t.Error("the stack moved while the wrapped authenticator used 24 KiB")
	}
}
