package kubernetes_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// endpoint is one end of a connection the policy check tries: a pod (a namespace, labels,
// named ports) or, with no namespace, an address outside the cluster.
type endpoint struct {
	name      string // in messages
	namespace string // "" outside the cluster
	labels    labels.Set
	ip        netip.Addr
	ports     []corev1.ContainerPort
	service   string // the example service whose pod this is, or ""
}

// The endpoints outside the shop's pods: the ones the shop must reach or be reached by, and
// the ones that look like a peer without being one.
var (
	kubeDNS = endpoint{name: "kube-system/kube-dns", namespace: "kube-system", labels: labels.Set{"k8s-app": "kube-dns"},
		ip: netip.MustParseAddr("10.96.0.10"), ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
		}}
	prometheus = endpoint{name: "monitoring/prometheus", namespace: "monitoring", labels: labels.Set{"app.kubernetes.io/name": "prometheus"},
		ip: netip.MustParseAddr("10.244.9.1"), ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 9090}}}
	// The shop's PostgreSQL (the URLs of the Secrets <service>-database name it), in a
	// namespace of its own, labelled as allow-database's selectors expect.
	database = endpoint{name: "database/postgresql", namespace: "database", labels: labels.Set{"app.kubernetes.io/name": "postgresql"},
		ip: netip.MustParseAddr("10.244.9.5"), ports: []corev1.ContainerPort{{Name: "postgresql", ContainerPort: 5432}, {Name: "metrics", ContainerPort: 9187}}}
	others = []endpoint{
		{name: "ingress-nginx/controller", namespace: "ingress-nginx", labels: labels.Set{"app.kubernetes.io/name": "ingress-nginx"},
			ip: netip.MustParseAddr("10.244.9.2"), ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}},
		// A pod of another namespace with a shop service's labels: selectors must stay in
		// the shop's namespace.
		{name: "other/cart", namespace: "other", labels: labels.Set{"app.kubernetes.io/name": "cart"},
			ip: netip.MustParseAddr("10.244.9.3"), ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8082}, {Name: "admin", ContainerPort: 9082}}},
		{name: "the internet (203.0.113.7)", ip: netip.MustParseAddr("203.0.113.7"), ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 443}}},
	}
)

// stray is a pod in the shop's namespace that is none of its services (a debug pod, a job).
func stray(ns string) endpoint {
	return endpoint{name: ns + "/stray", namespace: ns, labels: labels.Set{"app.kubernetes.io/name": "stray"},
		ip: netip.MustParseAddr("10.244.9.4"), ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8085}, {Name: "admin", ContainerPort: 9085}}}
}

// endpoints returns the shop's pods (one per Deployment) and the others above.
func (m *manifests) endpoints() []endpoint {
	var eps []endpoint
	for i, svc := range services {
		d, ok := m.deployments[svc]
		if !ok || len(d.Spec.Template.Spec.Containers) == 0 {
			continue // checkDeployment reports it
		}
		eps = append(eps, endpoint{name: svc, namespace: m.kust.Namespace, labels: labels.Set(d.Spec.Template.Labels),
			ip: netip.AddrFrom4([4]byte{10, 244, 1, byte(i + 1)}), ports: d.Spec.Template.Spec.Containers[0].Ports, service: svc})
	}
	return append(append(eps, kubeDNS, prometheus, database, stray(m.kust.Namespace)), others...)
}

// namespaceLabels returns the labels of namespace ns: its manifest's, for the shop's, and
// the kubernetes.io/metadata.name label every namespace carries.
func (m *manifests) namespaceLabels(ns string) labels.Set {
	l := labels.Set{"kubernetes.io/metadata.name": ns}
	if n, ok := m.namespaces[ns]; ok {
		for k, v := range n.Labels {
			l[k] = v
		}
	}
	return l
}

func (m *manifests) policyNamespace(p *networkingv1.NetworkPolicy) string {
	if p.Namespace != "" {
		return p.Namespace
	}
	return m.kust.Namespace
}

// policyTypes returns the directions p governs: its policyTypes, or by default Ingress, and
// Egress when it has egress rules.
func policyTypes(p *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(p.Spec.PolicyTypes) > 0 {
		return p.Spec.PolicyTypes
	}
	types := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(p.Spec.Egress) > 0 {
		types = append(types, networkingv1.PolicyTypeEgress)
	}
	return types
}

// matches reports whether sel (nil: everything, as a peer's absent selector means) matches set.
func matches(sel *metav1.LabelSelector, set labels.Set) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(set)
}

// selects reports whether p applies to the pod e.
func (m *manifests) selects(p *networkingv1.NetworkPolicy, e endpoint) bool {
	return e.namespace != "" && e.namespace == m.policyNamespace(p) && matches(&p.Spec.PodSelector, e.labels)
}

// peerMatches reports whether the peer of a rule of p matches e.
func (m *manifests) peerMatches(p *networkingv1.NetworkPolicy, peer networkingv1.NetworkPolicyPeer, e endpoint) bool {
	if b := peer.IPBlock; b != nil {
		cidr, err := netip.ParsePrefix(b.CIDR)
		if err != nil || !cidr.Contains(e.ip) {
			return false
		}
		return !slices.ContainsFunc(b.Except, func(x string) bool {
			ex, err := netip.ParsePrefix(x)
			return err == nil && ex.Contains(e.ip)
		})
	}
	if e.namespace == "" {
		return false // pod and namespace selectors select pods only
	}
	if peer.NamespaceSelector == nil {
		if e.namespace != m.policyNamespace(p) {
			return false
		}
	} else if !matches(peer.NamespaceSelector, m.namespaceLabels(e.namespace)) {
		return false
	}
	return matches(peer.PodSelector, e.labels)
}

// portMatches reports whether the rule's ports (none: every port) admit the destination's
// container port cp.
func portMatches(ports []networkingv1.NetworkPolicyPort, cp corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	return slices.ContainsFunc(ports, func(pp networkingv1.NetworkPolicyPort) bool {
		proto := corev1.ProtocolTCP
		if pp.Protocol != nil {
			proto = *pp.Protocol
		}
		if protocol(cp) != proto {
			return false
		}
		switch {
		case pp.Port == nil:
			return true
		case pp.Port.Type == intstr.String:
			return pp.Port.StrVal == cp.Name
		case pp.EndPort != nil:
			return pp.Port.IntVal <= cp.ContainerPort && cp.ContainerPort <= *pp.EndPort
		default:
			return pp.Port.IntVal == cp.ContainerPort
		}
	})
}

func protocol(cp corev1.ContainerPort) corev1.Protocol {
	if cp.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return cp.Protocol
}

// verdict is what the policies say about one direction of one connection.
type verdict struct {
	isolated bool     // some policy of this direction selects the pod
	by       []string // the policies with a rule that admits the connection
}

func (v verdict) allowed() bool { return !v.isolated || len(v.by) > 0 }

// egress judges the connection from src to dst's port cp as src's egress.
func (m *manifests) egress(src, dst endpoint, cp corev1.ContainerPort) verdict {
	var v verdict
	for _, name := range sortedKeys(m.netpols) {
		p := m.netpols[name]
		if !m.selects(p, src) || !slices.Contains(policyTypes(p), networkingv1.PolicyTypeEgress) {
			continue
		}
		v.isolated = true
		if slices.ContainsFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
			return portMatches(r.Ports, cp) && (len(r.To) == 0 || slices.ContainsFunc(r.To, func(peer networkingv1.NetworkPolicyPeer) bool { return m.peerMatches(p, peer, dst) }))
		}) {
			v.by = append(v.by, name)
		}
	}
	return v
}

// ingress judges the connection from src to dst's port cp as dst's ingress.
func (m *manifests) ingress(src, dst endpoint, cp corev1.ContainerPort) verdict {
	var v verdict
	for _, name := range sortedKeys(m.netpols) {
		p := m.netpols[name]
		if !m.selects(p, dst) || !slices.Contains(policyTypes(p), networkingv1.PolicyTypeIngress) {
			continue
		}
		v.isolated = true
		if slices.ContainsFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
			return portMatches(r.Ports, cp) && (len(r.From) == 0 || slices.ContainsFunc(r.From, func(peer networkingv1.NetworkPolicyPeer) bool { return m.peerMatches(p, peer, src) }))
		}) {
			v.by = append(v.by, name)
		}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// apiPort returns the container port of svc's pods that its Service forwards to (the API
// port; checkDeployment checks that it is HTTP_ADDR's).
func (m *manifests) apiPort(svc string) (corev1.ContainerPort, bool) {
	d, okD := m.deployments[svc]
	s, okS := m.services[svc]
	if !okD || !okS || len(s.Spec.Ports) == 0 || len(d.Spec.Template.Spec.Containers) == 0 {
		return corev1.ContainerPort{}, false
	}
	tp := s.Spec.Ports[0].TargetPort
	if tp.Type == intstr.Int && tp.IntVal == 0 {
		tp = intstr.FromInt32(s.Spec.Ports[0].Port)
	}
	for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
		if (tp.Type == intstr.String && cp.Name == tp.StrVal) || (tp.Type == intstr.Int && cp.ContainerPort == tp.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// isAPI reports whether cp is the API port of dst, a shop service's pod.
func (m *manifests) isAPI(dst endpoint, cp corev1.ContainerPort) bool {
	api, ok := m.apiPort(dst.service)
	return ok && dst.service != "" && cp.Name == api.Name && cp.ContainerPort == api.ContainerPort
}

// wantEgress says whether the pods of the shop service src.service must be able to open a
// connection to dst's port cp, and why: to their upstreams' API ports, and to the cluster DNS.
// Nothing else.
func (m *manifests) wantEgress(src, dst endpoint, cp corev1.ContainerPort) (bool, string) {
	switch {
	case m.isAPI(dst, cp) && slices.Contains(upstreams[src.service], dst.service):
		return true, "an edge of the call graph"
	case dst.name == kubeDNS.name && cp.ContainerPort == 53:
		return true, "every pod resolves names with the cluster DNS"
	case dst.name == database.name && cp.ContainerPort == 5432 && slices.Contains(stateful, src.service):
		return true, "the stateful services keep their data in PostgreSQL"
	}
	return false, ""
}

// wantIngress says whether the pods of the shop service dst.service must accept a connection
// from src on their port cp, and why: their callers on the API port (anyone, for the
// gateway's), and Prometheus on the admin port. Nothing else.
func (m *manifests) wantIngress(src, dst endpoint, cp corev1.ContainerPort) (bool, string) {
	switch {
	case m.isAPI(dst, cp) && src.service != "" && slices.Contains(upstreams[src.service], dst.service):
		return true, "an edge of the call graph"
	case m.isAPI(dst, cp) && dst.service == "gateway":
		return true, "the gateway's API port is open to anywhere"
	case cp.Name == "admin" && src.name == prometheus.name:
		return true, "Prometheus scrapes the admin port"
	}
	return false, ""
}

// checkNetworkPolicies returns every way the policies differ from the call graph: a missing
// default deny, a policy or peer that selects no pod of the shop, a connection the shop needs
// that a policy refuses, and a connection the shop does not need that the policies allow.
func (m *manifests) checkNetworkPolicies() []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("NetworkPolicy: "+format, args...))
	}

	// (a) A default deny: every pod, both directions, no rule.
	if !slices.ContainsFunc(sortedKeys(m.netpols), func(name string) bool {
		p := m.netpols[name]
		sel := p.Spec.PodSelector
		return m.policyNamespace(p) == m.kust.Namespace && len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) &&
			len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
	}) {
		fail("no default deny: want a policy with podSelector {}, policyTypes [Ingress, Egress] and no rules")
	}

	// Selectors name labels the Deployments' pods carry: a policy, and a peer in the
	// shop's namespace, selects some pod of the shop.
	eps := m.endpoints()
	shop := slices.DeleteFunc(slices.Clone(eps), func(e endpoint) bool { return e.service == "" })
	for _, name := range sortedKeys(m.netpols) {
		p := m.netpols[name]
		if !slices.ContainsFunc(shop, func(e endpoint) bool { return m.selects(p, e) }) {
			fail("%s: podSelector %s selects no pod of the shop", name, metav1.FormatLabelSelector(&p.Spec.PodSelector))
		}
		var peers []networkingv1.NetworkPolicyPeer
		for _, r := range p.Spec.Ingress {
			peers = append(peers, r.From...)
		}
		for _, r := range p.Spec.Egress {
			peers = append(peers, r.To...)
		}
		for _, peer := range peers {
			if peer.IPBlock == nil && peer.NamespaceSelector == nil && !slices.ContainsFunc(shop, func(e endpoint) bool { return m.peerMatches(p, peer, e) }) {
				fail("%s: peer podSelector %s selects no pod of the shop", name, metav1.FormatLabelSelector(peer.PodSelector))
			}
		}
	}

	// (b) and (c): every connection between a shop pod and any endpoint, on every port of
	// the destination. Each side allows exactly what the shop needs: the caller's egress
	// and the callee's ingress, each on its own (so that opening one side later does not
	// open an edge), and the two together.
	for _, src := range eps {
		for _, dst := range eps {
			if src.name == dst.name || (src.service == "" && dst.service == "") {
				continue
			}
			for _, cp := range dst.ports {
				conn := fmt.Sprintf("%s → %s:%s (%s %d)", src.name, dst.name, cp.Name, protocol(cp), cp.ContainerPort)
				out, in := m.egress(src, dst, cp), m.ingress(src, dst, cp)
				// A side the shop's policies do not govern (a pod outside the namespace, an
				// address) wants nothing refused; a stray pod of the namespace wants nothing
				// allowed; a service's side wants its part of the graph.
				wantOut, wantIn := src.namespace != m.kust.Namespace, dst.namespace != m.kust.Namespace
				reported := len(errs)
				if src.service != "" {
					w, why := m.wantEgress(src, dst, cp)
					wantOut = w
					switch {
					case w && len(out.by) == 0:
						fail("%s is refused: no policy allows the egress from %s's pods (%s)", conn, src.name, why)
					case !w && out.allowed():
						fail("%s: the egress from %s's pods is allowed (%s), want refused: not an edge of the call graph", conn, src.name, by(out))
					}
				}
				if dst.service != "" {
					w, why := m.wantIngress(src, dst, cp)
					wantIn = w
					switch {
					case w && len(in.by) == 0:
						fail("%s is refused: no policy allows the ingress to %s's pods (%s)", conn, dst.name, why)
					case !w && in.allowed():
						fail("%s: the ingress to %s's pods is allowed (%s), want refused: not an edge of the call graph", conn, dst.name, by(in))
					}
				}
				// Together (what a stray pod can reach, which no side above judges).
				if got, want := out.allowed() && in.allowed(), wantOut && wantIn; len(errs) == reported && got != want {
					fail("%s: allowed = %v (egress: %s; ingress: %s), want %v", conn, got, by(out), by(in), want)
				}
			}
		}
	}
	return errs
}

// by names the policies behind a verdict, for messages.
func by(v verdict) string {
	switch {
	case !v.isolated:
		return "no policy isolates the pod"
	case len(v.by) == 0:
		return "refused"
	}
	return "by " + strings.Join(v.by, ", ")
}
