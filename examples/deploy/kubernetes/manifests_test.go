// Package kubernetes_test checks the example shop's Kubernetes manifests without a cluster:
// every document decodes strictly into the k8s.io/api type of its kind (an unknown or
// misspelled field fails), and the manifests agree with the services they run (probe paths
// and ports: the probes on the admin listener, the Services on the API port only; the
// shutdown timings, the hardening, the TLS Secret each service reads its certificate from),
// and the NetworkPolicies allow exactly the call graph (networkpolicy_test.go).
package kubernetes_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/dns"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// kustomization is the subset of kustomize's Kustomization that this folder uses; decoding
// it strictly makes an unexpected field fail here too.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests is every object of the kustomization, by kind and name.
type manifests struct {
	kust         kustomization
	namespaces   map[string]*corev1.Namespace
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	pvcs         map[string]*corev1.PersistentVolumeClaim
	deployments  map[string]*appsv1.Deployment
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	netpols      map[string]*networkingv1.NetworkPolicy
	documentsLen int
}

// The example services, and the ones the gateway must reach; each must have a Deployment.
var services = []string{"catalog", "cart", "payment", "gateway"}

// upstreams are the services each service calls, which its discovery must find.
var upstreams = map[string][]string{"cart": {"catalog", "payment"}, "gateway": {"catalog", "cart", "payment"}}

// healthPaths are the probe paths the services serve, by probe.
var healthPaths = map[string]string{"startup": "/startupz", "liveness": "/livez", "readiness": "/readyz"}

// load reads kustomization.yaml and every resource it lists from files (name to content).
func load(files map[string][]byte) (*manifests, error) {
	m := &manifests{
		namespaces:  map[string]*corev1.Namespace{},
		configMaps:  map[string]*corev1.ConfigMap{},
		services:    map[string]*corev1.Service{},
		pvcs:        map[string]*corev1.PersistentVolumeClaim{},
		deployments: map[string]*appsv1.Deployment{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
		hpas:        map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		netpols:     map[string]*networkingv1.NetworkPolicy{},
	}
	k, ok := files["kustomization.yaml"]
	if !ok {
		return nil, errors.New("kustomization.yaml: missing")
	}
	if err := yaml.UnmarshalStrict(k, &m.kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	var errs []error
	for _, res := range m.kust.Resources {
		data, ok := files[res]
		if !ok {
			errs = append(errs, fmt.Errorf("kustomization.yaml lists %s, which does not exist", res))
			continue
		}
		for i, doc := range splitDocuments(data) {
			if err := m.add(doc); err != nil {
				errs = append(errs, fmt.Errorf("%s document %d: %w", res, i+1, err))
			}
		}
	}
	for name := range files {
		if name != "kustomization.yaml" && !slices.Contains(m.kust.Resources, name) {
			errs = append(errs, fmt.Errorf("%s is not listed in kustomization.yaml resources", name))
		}
	}
	return m, errors.Join(errs...)
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// splitDocuments splits a multi-document YAML file, dropping empty documents.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// add decodes one document strictly into the type its apiVersion and kind name.
func (m *manifests) add(doc []byte) error {
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(doc, &u.Object); err != nil {
		return err
	}
	gvk := u.GroupVersionKind()
	name := u.GetName()
	if name == "" {
		return fmt.Errorf("%s has no metadata.name", gvk)
	}
	m.documentsLen++
	var err error
	switch gvk.GroupVersion().String() + "/" + gvk.Kind {
	case "v1/Namespace":
		err = decodeInto(doc, name, m.namespaces)
	case "v1/ConfigMap":
		err = decodeInto(doc, name, m.configMaps)
	case "v1/Service":
		err = decodeInto(doc, name, m.services)
	case "v1/PersistentVolumeClaim":
		err = decodeInto(doc, name, m.pvcs)
	case "apps/v1/Deployment":
		err = decodeInto(doc, name, m.deployments)
	case "policy/v1/PodDisruptionBudget":
		err = decodeInto(doc, name, m.pdbs)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		err = decodeInto(doc, name, m.hpas)
	case "networking.k8s.io/v1/NetworkPolicy":
		err = decodeInto(doc, name, m.netpols)
	case "v1/Secret":
		return fmt.Errorf("Secret %s: key material stays out of the manifests; the user creates the Secrets (kustomization.yaml says how)", name)
	default:
		return fmt.Errorf("%s %s: kind not known to this test; add it", gvk, name)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, name, err)
	}
	return nil
}

// decodeInto decodes doc strictly (unknown and duplicate fields fail) into a new T.
func decodeInto[T any](doc []byte, name string, into map[string]*T) error {
	if _, dup := into[name]; dup {
		return errors.New("defined twice")
	}
	v := new(T)
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return err
	}
	into[name] = v
	return nil
}

func readDir(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = b
	}
	return files
}

// servedPath reports whether the admin server every service runs (gantry.NewAdmin with
// its health registry) serves path: anything but its 404 for unknown paths. A registry
// that has not started answers 503 on /readyz and /startupz, which counts as served.
func servedPath(path string) bool {
	srv, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Health: health.NewRegistry(health.Settings{})}, observability.Instrumentation{})
	if err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code != http.StatusNotFound
}

// check returns every way the manifests disagree with the services and the project's rules.
func (m *manifests) check() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(m.namespaces) == 0 || m.kust.Namespace == "" {
		fail("want a Namespace and kustomization namespace")
	} else if _, ok := m.namespaces[m.kust.Namespace]; !ok {
		fail("kustomization namespace %q has no Namespace manifest", m.kust.Namespace)
	}
	for _, img := range m.kust.Images {
		if !slices.ContainsFunc(services, func(s string) bool { return img.Name == "gantry-examples/"+s }) {
			fail("kustomization images: %q is not an example service image", img.Name)
		}
	}

	for _, svc := range services {
		d, ok := m.deployments[svc]
		if !ok {
			fail("service %s: no Deployment", svc)
			continue
		}
		errs = append(errs, m.checkDeployment(svc, d)...)
	}
	for name := range m.deployments {
		if !slices.Contains(services, name) {
			fail("Deployment %s is not an example service", name)
		}
	}

	// Payment scales with load: an HPA on its Deployment, never below two replicas (the
	// second replica is where retries go).
	h, ok := m.hpas["payment"]
	switch {
	case !ok:
		fail("payment: no HorizontalPodAutoscaler")
	case h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != "payment" || h.Spec.ScaleTargetRef.APIVersion != "apps/v1":
		fail("payment HPA targets %+v, want apps/v1 Deployment payment", h.Spec.ScaleTargetRef)
	case h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas:
		fail("payment HPA: replicas min %v max %d, want min >= 2 and max >= min", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	case len(h.Spec.Metrics) == 0:
		fail("payment HPA: no metrics")
	}
	return append(errs, m.checkNetworkPolicies()...)
}

func (m *manifests) checkDeployment(svc string, d *appsv1.Deployment) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{svc}, args...)...))
	}
	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)
	if d.Spec.Selector == nil {
		fail("no selector")
		return errs
	}
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if sel.Empty() || !sel.Matches(podLabels) {
		fail("selector %v does not match the pod template labels %v", d.Spec.Selector.MatchLabels, pod.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		fail("want 1 container, got %d", len(pod.Spec.Containers))
		return errs
	}
	c := pod.Spec.Containers[0]
	if want := "gantry-examples/" + svc; !strings.HasPrefix(c.Image, want+":") {
		fail("image %q, want %s:<tag>", c.Image, want)
	}

	// The environment the container gets from its ConfigMaps, then its own env.
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			fail("envFrom ConfigMap %q does not exist", ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}

	// The port the API listens on (HTTP_ADDR, through the same config loader as the
	// service) must be a container port, the one the Service uses; the admin listener's
	// (ADMIN_ADDR) must be the container port named "admin", the one the probes use.
	srv, err := config.Load[transport.ServerSettings](config.WithEnvironment(env))
	if err != nil {
		fail("server settings: %v", err)
		return errs
	}
	_, portStr, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		fail("HTTP_ADDR %q: %v", srv.Addr, err)
		return errs
	}
	listen, _ := strconv.Atoi(portStr)
	var containerPorts []int32
	for _, p := range c.Ports {
		containerPorts = append(containerPorts, p.ContainerPort)
	}
	if !slices.Contains(containerPorts, int32(listen)) {
		fail("HTTP_ADDR %q listens on %d, which is not a containerPort %v", srv.Addr, listen, containerPorts)
	}
	// ADMIN_ADDR must be set: its default differs per binary (9080-9083 in the mains,
	// :9090 in gantry.NewAdmin), and the probes' port must not depend on which applies.
	adm, err := config.Load[gantry.AdminSettings](config.WithEnvironment(env))
	if err != nil {
		fail("admin settings: %v", err)
		return errs
	}
	if adm.Addr == "" {
		fail("ADMIN_ADDR unset: set it so the probes' admin port is explicit")
		return errs
	}
	_, adminStr, err := net.SplitHostPort(adm.Addr)
	if err != nil {
		fail("ADMIN_ADDR %q: %v", adm.Addr, err)
		return errs
	}
	admin, _ := strconv.Atoi(adminStr)
	if admin == listen {
		fail("ADMIN_ADDR %q and HTTP_ADDR %q share port %d; the admin listener needs its own", adm.Addr, srv.Addr, listen)
	}
	if i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "admin" }); i < 0 {
		fail("no container port named admin (ADMIN_ADDR %q)", adm.Addr)
	} else if got := c.Ports[i].ContainerPort; got != int32(admin) {
		fail("container port admin is %d, but ADMIN_ADDR %q listens on %d", got, adm.Addr, admin)
	}
	resolve := func(p intstr.IntOrString) (int32, bool) {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return cp.ContainerPort, true
			}
		}
		return 0, false
	}

	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	for _, kind := range []string{"startup", "liveness", "readiness"} {
		p := probes[kind]
		switch {
		case p == nil || p.HTTPGet == nil:
			fail("no %s httpGet probe", kind)
		case p.HTTPGet.Path != healthPaths[kind]:
			fail("%s probe path %q, want %q", kind, p.HTTPGet.Path, healthPaths[kind])
		case !servedPath(p.HTTPGet.Path):
			fail("%s probe path %q is not served by the admin server (gantry.NewAdmin)", kind, p.HTTPGet.Path)
		default:
			// The probes go to the admin listener: the API port answers them 404.
			if port, ok := resolve(p.HTTPGet.Port); !ok || port != int32(admin) {
				fail("%s probe port %s resolves to %d (found %v), want the admin port %d (ADMIN_ADDR)", kind, p.HTTPGet.Port.String(), port, ok, admin)
			}
		}
	}

	// Shutdown timings, read through the lifecycle's own settings type and defaults.
	life, err := config.Load[gantry.Settings](config.WithEnvironment(env))
	if err != nil {
		fail("shutdown settings: %v", err)
		return errs
	}
	drain, budget := life.DrainDelay, life.Timeout
	if drain == 0 {
		drain = 3 * time.Second // gantry.Settings.DrainDelay's documented default
	}
	if budget == 0 {
		budget = 20 * time.Second // gantry.Settings.Timeout's documented default
	}
	var preStop time.Duration
	switch {
	case c.Lifecycle == nil || c.Lifecycle.PreStop == nil:
		fail("no preStop hook: endpoint removal races SIGTERM")
	case c.Lifecycle.PreStop.Sleep != nil:
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	default:
		fail("preStop must be a sleep action (scratch images have no shell)")
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		fail("terminationGracePeriodSeconds unset (default 30s); set it above the shutdown budget")
	} else if grace, need := time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second, preStop+drain+budget; grace <= need {
		fail("terminationGracePeriodSeconds %v <= preStop %v + SHUTDOWN_DRAIN_DELAY %v + SHUTDOWN_TIMEOUT %v", grace, preStop, drain, budget)
	}
	if r := pod.Spec.Containers[0].ReadinessProbe; r != nil {
		// Readiness must notice the drain well within the drain delay plus the preStop sleep.
		if notice := time.Duration(r.PeriodSeconds*max(r.FailureThreshold, 1)) * time.Second; notice > preStop+drain {
			fail("readiness notices a drain after %v, longer than preStop %v + drain %v", notice, preStop, drain)
		}
	}

	// Discovery: without Consul, DISCOVERY_DNS or DISCOVERY_STATIC must list every
	// upstream, each at a Service of these manifests and one of its ports.
	if env["CONSUL_HTTP_ADDR"] == "" {
		variable := "DISCOVERY_STATIC"
		addrs := map[string][]string{}
		if targets, ok := env["DISCOVERY_DNS"]; ok {
			variable = "DISCOVERY_DNS"
			ts, err := dns.ParseTargets(targets)
			if err != nil {
				fail("%v", err)
			}
			for name, t := range ts {
				if t.SRV {
					fail("DISCOVERY_DNS %s: srv: targets are not checked here; use host:port", name)
					continue
				}
				addrs[name] = []string{net.JoinHostPort(t.Name, strconv.Itoa(t.Port))}
			}
		} else {
			peers, err := discovery.ParseStatic(env["DISCOVERY_STATIC"])
			if err != nil {
				fail("%v", err)
			}
			for name, ins := range peers {
				for _, in := range ins {
					addrs[name] = append(addrs[name], in.Address)
				}
			}
		}
		for _, up := range upstreams[svc] {
			list, ok := addrs[up]
			if !ok || len(list) == 0 {
				fail("%s has no %s (and CONSUL_HTTP_ADDR is unset)", variable, up)
			}
			for _, a := range list {
				host, port, err := net.SplitHostPort(a)
				if err != nil {
					fail("%s %s: %v", variable, up, err)
					continue
				}
				// A Service name, bare or qualified with this namespace.
				name, _ := strings.CutSuffix(host, "."+m.kust.Namespace+".svc.cluster.local")
				if s, ok := m.services[name]; !ok || !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == port }) {
					fail("%s %s=%s: no Service %s with port %s", variable, up, a, name, port)
				}
			}
		}
	}

	errs = append(errs, checkTLS(svc, pod.Spec, c, env)...)
	if slices.Contains(stateful, svc) {
		errs = append(errs, checkDatabase(svc, d, c, env)...)
	}
	errs = append(errs, checkMemory(svc, pod.Spec, m.configMaps)...)

	// Hardening.
	psc := pod.Spec.SecurityContext
	csc := c.SecurityContext
	nonRoot := (csc != nil && csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		fail("runAsNonRoot is not true")
	}
	if uid := runAsUser(psc, csc); uid == nil || *uid == 0 {
		fail("runAsUser must be a non-zero numeric id")
	}
	switch {
	case csc == nil:
		fail("container has no securityContext")
	default:
		if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			fail("readOnlyRootFilesystem is not true")
		}
		if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			fail("allowPrivilegeEscalation is not false")
		}
		if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
			fail("capabilities must drop ALL and add none")
		}
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			fail("no %s request", res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			fail("no %s limit", res)
		}
	}

	// Volumes: every mount has a volume, /tmp is writable, the data dir is on a volume
	// whose claim exists.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		if _, ok := vols[vm.Name]; !ok {
			fail("volumeMount %s has no volume", vm.Name)
		}
		mounts[vm.MountPath] = vm.Name
	}
	if _, ok := mounts["/tmp"]; !ok {
		fail("no /tmp volume on a read-only root filesystem")
	}
	if dir, ok := env["DATA_DIR"]; ok {
		v, mounted := vols[mounts[dir]]
		switch {
		case !mounted:
			fail("DATA_DIR %s is not a mounted volume", dir)
		case v.PersistentVolumeClaim == nil:
			fail("DATA_DIR %s is on volume %s, which is not a PersistentVolumeClaim", dir, v.Name)
		default:
			if _, ok := m.pvcs[v.PersistentVolumeClaim.ClaimName]; !ok {
				fail("PersistentVolumeClaim %s does not exist", v.PersistentVolumeClaim.ClaimName)
			}
		}
	}

	// A Service selects the pods and forwards to the API port only (never the admin
	// port: it serves internal addresses and state); the internal services are headless
	// so that DNS discovery sees every ready pod.
	s, ok := m.services[svc]
	if !ok {
		fail("no Service named %s", svc)
	} else {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			fail("Service selector %v does not match the pods %v", s.Spec.Selector, pod.Labels)
		}
		if svc != "gateway" && s.Spec.ClusterIP != corev1.ClusterIPNone {
			fail("Service is not headless (clusterIP: None); DNS discovery needs one record per pod")
		}
		for _, sp := range s.Spec.Ports {
			tp := sp.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(sp.Port)
			}
			port, ok := resolve(tp)
			switch {
			case ok && port == int32(admin):
				fail("Service port %d targets %s, the admin port %d; expose only the API port %d", sp.Port, tp.String(), admin, listen)
			case !ok || port != int32(listen):
				fail("Service port %d targets %s, which is not the listening port %d", sp.Port, tp.String(), listen)
			}
		}
		if len(s.Spec.Ports) == 0 {
			fail("Service has no ports")
		}
	}

	// A PodDisruptionBudget covers the pods.
	covered := false
	for _, pdb := range m.pdbs {
		if pdb.Spec.Selector != nil && labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
			covered = true
			if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
				fail("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", pdb.Name)
			}
		}
	}
	if !covered {
		fail("no PodDisruptionBudget selects its pods")
	}
	return errs
}

// checkMemory checks that every container of the pod (init containers too) has a
// limits.memory and a GOMEMLIMIT between 85% and 95% of it: a literal value, from a
// ConfigMap, or from the downward API's limits.memory (with a divisor and a unit after it,
// which gives the whole limit and fails the check: the runtime needs headroom below it).
func checkMemory(svc string, pod corev1.PodSpec, configMaps map[string]*corev1.ConfigMap) []error {
	var errs []error
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("Deployment %s: container %s: "+format, append([]any{svc, c.Name}, args...)...))
		}
		limit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || limit.Value() <= 0 {
			fail("no limits.memory")
			continue
		}
		v, found := "", false
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef == nil || ef.Prefix != "" || configMaps[ef.ConfigMapRef.Name] == nil {
				continue
			}
			if x, ok := configMaps[ef.ConfigMapRef.Name].Data["GOMEMLIMIT"]; ok {
				v, found = x, true
			}
		}
		downward := map[string]string{}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil && e.Name == "GOMEMLIMIT":
				v, found = e.Value, true
			case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
				d := e.ValueFrom.ResourceFieldRef.Divisor
				n := limit.Value()
				if dv := d.Value(); dv > 0 {
					n = (n + dv - 1) / dv
				}
				downward["$("+e.Name+")"] = strconv.FormatInt(n, 10)
				if e.Name == "GOMEMLIMIT" {
					v, found = downward["$("+e.Name+")"], true
				}
			}
		}
		if !found {
			fail("no GOMEMLIMIT (limits.memory %s)", limit.String())
			continue
		}
		for ref, n := range downward {
			v = strings.ReplaceAll(v, ref, n)
		}
		soft, err := goMemLimit(v)
		if err != nil {
			fail("GOMEMLIMIT %q: %v", v, err)
			continue
		}
		if r := float64(soft) / float64(limit.Value()); r < 0.85 || r > 0.95 {
			fail("GOMEMLIMIT %s is %.0f%% of limits.memory %s, want 85-95%%", v, 100*r, limit.String())
		}
	}
	return errs
}

// goMemLimit parses GOMEMLIMIT as the Go runtime does: a number of bytes with an
// optional B, KiB, MiB, GiB or TiB suffix.
func goMemLimit(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("not a size the Go runtime reads")
	}
	return n * mult, nil
}

// The TLS Secret's mount, and the file each variable names (the Secret's key).
const tlsDir = "/var/run/gantry/tls"

// stateful are the services that keep data: in PostgreSQL, so that they run as replicas on
// several nodes.
var stateful = []string{"catalog", "cart", "payment"}

// dbDir is where a stateful service mounts its Secret <service>-database.
const dbDir = "/var/run/gantry/db"

// checkDatabase checks that a stateful service keeps its data in PostgreSQL and scales
// out: DATABASE_URL_FILE names the key url of the Secret <svc>-database, mounted
// read-only with mode 0440 (the URL holds a password, so never inline in the manifests);
// no PersistentVolumeClaim pins a pod to a node's volume, and no required pod affinity
// pins the replicas to one node; at least two replicas, spread over nodes by a
// topologySpreadConstraint on kubernetes.io/hostname, that a rolling update keeps.
func checkDatabase(svc string, d *appsv1.Deployment, c corev1.Container, env map[string]string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: database: "+format, append([]any{svc}, args...)...))
	}
	pod := d.Spec.Template.Spec
	if _, ok := env["DATABASE_URL"]; ok {
		fail("DATABASE_URL is set inline; the URL holds a password: use DATABASE_URL_FILE and the Secret %s-database", svc)
	}
	secret := svc + "-database"
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == secret })
	j := -1
	if i >= 0 {
		j = slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == pod.Volumes[i].Name })
	}
	switch {
	case i < 0:
		fail("no volume of the Secret %s", secret)
	case j < 0:
		fail("the container does not mount the Secret %s", secret)
	default:
		vol, vm := pod.Volumes[i].Secret, c.VolumeMounts[j]
		file := "url"
		for _, it := range vol.Items {
			if it.Key == "url" {
				file = it.Path
			}
		}
		if len(vol.Items) > 0 && !slices.ContainsFunc(vol.Items, func(it corev1.KeyToPath) bool { return it.Key == "url" }) {
			fail("the volume of Secret %s does not project the key url", secret)
		}
		if want := path.Join(vm.MountPath, file); env["DATABASE_URL_FILE"] != want {
			fail("DATABASE_URL_FILE is %q, want %q (the key url of Secret %s)", env["DATABASE_URL_FILE"], want, secret)
		}
		if !vm.ReadOnly || vm.MountPath != dbDir {
			fail("Secret %s mounted at %s (readOnly %v), want %s read-only", secret, vm.MountPath, vm.ReadOnly, dbDir)
		}
		if vol.DefaultMode == nil || *vol.DefaultMode != 0o440 {
			fail("Secret %s's files are not mode 0440", secret)
		}
	}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			fail("volume %s is a PersistentVolumeClaim: it pins the pod to one node's volume; the data lives in PostgreSQL", v.Name)
		}
	}
	if a := pod.Affinity; a != nil && a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
		fail("a required pod affinity pins the replicas together; spread them instead")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		fail("replicas %v, want at least 2", d.Spec.Replicas)
	}
	if st := d.Spec.Strategy; st.Type == appsv1.RecreateDeploymentStrategyType ||
		st.RollingUpdate == nil || st.RollingUpdate.MaxUnavailable == nil || st.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		fail("strategy %+v, want RollingUpdate with maxUnavailable 0", st)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	if !slices.ContainsFunc(pod.TopologySpreadConstraints, func(tc corev1.TopologySpreadConstraint) bool {
		sel, err := metav1.LabelSelectorAsSelector(tc.LabelSelector)
		return err == nil && !sel.Empty() && sel.Matches(podLabels) && tc.TopologyKey == "kubernetes.io/hostname" &&
			tc.MaxSkew == 1 && tc.WhenUnsatisfiable == corev1.DoNotSchedule
	}) {
		fail("no topologySpreadConstraint spreading its pods over kubernetes.io/hostname (maxSkew 1, DoNotSchedule)")
	}
	return errs
}

var tlsFiles = []struct{ variable, key string }{{"TLS_CERT_FILE", "tls.crt"}, {"TLS_KEY_FILE", "tls.key"}, {"TLS_CA_FILE", "ca.crt"}}

// checkTLS checks that the container reads its certificate from the Secret <svc>-tls: the
// Secret mounted read-only at tlsDir (no subPath, which would never see a renewal), its files
// readable by the pod's group and nobody else, and TLS_MODE=files with TLS_CERT_FILE,
// TLS_KEY_FILE and TLS_CA_FILE naming its keys in that mount, read through identity.Settings.
func checkTLS(svc string, pod corev1.PodSpec, c corev1.Container, env map[string]string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: TLS: "+format, append([]any{svc}, args...)...))
	}
	secret := svc + "-tls"
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == secret })
	if i < 0 {
		fail("no volume of the Secret %s", secret)
		return errs
	}
	vol := pod.Volumes[i]
	j := slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == vol.Name })
	if j < 0 {
		fail("the container does not mount the volume %s (Secret %s)", vol.Name, secret)
		return errs
	}
	vm := c.VolumeMounts[j]
	if vm.MountPath != tlsDir {
		fail("Secret %s mounted at %s, want %s", secret, vm.MountPath, tlsDir)
	}
	if !vm.ReadOnly {
		fail("Secret %s mounted read-write, want readOnly: true", secret)
	}
	if vm.SubPath != "" || vm.SubPathExpr != "" {
		fail("Secret %s mounted with a subPath, which never sees a renewed Secret", secret)
	}
	// The files: each key at its path in the mount, with its mode.
	files := map[string]string{}
	modes := map[string]int32{}
	mode := int32(0o644) // the secret volume's default
	if vol.Secret.DefaultMode != nil {
		mode = *vol.Secret.DefaultMode
	}
	for _, f := range tlsFiles {
		files[f.key], modes[f.key] = f.key, mode
	}
	if len(vol.Secret.Items) > 0 {
		clear(files)
		for _, it := range vol.Secret.Items {
			files[it.Key], modes[it.Key] = it.Path, mode
			if it.Mode != nil {
				modes[it.Key] = *it.Mode
			}
		}
	}
	if vol.Secret.Optional != nil && *vol.Secret.Optional {
		fail("Secret %s is optional: without it the service would start without its certificate", secret)
	}
	// The files belong to root and the pod's fsGroup: 0440 lets the non-root user read them
	// through that group, and nobody else (a YAML 440 without the leading 0 is 0670).
	if pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil {
		fail("no pod fsGroup: the non-root user cannot read Secret %s's files (root's, mode 0440)", secret)
	}
	for _, f := range tlsFiles {
		if m, ok := modes[f.key]; ok && m != 0o440 {
			fail("%s of Secret %s has mode %#o, want 0440 (the fsGroup reads it, others do not)", f.key, secret, m)
		}
	}

	s, err := config.Load[identity.Settings](config.WithEnvironment(env))
	if err != nil {
		fail("identity settings: %v", err)
		return errs
	}
	if s.Mode != identity.ModeFiles {
		fail("TLS_MODE is %q, want %q", s.Mode, identity.ModeFiles)
	}
	if s.TrustDomain != "gantry.test" {
		fail("TLS_TRUST_DOMAIN is %q, want gantry.test (the SPIFFE IDs of kustomization.yaml's certificates)", s.TrustDomain)
	}
	got := map[string]string{"TLS_CERT_FILE": s.CertFile, "TLS_KEY_FILE": s.KeyFile, "TLS_CA_FILE": s.CAFile}
	for _, f := range tlsFiles {
		p, ok := files[f.key]
		switch {
		case !ok:
			fail("the volume %s does not project the key %s of Secret %s", vol.Name, f.key, secret)
		case got[f.variable] != path.Join(tlsDir, p):
			fail("%s is %q, want %q (the key %s of Secret %s)", f.variable, got[f.variable], path.Join(tlsDir, p), f.key, secret)
		}
	}
	return errs
}

func runAsUser(psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) *int64 {
	if csc != nil && csc.RunAsUser != nil {
		return csc.RunAsUser
	}
	if psc != nil {
		return psc.RunAsUser
	}
	return nil
}

func TestManifests(t *testing.T) {
	m, err := load(readDir(t))
	if err != nil {
		t.Fatalf("load() error: %v", err)
	}
	if m.documentsLen < 4*3 {
		t.Fatalf("load() decoded %d documents, want at least a Deployment, Service and ConfigMap per service", m.documentsLen)
	}
	for _, err := range m.check() {
		t.Error(err)
	}
}

// edit replaces the first old in file with new.
type edit struct{ file, old, new string }

// TestManifestsCheckCatches proves the checks above can fail: each case breaks one thing in
// the real manifests and expects load or check to report it.
func TestManifestsCheckCatches(t *testing.T) {
	tests := []struct {
		name, file, old, new, want string
		more                       []edit // further edits, for mistakes that take more than one
	}{
		{"unknown field", "payment.yaml", "  replicas: 2\n", "  replicas: 2\n  replica: 2\n", `unknown field "replica"`, nil},
		{"misspelled probe field", "catalog.yaml", "periodSeconds: 2\n            failureThreshold: 30", "periodSecond: 2\n            failureThreshold: 30", `unknown field`, nil},
		{"wrong probe path", "cart.yaml", "path: /readyz", "path: /ready", `readiness probe path "/ready"`, nil},
		{"probe on another port", "gateway.yaml", "httpGet: {path: /livez, port: admin}", "httpGet: {path: /livez, port: 9090}", "liveness probe port 9090", nil},
		{"probe on the API port", "cart.yaml", "httpGet: {path: /readyz, port: admin}", "httpGet: {path: /readyz, port: http}", "readiness probe port http resolves to 8082 (found true), want the admin port 9082", nil},
		{"ADMIN_ADDR unset", "payment.yaml", "  ADMIN_ADDR: \":9083\"\n", "", "ADMIN_ADDR unset", nil},
		{"admin container port differs", "catalog.yaml", `ADMIN_ADDR: ":9081"`, `ADMIN_ADDR: ":9091"`, `container port admin is 9081, but ADMIN_ADDR ":9091" listens on 9091`, nil},
		{"Service exposes the admin port", "payment.yaml", "      targetPort: http\n", "      targetPort: http\n    - name: admin\n      port: 9083\n      targetPort: admin\n", "Service port 9083 targets admin, the admin port 9083", nil},
		{"listening port not the container port", "catalog.yaml", `HTTP_ADDR: ":8081"`, `HTTP_ADDR: ":9999"`, "listens on 9999", nil},
		{"grace period too short", "payment.yaml", "terminationGracePeriodSeconds: 35", "terminationGracePeriodSeconds: 28", "terminationGracePeriodSeconds 28s <=", nil},
		{"shutdown budget raised", "gateway.yaml", "SHUTDOWN_TIMEOUT: 20s", "SHUTDOWN_TIMEOUT: 40s", "SHUTDOWN_TIMEOUT 40s", nil},
		{"no preStop", "cart.yaml", "          lifecycle:\n            preStop:\n              sleep: {seconds: 5}\n", "", "no preStop hook", nil},
		{"writable root", "gateway.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true", nil},
		{"service not headless", "payment.yaml", "  clusterIP: None\n", "", "not headless", nil},
		{"no HPA", "payment.yaml", "minReplicas: 2", "minReplicas: 1", "payment HPA: replicas min", nil},
		{"upstream at a missing port", "gateway.yaml", "cart=cart.gantry-shop.svc.cluster.local:8082", "cart=cart.gantry-shop.svc.cluster.local:9082", "no Service cart with port 9082", nil},
		{"upstream missing", "cart.yaml", `;payment=payment.gantry-shop.svc.cluster.local:8083"`, `"`, "DISCOVERY_DNS has no payment", nil},
		{"static upstream missing", "cart.yaml", `DISCOVERY_DNS: "catalog=catalog.gantry-shop.svc.cluster.local:8081;payment=payment.gantry-shop.svc.cluster.local:8083"`, `DISCOVERY_STATIC: "catalog=http://catalog:8081"`, "DISCOVERY_STATIC has no payment", nil},
		{"DNS target at a missing Service", "gateway.yaml", `cart=cart.gantry-shop.svc.cluster.local:8082;`, `cart=carts:8082;`, "DISCOVERY_DNS cart=carts:8082: no Service carts", nil},
		{"unlisted file", "extra.yaml", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "not listed in kustomization.yaml", nil},
		// Network policies (networkpolicy_test.go).
		{"no default deny", "network-policies.yaml", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", "  podSelector: {}\n  policyTypes: [Ingress]\n", "no default deny", nil},
		{"call graph edge missing (egress)", "network-policies.yaml", "    - to:\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: payment}\n      ports:\n        - {protocol: TCP, port: http}\n", "",
			"gateway → payment:http (TCP 8083) is refused: no policy allows the egress from gateway's pods", nil},
		{"call graph edge missing (ingress)", "network-policies.yaml", "            matchLabels: {app.kubernetes.io/name: gateway}\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: cart}\n      ports:", "            matchLabels: {app.kubernetes.io/name: gateway}\n      ports:",
			"cart → catalog:http (TCP 8081) is refused: no policy allows the ingress to catalog's pods", nil},
		{"cart → gateway allowed", "network-policies.yaml", "            matchLabels: {app.kubernetes.io/name: gateway}\n      ports:\n        - {protocol: TCP, port: http}\n  egress:\n    - to:\n",
			"            matchLabels: {app.kubernetes.io/name: gateway}\n      ports:\n        - {protocol: TCP, port: http}\n  egress:\n    - to:\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: gateway}\n",
			"cart → gateway:http (TCP 8080): the egress from cart's pods is allowed (by cart), want refused", nil},
		{"payment ingress from catalog alone", "network-policies.yaml", "    matchLabels: {app.kubernetes.io/name: payment}\n  policyTypes: [Ingress]\n  ingress:\n    - from:\n",
			"    matchLabels: {app.kubernetes.io/name: payment}\n  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: catalog}\n",
			"catalog → payment:http (TCP 8083): the ingress to payment's pods is allowed (by payment), want refused", nil},
		{"catalog egress opened", "network-policies.yaml", "  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: gateway}\n        - podSelector:",
			"  policyTypes: [Ingress, Egress]\n  egress:\n    - {}\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: gateway}\n        - podSelector:",
			"catalog → the internet (203.0.113.7):https (TCP 443): the egress from catalog's pods is allowed (by catalog), want refused", nil},
		{"DNS over UDP refused", "network-policies.yaml", "        - {protocol: UDP, port: 53}\n", "", "catalog → kube-system/kube-dns:dns (UDP 53) is refused: no policy allows the egress from catalog's pods", nil},
		{"admin port open to all", "network-policies.yaml", "    - from:\n        - namespaceSelector:\n            matchLabels: {kubernetes.io/metadata.name: monitoring}\n          podSelector:\n            matchLabels: {app.kubernetes.io/name: prometheus}\n      ports:", "    - ports:",
			"ingress-nginx/controller → gateway:admin (TCP 9080): the ingress to gateway's pods is allowed (by allow-prometheus-admin), want refused", nil},
		{"admin port closed to Prometheus", "network-policies.yaml", "        - {protocol: TCP, port: admin}\n", "        - {protocol: TCP, port: 9090}\n",
			"monitoring/prometheus → cart:admin (TCP 9082) is refused: no policy allows the ingress to cart's pods", nil},
		{"gateway closed to the outside", "network-policies.yaml", "  ingress:\n    - ports:\n        - {protocol: TCP, port: http}\n", "  ingress:\n    - from:\n        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}\n      ports:\n        - {protocol: TCP, port: http}\n",
			"the internet (203.0.113.7) → gateway:http (TCP 8080) is refused", nil},
		{"a caller in any namespace", "network-policies.yaml", "{app.kubernetes.io/name: gateway}\n        - podSelector:\n            matchLabels: {app.kubernetes.io/name: cart}\n", "{app.kubernetes.io/name: gateway}\n        - namespaceSelector: {}\n          podSelector:\n            matchLabels: {app.kubernetes.io/name: cart}\n",
			"other/cart → catalog:http (TCP 8081): the ingress to catalog's pods is allowed (by catalog), want refused", nil},
		{"an upstream in any namespace", "network-policies.yaml", "        - podSelector:\n            matchLabels: {app.kubernetes.io/name: cart}\n      ports:", "        - namespaceSelector: {}\n          podSelector:\n            matchLabels: {app.kubernetes.io/name: cart}\n      ports:",
			"gateway → other/cart:http (TCP 8082): the egress from gateway's pods is allowed (by gateway), want refused", nil},
		{"a stray pod's egress unrestricted", "network-policies.yaml", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", "  podSelector: {}\n  policyTypes: [Ingress]\n",
			"gantry-shop/stray → gateway:http (TCP 8080): allowed = true (egress: no policy isolates the pod; ingress: by gateway), want false",
			[]edit{{"network-policies.yaml", "  podSelector: {}\n  policyTypes: [Egress]\n", "  podSelector:\n    matchExpressions:\n      - {key: app.kubernetes.io/name, operator: In, values: [gateway, catalog, cart, payment]}\n  policyTypes: [Egress]\n"}}},
		{"podSelector with labels no pod carries", "network-policies.yaml", "    matchLabels: {app.kubernetes.io/name: payment}\n  policyTypes: [Ingress]", "    matchLabels: {app: payment}\n  policyTypes: [Ingress]",
			"payment: podSelector app=payment selects no pod of the shop", nil},

		// Memory: GOMEMLIMIT agrees with limits.memory.
		{"no GOMEMLIMIT", "cart.yaml", "            - {name: GOMEMLIMIT, value: 230MiB}\n", "", "Deployment cart: container cart: no GOMEMLIMIT (limits.memory 256Mi)", nil},
		{"GOMEMLIMIT above the limit", "catalog.yaml", "{name: GOMEMLIMIT, value: 230MiB}", "{name: GOMEMLIMIT, value: 300MiB}", "GOMEMLIMIT 300MiB is 117% of limits.memory 256Mi", nil},
		{"limit raised alone", "gateway.yaml", "limits: {cpu: \"1\", memory: 256Mi}", "limits: {cpu: \"1\", memory: 512Mi}", "Deployment gateway: container gateway: GOMEMLIMIT 230MiB is 45% of limits.memory 512Mi", nil},
		{"no memory limit", "payment.yaml", "limits: {cpu: \"1\", memory: 256Mi}", "limits: {cpu: \"1\"}", "Deployment payment: container payment: no limits.memory", nil},
		{"GOMEMLIMIT in bytes by mistake", "cart.yaml", "{name: GOMEMLIMIT, value: 230MiB}", "{name: GOMEMLIMIT, value: \"230\"}", "GOMEMLIMIT 230 is 0% of limits.memory", nil},
		{"the whole limit from the downward API", "cart.yaml", "            - {name: GOMEMLIMIT, value: 230MiB}\n",
			"            - name: MEMORY_LIMIT_MIB\n              valueFrom:\n                resourceFieldRef: {resource: limits.memory, divisor: 1Mi}\n            - {name: GOMEMLIMIT, value: \"$(MEMORY_LIMIT_MIB)MiB\"}\n",
			"GOMEMLIMIT 256MiB is 100% of limits.memory 256Mi", nil},

		// Certificates from Secrets.
		{"TLS Secret not mounted", "catalog.yaml", "            - {name: tls, mountPath: /var/run/gantry/tls, readOnly: true}\n", "", "Deployment catalog: TLS: the container does not mount the volume tls (Secret catalog-tls)", nil},
		{"another service's Secret", "gateway.yaml", "secretName: gateway-tls", "secretName: cart-tls", "Deployment gateway: TLS: no volume of the Secret gateway-tls", nil},
		{"TLS_MODE not files", "cart.yaml", "{name: TLS_MODE, value: files}", "{name: TLS_MODE, value: dev}", `Deployment cart: TLS: TLS_MODE is "dev", want "files"`, nil},
		{"TLS_MODE unset", "cart.yaml", "            - {name: TLS_MODE, value: files}\n", "", `Deployment cart: TLS: TLS_MODE is "", want "files"`, nil},
		{"key outside the mount", "payment.yaml", "value: /var/run/gantry/tls/tls.key}", "value: /etc/tls/tls.key}", `Deployment payment: TLS: TLS_KEY_FILE is "/etc/tls/tls.key", want "/var/run/gantry/tls/tls.key"`, nil},
		{"CA file unset", "payment.yaml", "            - {name: TLS_CA_FILE, value: /var/run/gantry/tls/ca.crt}\n", "", "TLS_CA_FILE: required in files mode", nil},
		{"wrong trust domain", "catalog.yaml", "{name: TLS_TRUST_DOMAIN, value: gantry.test}", "{name: TLS_TRUST_DOMAIN, value: shop.test}", `Deployment catalog: TLS: TLS_TRUST_DOMAIN is "shop.test"`, nil},
		{"TLS mount writable", "cart.yaml", "mountPath: /var/run/gantry/tls, readOnly: true}", "mountPath: /var/run/gantry/tls}", "Deployment cart: TLS: Secret cart-tls mounted read-write", nil},
		{"TLS mount with a subPath", "gateway.yaml", "mountPath: /var/run/gantry/tls, readOnly: true}", "mountPath: /var/run/gantry/tls, readOnly: true, subPath: x}", "Deployment gateway: TLS: Secret gateway-tls mounted with a subPath", nil},
		{"key readable by others", "catalog.yaml", "defaultMode: 0440", "defaultMode: 0444", "Deployment catalog: TLS: tls.key of Secret catalog-tls has mode 0444, want 0440", nil},
		{"mode without the leading 0", "catalog.yaml", "defaultMode: 0440", "defaultMode: 440", "has mode 0670, want 0440", nil},
		{"no fsGroup", "gateway.yaml", "        fsGroup: 65532\n", "", "Deployment gateway: TLS: no pod fsGroup", nil},
		{"ca.crt not projected", "payment.yaml", "              - {key: ca.crt, path: ca.crt}\n", "", "Deployment payment: TLS: the volume tls does not project the key ca.crt of Secret payment-tls", nil},
		// The data in PostgreSQL, the replicas spread (checkDatabase, allow-database).
		{"database URL inline", "catalog.yaml", "            - {name: DATABASE_URL_FILE, value: /var/run/gantry/db/url}\n", "            - {name: DATABASE_URL, value: \"postgres://catalog:secret@db/catalog\"}\n",
			"Deployment catalog: database: DATABASE_URL is set inline", nil},
		{"database file elsewhere", "cart.yaml", "{name: DATABASE_URL_FILE, value: /var/run/gantry/db/url}", "{name: DATABASE_URL_FILE, value: /var/run/gantry/db/cart}",
			`Deployment cart: database: DATABASE_URL_FILE is "/var/run/gantry/db/cart", want "/var/run/gantry/db/url"`, nil},
		{"database secret not mounted", "payment.yaml", "            - {name: database, mountPath: /var/run/gantry/db, readOnly: true}\n", "",
			"Deployment payment: database: the container does not mount the Secret payment-database", nil},
		{"one catalog", "catalog.yaml", "  replicas: 2\n", "  replicas: 1\n", "Deployment catalog: database: replicas", nil},
		{"cart recreated", "cart.yaml", "    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 0\n      maxSurge: 1\n", "    type: Recreate\n",
			"Deployment cart: database: strategy", nil},
		{"spread only preferred", "payment.yaml", "whenUnsatisfiable: DoNotSchedule", "whenUnsatisfiable: ScheduleAnyway",
			"Deployment payment: database: no topologySpreadConstraint", nil},
		{"payment pinned to one node", "payment.yaml", "      topologySpreadConstraints:\n", "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - topologyKey: kubernetes.io/hostname\n              labelSelector:\n                matchLabels: {app.kubernetes.io/name: payment}\n      topologySpreadConstraints:\n",
			"Deployment payment: database: a required pod affinity pins the replicas together", nil},
		{"data on a node's volume", "cart.yaml", "        - name: tmp\n          emptyDir: {medium: Memory, sizeLimit: 16Mi}\n", "        - name: tmp\n          persistentVolumeClaim: {claimName: cart-data}\n",
			"Deployment cart: database: volume tmp is a PersistentVolumeClaim", nil},
		{"database unreachable", "network-policies.yaml", "        - {protocol: TCP, port: 5432}\n", "        - {protocol: TCP, port: 5433}\n",
			"cart → database/postgresql:postgresql (TCP 5432) is refused: no policy allows the egress from cart's pods", nil},
		{"gateway reaches the database", "network-policies.yaml", "values: [catalog, cart, payment]}\n  policyTypes: [Egress]", "values: [catalog, cart, payment, gateway]}\n  policyTypes: [Egress]",
			"gateway → database/postgresql:postgresql (TCP 5432): the egress from gateway's pods is allowed (by allow-database), want refused", nil},
		{"key material committed", "cart.yaml", "# cart: carts,", "apiVersion: v1\nkind: Secret\nmetadata: {name: cart-tls}\ntype: kubernetes.io/tls\n---\n# cart: carts,", "Secret cart-tls: key material stays out of the manifests", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := readDir(t)
			if tt.old == "" {
				files[tt.file] = []byte(tt.new)
			} else {
				if !bytes.Contains(files[tt.file], []byte(tt.old)) {
					t.Fatalf("%s does not contain %q; update this test case", tt.file, tt.old)
				}
				files[tt.file] = bytes.Replace(files[tt.file], []byte(tt.old), []byte(tt.new), 1)
			}
			for _, e := range tt.more {
				if !bytes.Contains(files[e.file], []byte(e.old)) {
					t.Fatalf("%s does not contain %q; update this test case", e.file, e.old)
				}
				files[e.file] = bytes.Replace(files[e.file], []byte(e.old), []byte(e.new), 1)
			}
			m, err := load(files)
			var all []error
			if err != nil {
				all = append(all, err)
			} else {
				all = m.check()
			}
			got := errors.Join(all...)
			if got == nil || !strings.Contains(got.Error(), tt.want) {
				t.Errorf("load+check(%s) = %v, want an error containing %q", tt.name, got, tt.want)
			}
		})
	}
}
