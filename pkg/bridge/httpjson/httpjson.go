// Package httpjson writes the answers of the bridge's HTTP API in the old
// API's JSON shapes (errors as {"error": ...}, the bridge's own refusals as
// a Kubernetes Status too) and reads JSON request bodies within a bound.
package httpjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
)

// MaxBodyBytes bounds request bodies of the REST API.
const MaxBodyBytes = 1 << 20

// errorBody is the old API's error shape.
type errorBody struct {
	Error string `json:"error"`
}

// Write answers status with body as JSON.
func Write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		// No request here: the client went away mid-answer, nothing to tell it.
		klog.Background().V(4).Info("write response", "err", err)
	}
}

// Error answers status in the old API's error shape.
func Error(w http.ResponseWriter, status int, message string) {
	Write(w, status, errorBody{Error: message})
}

// StatusBody is the old API's error shape and a Kubernetes Status in one
// object, for the answers of the bridge's own limits (413, 429): old
// clients read "error", Kubernetes clients read the Status.
type StatusBody struct {
	Error string `json:"error"`
	metav1.TypeMeta
	Status  string                `json:"status"`
	Message string                `json:"message"`
	Reason  metav1.StatusReason   `json:"reason"`
	Details *metav1.StatusDetails `json:"details,omitempty"`
	Code    int32                 `json:"code"`
}

// Status answers status with a StatusBody.
func Status(w http.ResponseWriter, status int, reason metav1.StatusReason, message string) {
	Write(w, status, StatusBody{
		Error: message, TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Message: message, Reason: reason, Code: int32(status),
	})
}

// CapBody bounds the body of every request that goes through it, before any
// handler reads it: a body announced larger than MaxBodyBytes is answered
// 413 at once, and reading past the bound fails (see DecodeBody).
func CapBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			writeBodyTooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func writeBodyTooLarge(w http.ResponseWriter) {
	// The rest of the body is not read: the connection closes after the answer.
	w.Header().Set("Connection", "close")
	Status(w, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
}

// APIError answers with the status kube-apiserver (or our server behind
// it) gave, and its message, which names the user, verb and resource on a
// 403 and the field on a 422.
func APIError(w http.ResponseWriter, r *http.Request, doing string, err error) {
	status := http.StatusBadGateway
	var apiStatus apierrors.APIStatus
	switch {
	case errors.As(err, &apiStatus) && apiStatus.Status().Code != 0:
		status = int(apiStatus.Status().Code)
		err = errors.New(apiStatus.Status().Message)
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		status = 499 // client went away; nobody reads this
	}
	if status >= 500 {
		klog.FromContext(r.Context()).Info("API call failed", "doing", doing, "path", r.URL.Path, "status", status, "err", err)
	}
	Error(w, status, fmt.Sprintf("%s: %v", doing, err))
}

// DecodeBody reads a JSON request body into v, rejecting unknown garbage with 400.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeBodyTooLarge(w)
		return false
	case err != nil:
		Error(w, http.StatusBadRequest, fmt.Sprintf("read the request body: %v", err))
		return false
	}
	if len(body) == 0 {
		Error(w, http.StatusBadRequest, "the request body is empty; send a JSON object")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		Error(w, http.StatusBadRequest, fmt.Sprintf("the request body is not valid JSON for this call: %v", err))
		return false
	}
	return true
}

// StatusOf is the HTTP status of an API error (502 when it is not one).
func StatusOf(err error) int {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) && apiStatus.Status().Code != 0 {
		return int(apiStatus.Status().Code)
	}
	return http.StatusBadGateway
}

// ObjectNames reads the path values params (a namespace and an object's
// name), each of which must be a DNS subdomain; otherwise it answers 400
// naming the first that is not, and ok is false.
func ObjectNames(w http.ResponseWriter, r *http.Request, params ...string) (values []string, ok bool) {
	for _, p := range params {
		v := r.PathValue(p)
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			Error(w, http.StatusBadRequest, fmt.Sprintf("%s %q: %s", p, v, strings.Join(errs, "; ")))
			return nil, false
		}
		values = append(values, v)
	}
	return values, true
}
