package feed

import (
	"encoding/json"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

func TestExecResult(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus string
		wantReason metav1.StatusReason
		wantCode   string
	}{
		{name: "success", wantStatus: metav1.StatusSuccess},
		{name: "exit code", err: exec.CodeExitError{Err: errors.New("command terminated with non-zero exit code: 3"), Code: 3},
			wantStatus: metav1.StatusFailure, wantReason: "NonZeroExitCode", wantCode: "3"},
		{name: "stream error", err: errors.New("connection reset"), wantStatus: metav1.StatusFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var status metav1.Status
			if err := json.Unmarshal(execResult(tc.err), &status); err != nil {
				t.Fatal(err)
			}
			if status.Status != tc.wantStatus || status.Reason != tc.wantReason {
				t.Errorf("got %+v, want status %s reason %q", status, tc.wantStatus, tc.wantReason)
			}
			var code string
			if status.Details != nil && len(status.Details.Causes) == 1 && status.Details.Causes[0].Type == "ExitCode" {
				code = status.Details.Causes[0].Message
			}
			if code != tc.wantCode {
				t.Errorf("exit code %q, want %q (%+v)", code, tc.wantCode, status)
			}
			if tc.err != nil && status.Message != tc.err.Error() {
				t.Errorf("message %q, want %q", status.Message, tc.err.Error())
			}
		})
	}
}

// The latest size wins over ones the executor has not taken yet, and Next
// answers nil once stopped.
func TestSizeQueue(t *testing.T) {
	q := newSizeQueue()
	q.push(remotecommand.TerminalSize{Width: 80, Height: 24})
	q.push(remotecommand.TerminalSize{Width: 120, Height: 40})
	if got := q.Next(); got == nil || *got != (remotecommand.TerminalSize{Width: 120, Height: 40}) {
		t.Errorf("Next = %+v, want 120x40", got)
	}
	q.stop()
	q.stop() // twice is fine: the client leaving and the command ending both stop it
	if got := q.Next(); got != nil {
		t.Errorf("Next after stop = %+v, want nil", got)
	}
}
