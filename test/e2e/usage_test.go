package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// usageTemplate copies alice's firefox template into namespace under a
// name of its own, so that the usage of this test's sessions is told apart
// from other tests' in the same namespace this month.
func usageTemplate(t *testing.T, namespace string) string {
	t.Helper()
	ctx := context.Background()
	admin, _ := clients(t, "admin")
	firefox, err := admin.StreamV1alpha1().Templates("alice").Get(ctx, "firefox", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("usage")
	if _, err := admin.StreamV1alpha1().Templates(namespace).Create(ctx, &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: firefox.Spec,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create template %s/%s: %v", namespace, name, err)
	}
	t.Cleanup(func() {
		_ = admin.StreamV1alpha1().Templates(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// setPricing puts pricing into the platform configuration for the test and
// takes it out afterwards (deleting the configuration if the test made it).
func setPricing(t *testing.T, pricing string) {
	t.Helper()
	if _, err := kubectl(t, "admin", "", "get", "platformconfiguration", "cluster"); err != nil {
		mustKubectl(t, "admin", `{"apiVersion":"stream.space/v1alpha1","kind":"PlatformConfiguration","metadata":{"name":"cluster"},"spec":{"pricing":`+pricing+`}}`, "create", "-f", "-")
		t.Cleanup(func() {
			_, _ = kubectl(t, "admin", "", "delete", "platformconfiguration", "cluster", "--ignore-not-found")
		})
		return
	}
	mustKubectl(t, "admin", "", "patch", "platformconfiguration", "cluster", "--type=merge", "-p", `{"spec":{"pricing":`+pricing+`}}`)
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "patch", "platformconfiguration", "cluster", "--type=merge", "-p", `{"spec":{"pricing":null}}`)
	})
}

// usageRows runs kubectl get usage as user and returns its table, one map
// of column to cell per row.
func usageRows(t *testing.T, user string, args ...string) []map[string]string {
	t.Helper()
	out := mustKubectl(t, user, "", append([]string{"get", "usage"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return nil
	}
	header := strings.Fields(lines[0])
	var rows []map[string]string
	for _, line := range lines[1:] {
		cells := strings.Fields(line)
		row := map[string]string{}
		for i, h := range header {
			if i < len(cells) {
				row[h] = cells[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// positive tells whether a decimal of a usage is above zero.
func positive(decimal string) bool {
	r, ok := new(big.Rat).SetString(decimal)
	return ok && r.Sign() > 0
}

// rowOf finds the row of user and template in a usage table.
func rowOf(rows []map[string]string, user, template string) map[string]string {
	for _, r := range rows {
		if r["USER"] == user && r["TEMPLATE"] == template {
			return r
		}
	}
	return nil
}

// TestUsageOfSessions: a session that runs is recorded as it changes state
// and shows in kubectl get usage for its user with its hours, CPU, memory
// and, with prices in the platform configuration, its cost; in a namespace
// alice and bob share, each sees only their own row and admin both; when
// the session stops running its interval closes, so its hours stop
// growing; usages cannot be watched or written.
func TestUsageOfSessions(t *testing.T) {
	ctx := context.Background()
	namespace := uniqueName("usage-shared")
	createSharedNamespace(t, namespace, "alice", "bob")
	template := usageTemplate(t, namespace)
	setPricing(t, `{"currency":"EUR","cpuCoreHour":"1","memoryGiBHour":"0.5","templates":[{"template":"`+template+`","sessionHour":"36"}]}`)

	aliceSS, _ := clients(t, "alice")
	bobSS, _ := clients(t, "bob")
	adminSS, _ := clients(t, "admin")
	desk := newSession(t, aliceSS, namespace, uniqueName("alice-desk"), template, never, 0)
	bobs := newSession(t, bobSS, namespace, uniqueName("bob-desk"), template, never, 0)
	desk = waitSession(t, aliceSS, namespace, desk.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	waitSession(t, bobSS, namespace, bobs.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	// The controller records what the workload was given: the template's defaults.
	desk = waitSession(t, aliceSS, namespace, desk.Name, startTimeout, "status.resources recorded", func(s *streamv1alpha1.Session) bool {
		return s.Status.Resources.Requests.Cpu().String() == "500m" && s.Status.Resources.Requests.Memory().String() == "1Gi"
	})

	// alice sees her row, with one session and hours, CPU, memory and cost
	// above zero (as soon as they reach the 4th decimal).
	eventually(t, time.Minute, "alice's usage with hours, CPU, memory and cost", func() (bool, error) {
		mine := rowOf(usageRows(t, "alice", "-n", namespace), "alice", template)
		if mine == nil || mine["SESSIONS"] != "1" {
			return false, fmt.Errorf("alice's row is %v", mine)
		}
		for _, column := range []string{"HOURS", "CPU-HOURS", "MEM-GIB-HOURS", "COST"} {
			if !positive(mine[column]) {
				return false, fmt.Errorf("alice's row is %v", mine)
			}
		}
		return true, nil
	})
	if !strings.HasSuffix(strings.TrimSpace(mustKubectl(t, "alice", "", "get", "usage", "-n", namespace, "alice:"+template, "-o", "jsonpath={.status.currency}")), "EUR") {
		t.Error("alice's usage is not priced in EUR")
	}
	// Only her own: not bob's, who is in the same namespace.
	if rows := usageRows(t, "alice", "-n", namespace); len(rows) != 1 {
		t.Errorf("alice sees %v, want only her own row", rows)
	}
	if rows := usageRows(t, "bob", "-n", namespace); rowOf(rows, "alice", template) != nil || rowOf(rows, "bob", template) == nil {
		t.Errorf("bob sees %v, want his own row and not alice's", rows)
	}
	if _, err := bobSS.StreamV1alpha1().Usages(namespace).Get(ctx, "alice:"+template, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob gets alice's usage: %v, want 403", err)
	}
	if rows := usageRows(t, "admin", "-n", namespace); rowOf(rows, "alice", template) == nil || rowOf(rows, "bob", template) == nil {
		t.Errorf("admin sees %v, want alice's and bob's rows", rows)
	}
	if rows := usageRows(t, "admin", "-n", namespace, "--field-selector", "spec.user=bob,spec.period=all"); len(rows) != 1 || rowOf(rows, "bob", template) == nil {
		t.Errorf("admin selecting bob over all time sees %v, want bob's row", rows)
	}

	// psql: one open interval of alice's session with its requests.
	conn := stackDatabase(t)
	interval := func() (cpu, memory int64, ended *time.Time) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT cpu_millis, memory_bytes, ended_at FROM session_usage
WHERE namespace = $1 AND session = $2 ORDER BY id DESC LIMIT 1`, namespace, desk.Name).Scan(&cpu, &memory, &ended); err != nil {
			t.Fatalf("read the interval of session %s: %v", desk.Name, err)
		}
		return cpu, memory, ended
	}
	if cpu, memory, ended := interval(); cpu != 500 || memory != 1<<30 || ended != nil {
		t.Errorf("session_usage: %d millicores, %d bytes, ended %v; want 500, 1Gi, open", cpu, memory, ended)
	}

	// Hibernated: the interval closes, and the hours stay what they were.
	patch := `{"spec":{"state":"hibernated"}}`
	if _, err := aliceSS.StreamV1alpha1().Sessions(namespace).Patch(ctx, desk.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSession(t, aliceSS, namespace, desk.Name, startTimeout, "Hibernated", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	if _, _, ended := interval(); ended == nil {
		t.Error("the interval of the hibernated session is still open")
	}
	usageOf := func() streamv1alpha1.UsageStatus {
		t.Helper()
		u, err := aliceSS.StreamV1alpha1().Usages(namespace).Get(ctx, "alice:"+template, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u.Status
	}
	before := usageOf()
	time.Sleep(1500 * time.Millisecond) // long enough for 4 decimals of an hour to move, were it still counting
	if after := usageOf(); after.SessionHours != before.SessionHours || after.Cost != before.Cost {
		t.Errorf("the usage of a hibernated session went on: %+v, then %+v", before, after)
	}

	// Read-only: no watch, no writes.
	err := adminSS.StreamV1alpha1().RESTClient().Get().Namespace(namespace).Resource("usages").Param("watch", "true").Do(ctx).Error()
	if !apierrors.IsMethodNotSupported(err) {
		t.Errorf("watch usages: %v, want 405", err)
	}
	if _, err := kubectl(t, "admin", `{"apiVersion":"stream.space/v1alpha1","kind":"Usage","metadata":{"name":"alice:x","namespace":"`+namespace+`"}}`, "create", "-f", "-"); err == nil {
		t.Error("creating a usage succeeded")
	}
	if _, err := kubectl(t, "alice", "", "get", "usage", "-n", namespace, "--field-selector", "spec.period=someday"); err == nil || !strings.Contains(err.Error(), "spec.period") {
		t.Errorf("a bad period: %v, want a refusal naming spec.period", err)
	}
}

// TestUsageDashboardInChromium: alice's session in her own namespace runs,
// the bridge's /api/v1/usage shows its hours, and the dashboard draws them
// as a bar of the chart for its template, in a real browser.
func TestUsageDashboardInChromium(t *testing.T) {
	template := usageTemplate(t, "alice")
	aliceSS, _ := clients(t, "alice")
	s := newSession(t, aliceSS, "alice", uniqueName("usage-chart"), template, never, 0)
	waitSession(t, aliceSS, "alice", s.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	eventually(t, time.Minute, "alice's usage with the session's hours", func() (bool, error) {
		return usageHours(aliceSS, template)
	})

	// The bridge's REST answer.
	var view struct {
		Namespace string `json:"namespace"`
		Templates []struct {
			Template string `json:"template"`
			Sessions int64  `json:"sessions"`
			Hours    string `json:"hours"`
		} `json:"templates"`
	}
	code, body := bridgeCall(t, "alice", "GET", "/api/v1/usage", "")
	if code != 200 {
		t.Fatalf("GET /api/v1/usage: %d %s", code, body)
	}
	mustDecode(t, body, &view)
	found := false
	for _, tu := range view.Templates {
		found = found || (tu.Template == template && tu.Sessions == 1 && positive(tu.Hours))
	}
	if view.Namespace != "alice" || !found {
		t.Errorf("GET /api/v1/usage: %s, want namespace alice with %s's hours", body, template)
	}

	ctx := newBrowser(t)
	pageStep(t, ctx, "open the dashboard",
		chromedp.Navigate(stack.BridgeURL+"/token"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	)
	bar := `#usage-chart g[data-template="` + template + `"]`
	pageStep(t, ctx, "log in as alice and see the usage chart",
		chromedp.SendKeys(chromedp.CSS("#token"), userToken(t, "alice")),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(bar)),
	)
	shown := pageValue(t, ctx, "read the template's bar",
		chromedp.Evaluate[map[string]string](`(() => { const g = document.querySelector('`+bar+`');
  return { label: g.querySelector('text.label').textContent, value: g.querySelector('text.value').textContent,
           hours: g.dataset.hours, width: g.querySelector('rect').getAttribute('width') }; })()`))
	if shown["label"] != template || !positive(shown["hours"]) || !strings.HasPrefix(shown["value"], shown["hours"]+" h") || !positive(shown["width"]) {
		t.Errorf("the chart shows %v, want the template %s with its hours above zero", shown, template)
	}
	row := pageValue(t, ctx, "read alice's row of the usage table",
		chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#usage-table tr[data-template="`+template+`"] td')).map(td => td.textContent)`))
	if len(row) < 4 || row[0] != "alice" || row[1] != template || row[2] != "1" || !positive(row[3]) {
		t.Errorf("the usage table shows %q, want alice, %s, 1 session and its hours", row, template)
	}
}

// usageHours tells whether alice's usage of template in her namespace this
// month has one session and hours above zero; the error shows it when not.
func usageHours(ss clientset.Interface, template string) (bool, error) {
	u, err := ss.StreamV1alpha1().Usages("alice").Get(context.Background(), "alice:"+template, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	if u.Status.Sessions != 1 || !positive(u.Status.SessionHours) {
		data, _ := json.Marshal(u.Status)
		return false, fmt.Errorf("alice's usage of %s is %s", template, data)
	}
	return true, nil
}
