package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/procstat"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientsetscheme "github.com/streamspace/controlplane/pkg/generated/clientset/versioned/scheme"
)

// wireCase is one way of asking for the list.
type wireCase struct {
	format   string // media type asked for and expected
	encoding string // Accept-Encoding: gzip (client-go's default) or identity
}

var wireCases = []wireCase{
	{"application/json", "gzip"},
	{"application/vnd.kubernetes.protobuf", "gzip"},
	{"application/json", "identity"},
	{"application/vnd.kubernetes.protobuf", "identity"},
}

// roundResult is what the LISTs of one case in one round cost, per LIST.
type roundResult struct {
	round        int
	c            wireCase
	lists        int
	wireBytes    int64 // as sent, compressed or not
	bodyBytes    int64 // after decompression
	contentEnc   string
	wall         time.Duration // median, request to last byte
	serverCPU    time.Duration // streamspace-apiserver, mean per LIST
	kubeCPU      time.Duration // kube-apiserver (aggregator), mean per LIST
	clientCPU    time.Duration // gunzip + decode into a SessionList, mean per LIST
	clientDecode time.Duration // of which decode alone
}

// measure runs the rounds: every case lists.lists times per round; odd
// rounds go through the cases in reverse, so neither format always comes
// first after the other.
func measure(ctx context.Context, cfg *rest.Config, o options, pids map[string]int) ([]roundResult, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	url := strings.TrimRight(cfg.Host, "/") + "/apis/stream.space/v1alpha1/namespaces/" + benchNamespace + "/sessions"
	decoders := serializer.NewCodecFactory(clientsetscheme.Scheme).WithoutConversion()
	// Warm-up, not reported: the first LIST of each case fills caches and pools.
	for _, c := range wireCases {
		if _, err := listOnce(ctx, hc, url, c, decoders, o.objects, pids); err != nil {
			return nil, err
		}
	}
	var out []roundResult
	for round := 1; round <= o.rounds; round++ {
		cases := slices.Clone(wireCases)
		if round%2 == 0 {
			slices.Reverse(cases)
		}
		for _, c := range cases {
			r := roundResult{round: round, c: c, lists: o.lists}
			var walls []time.Duration
			for range o.lists {
				one, err := listOnce(ctx, hc, url, c, decoders, o.objects, pids)
				if err != nil {
					return nil, err
				}
				walls = append(walls, one.wall)
				r.wireBytes, r.bodyBytes, r.contentEnc = one.wireBytes, one.bodyBytes, one.contentEnc
				r.serverCPU += one.serverCPU
				r.kubeCPU += one.kubeCPU
				r.clientCPU += one.clientCPU
				r.clientDecode += one.clientDecode
			}
			n := time.Duration(o.lists)
			r.serverCPU, r.kubeCPU, r.clientCPU, r.clientDecode = r.serverCPU/n, r.kubeCPU/n, r.clientCPU/n, r.clientDecode/n
			slices.Sort(walls)
			r.wall = walls[len(walls)/2]
			fmt.Fprintf(os.Stderr, "bench-wire: round %d %s %s: %d bytes, %s, server %s, aggregator %s, client %s\n",
				round, c.format, c.encoding, r.wireBytes, r.wall.Round(time.Millisecond), r.serverCPU, r.kubeCPU, r.clientCPU)
			out = append(out, r)
		}
	}
	return out, nil
}

// listOnce lists all Sessions once as c asks and decodes the answer as
// client-go's typed clients do.
func listOnce(ctx context.Context, hc *http.Client, url string, c wireCase, decoders kruntime.NegotiatedSerializer, want int, pids map[string]int) (roundResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return roundResult{}, err
	}
	req.Header.Set("Accept", c.format)
	// Set explicitly, so that the transport neither adds gzip nor
	// decompresses behind our back: the bytes counted are the wire's.
	req.Header.Set("Accept-Encoding", c.encoding)
	serverBefore, err := procstat.CPU(pids["streamspace-apiserver"])
	if err != nil {
		return roundResult{}, err
	}
	kubeBefore, err := procstat.CPU(pids["kube-apiserver"])
	if err != nil {
		return roundResult{}, err
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return roundResult{}, fmt.Errorf("list in %s: %w", c.format, err)
	}
	var wire bytes.Buffer
	_, err = io.Copy(&wire, resp.Body)
	resp.Body.Close()
	wall := time.Since(start)
	if err != nil {
		return roundResult{}, fmt.Errorf("read the list in %s: %w", c.format, err)
	}
	serverAfter, err := procstat.CPU(pids["streamspace-apiserver"])
	if err != nil {
		return roundResult{}, err
	}
	kubeAfter, err := procstat.CPU(pids["kube-apiserver"])
	if err != nil {
		return roundResult{}, err
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mediaType != c.format {
		return roundResult{}, fmt.Errorf("list in %s answered %d in %q: %.300s", c.format, resp.StatusCode, resp.Header.Get("Content-Type"), wire.Bytes())
	}
	encoding := resp.Header.Get("Content-Encoding")

	runtime.GC()
	cpuBefore := selfCPU()
	body := wire.Bytes()
	if encoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return roundResult{}, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return roundResult{}, err
		}
	}
	decodeBefore := selfCPU()
	list, err := decodeList(decoders, c.format, body)
	cpuAfter := selfCPU()
	if err != nil {
		return roundResult{}, err
	}
	if len(list.Items) != want {
		return roundResult{}, fmt.Errorf("list in %s has %d sessions, want %d", c.format, len(list.Items), want)
	}
	if encoding == "" {
		encoding = "identity"
	}
	return roundResult{
		wireBytes: int64(wire.Len()), bodyBytes: int64(len(body)), contentEnc: encoding, wall: wall,
		serverCPU: serverAfter - serverBefore, kubeCPU: kubeAfter - kubeBefore,
		clientCPU: cpuAfter - cpuBefore, clientDecode: cpuAfter - decodeBefore,
	}, nil
}

// decodeList decodes with the serializer client-go's typed clients use for
// the media type.
func decodeList(decoders kruntime.NegotiatedSerializer, mediaType string, body []byte) (*streamv1alpha1.SessionList, error) {
	for _, info := range decoders.SupportedMediaTypes() {
		if info.MediaType != mediaType {
			continue
		}
		list := &streamv1alpha1.SessionList{}
		if _, _, err := info.Serializer.Decode(body, nil, list); err != nil {
			return nil, fmt.Errorf("decode %d bytes of %s: %w", len(body), mediaType, err)
		}
		return list, nil
	}
	return nil, fmt.Errorf("no serializer for %s", mediaType)
}

// selfCPU is this process's user plus system CPU time (all threads: the
// garbage collector's work counts).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
