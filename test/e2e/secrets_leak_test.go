package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// secretCollector remembers every credential the tests hand the system: the
// values of every Secret that appears in streamspace-system while the tests
// run (Git tokens, passwords, SSH keys, webhook secrets), the webhook secret
// of the bridge, the users' bearer tokens and the API key tokens the tests
// mint (handedOut). After the tests, findLeaks
// looks for each of them in every component's log, every Event, every
// object of our API (status included) and every row of every Postgres
// table: a credential may be used, never repeated.
type secretCollector struct {
	mu     sync.Mutex
	values map[string]string // value → where it came from
	stop   context.CancelFunc
}

// handedOut is the run's collector, for tests that mint credentials of
// their own (API key tokens) to add them.
var handedOut *secretCollector

// notSecret are Secret keys whose values are not credentials.
var notSecret = map[string]bool{"username": true, "user": true, "known_hosts": true, "ssh-knownhosts": true}

// minSecretLength skips values too short to search for meaningfully.
const minSecretLength = 8

func startSecretCollector(kube kubernetes.Interface) *secretCollector {
	c := &secretCollector{values: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(catalogNamespace))
	record := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok {
			for key, value := range s.Data {
				if !notSecret[key] {
					c.add(string(value), "Secret "+s.Namespace+"/"+s.Name+" key "+key)
				}
			}
		}
	}
	_, _ = factory.Core().V1().Secrets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return c
}

// add remembers value, and each line of a multi-line one (a PEM key's
// lines other than its BEGIN/END markers).
func (c *secretCollector) add(value, from string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	value = strings.TrimSpace(value)
	if len(value) >= minSecretLength {
		c.values[value] = from
	}
	if strings.Contains(value, "\n") {
		for _, line := range strings.Split(value, "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= 20 && !strings.HasPrefix(line, "-----") {
				c.values[line] = from
			}
		}
	}
}

// findLeaks stops collecting and names every place a credential appears.
func (c *secretCollector) findLeaks(ctx context.Context) ([]string, error) {
	c.stop()
	if data, err := os.ReadFile(stack.WebhookSecretFile()); err == nil {
		c.add(string(data), "the bridge's webhook secret")
	}
	tokens, _ := filepath.Glob(filepath.Join(filepath.Dir(stack.UserTokenFile("alice")), "*.token"))
	for _, f := range tokens {
		if data, err := os.ReadFile(f); err == nil {
			c.add(string(data), "bearer token "+filepath.Base(f))
		}
	}
	passwords, _ := filepath.Glob(filepath.Join(filepath.Dir(stack.UserPasswordFile("alice")), "*.password"))
	for _, f := range passwords {
		if data, err := os.ReadFile(f); err == nil {
			c.add(string(data), "password "+filepath.Base(f))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.values) == 0 {
		return nil, fmt.Errorf("no credentials collected: the collector saw nothing")
	}

	var leaks []string
	search := func(where string, data []byte) {
		for value, from := range c.values {
			if bytes.Contains(data, []byte(value)) {
				leaks = append(leaks, fmt.Sprintf("%s appears in %s", from, where))
			}
		}
	}

	// Every component's log.
	logs, err := filepath.Glob(filepath.Join(filepath.Dir(stack.LogFile("streamspace-apiserver")), "*"))
	if err != nil {
		return nil, err
	}
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		search("log "+filepath.Base(f), data)
	}

	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Every Event.
	events, err := kube.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, e := range events.Items {
		data, _ := json.Marshal(e)
		search("Event "+e.Namespace+"/"+e.Name, data)
	}
	// Every object of our API, status included.
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "stream.space", Version: "v1alpha1", Resource: "sessions"},
		{Group: "stream.space", Version: "v1alpha1", Resource: "templates"},
		{Group: "stream.space", Version: "v1alpha1", Resource: "connections"},
		{Group: "catalog.stream.space", Version: "v1alpha1", Resource: "templaterepositories"},
		{Group: "catalog.stream.space", Version: "v1alpha1", Resource: "catalogtemplates"},
	} {
		list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", gvr.Resource, err)
		}
		for _, item := range list.Items {
			data, _ := json.Marshal(item.Object)
			search(gvr.Resource+" "+item.GetNamespace()+"/"+item.GetName(), data)
		}
	}
	// Every row of every table in Postgres, history included.
	conn, err := pgx.Connect(ctx, stack.PostgresDSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("no tables in the database")
	}
	for _, table := range tables {
		rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize())
		if err != nil {
			return nil, fmt.Errorf("read table %s: %w", table, err)
		}
		var dump bytes.Buffer
		for rows.Next() {
			values, err := rows.Values()
			if err != nil {
				rows.Close()
				return nil, err
			}
			for _, v := range values {
				if b, ok := v.([]byte); ok {
					dump.Write(b)
				} else {
					fmt.Fprint(&dump, v)
				}
				dump.WriteByte('\n')
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		search("Postgres table "+table, dump.Bytes())
	}
	sort.Strings(leaks)
	return leaks, nil
}
