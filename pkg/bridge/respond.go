package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// maxBodyBytes bounds request bodies of the REST API.
const maxBodyBytes = 1 << 20

// errorBody is the old API's error shape.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		klog.V(4).InfoS("write response", "err", err)
	}
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, errorBody{Error: message})
}

// statusBody is the old API's error shape and a Kubernetes Status in one
// object, for the answers of the bridge's own limits (413, 429): old
// clients read "error", Kubernetes clients read the Status.
type statusBody struct {
	Error string `json:"error"`
	metav1.TypeMeta
	Status  string                `json:"status"`
	Message string                `json:"message"`
	Reason  metav1.StatusReason   `json:"reason"`
	Details *metav1.StatusDetails `json:"details,omitempty"`
	Code    int32                 `json:"code"`
}

func writeStatus(w http.ResponseWriter, status int, reason metav1.StatusReason, message string) {
	writeJSON(w, status, statusBody{
		Error: message, TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Message: message, Reason: reason, Code: int32(status),
	})
}

// capBody bounds the body of every request that goes through it, before any
// handler reads it: a body announced larger than maxBodyBytes is answered
// 413 at once, and reading past the bound fails (see decodeBody).
func capBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			writeBodyTooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func writeBodyTooLarge(w http.ResponseWriter) {
	// The rest of the body is not read: the connection closes after the answer.
	w.Header().Set("Connection", "close")
	writeStatus(w, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes))
}

// writeAPIError answers with the status kube-apiserver (or our server behind
// it) gave, and its message, which names the user, verb and resource on a
// 403 and the field on a 422.
func writeAPIError(w http.ResponseWriter, r *http.Request, doing string, err error) {
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
		klog.InfoS("API call failed", "doing", doing, "path", r.URL.Path, "status", status, "err", err)
	}
	writeError(w, status, fmt.Sprintf("%s: %v", doing, err))
}

// decodeBody reads a JSON request body into v, rejecting unknown garbage with 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeBodyTooLarge(w)
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read the request body: %v", err))
		return false
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, "the request body is empty; send a JSON object")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the request body is not valid JSON for this call: %v", err))
		return false
	}
	return true
}

// statusOf is the HTTP status of an API error (502 when it is not one).
func statusOf(err error) int {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) && apiStatus.Status().Code != 0 {
		return int(apiStatus.Status().Code)
	}
	return http.StatusBadGateway
}
