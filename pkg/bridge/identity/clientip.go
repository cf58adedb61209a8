package identity

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the peers whose X-Forwarded-For the bridge believes:
// the ingress or load balancers in front of it. Anyone else can write any
// address into that header, so for them the TCP peer is the client.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses CIDRs (or single addresses) such as
// "10.0.0.0/8" or "192.0.2.7".
func ParseTrustedProxies(values []string) (TrustedProxies, error) {
	var proxies TrustedProxies
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "/") {
			addr, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("%q: not a CIDR or an IP address", v)
			}
			proxies = append(proxies, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", v, err)
		}
		proxies = append(proxies, prefix.Masked())
	}
	return proxies, nil
}

func (p TrustedProxies) trusts(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, prefix := range p {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client that made r. It starts from the TCP
// peer and, only while that hop is a trusted proxy, steps left through
// X-Forwarded-For (each proxy appends the peer it saw, so the rightmost
// entries are the most trustworthy). The first hop that is not a trusted
// proxy is the client; entries left of it are whatever that client wrote
// and are never used. An unparsable entry stops the walk at the last hop
// that was read correctly.
func (p TrustedProxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !p.trusts(peer) {
		return host
	}
	var hops []string
	for _, header := range r.Header.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(header, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = addr.Unmap()
		if !p.trusts(client) {
			break
		}
	}
	return client.String()
}
