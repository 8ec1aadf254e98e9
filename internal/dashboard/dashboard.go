package dashboard

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// chartLibrary is the embedded bundle of Apache ECharts; without it (a
// fresh clone before make dashboard-assets) pages work and say plots need it.
const chartLibrary = "vendor/echarts.min.js"

//go:embed all:static
var staticFiles embed.FS

//go:embed templates
var templateFiles embed.FS

// Scheme holds the kinds the dashboard reads.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(crucible.AddToScheme(Scheme))
}

// Options configure the dashboard.
type Options struct {
	// Address is where Serve listens, host:port; 127.0.0.1:8080 when empty.
	Address string

	// Namespaces are listed one by one when the user may not list
	// Experiments in all namespaces: the kubeconfig's namespace, or those
	// given on the command line. The page says it fell back to them.
	Namespaces []string

	// AllowedHosts, when set, are the only host names (without port) a
	// request's Host header may name; others get 403. A server on loopback
	// with the user's credentials sets it, so that a web page the user
	// visits cannot read the cluster through DNS rebinding.
	AllowedHosts []string

	// Listening, when set, is called once Serve listens, with the URL to
	// open.
	Listening func(url string)

	// Clock tells ages and ticks the event streams' heartbeats; the real
	// clock when nil.
	Clock clock.WithTicker

	// Log receives request errors; discarded when unset.
	Log logr.Logger
}

// Server is the dashboard's http.Handler.
type Server struct {
	client client.WithWatch
	kube   kubernetes.Interface
	trials trialSource
	opts   Options
	clock  clock.WithTicker
	log    logr.Logger

	mux    *http.ServeMux
	pages  map[string]*template.Template
	static fs.FS
	// assetVersion maps a static file to a short hash of its content, so
	// pages can link it with a cache-busting query.
	assetVersion map[string]string
	// charts says whether the chart library is embedded.
	charts bool
}

// New returns the dashboard over c (Experiments and Trials, which it lists,
// gets and watches) and kube (events, Pods and their logs).
func New(c client.WithWatch, kube kubernetes.Interface, opts Options) (*Server, error) {
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	return newServer(c, kube, opts, static)
}

func newServer(c client.WithWatch, kube kubernetes.Interface, opts Options, static fs.FS) (*Server, error) {
	s := &Server{
		client: c,
		kube:   kube,
		trials: clientTrials{c},
		opts:   opts,
		clock:  opts.Clock,
		log:    opts.Log,
		static: static,
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.log.GetSink() == nil {
		s.log = logr.Discard()
	}
	if err := s.loadAssets(); err != nil {
		return nil, err
	}
	pages, err := parsePages(s.funcs())
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.experimentsPage)
	m.HandleFunc("GET /namespaces/{ns}/experiments/{name}", s.experimentPage)
	m.HandleFunc("GET /namespaces/{ns}/experiments/{name}/trials.json", s.trialsJSON)
	m.HandleFunc("GET /namespaces/{ns}/experiments/{name}/events", s.experimentEvents)
	m.HandleFunc("GET /namespaces/{ns}/trials/{name}", s.trialPage)
	m.HandleFunc("GET /namespaces/{ns}/compare", s.comparePage)
	m.HandleFunc("GET /static/", s.serveStatic)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".", "")
	})
	s.mux = m
}

// ServeHTTP serves the dashboard.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	// Scripts only from the dashboard itself: no inline script, no CDN.
	// ECharts sets styles of the elements it draws, hence unsafe-inline
	// for styles only.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	if !s.hostAllowed(r.Host) {
		s.errorPage(w, r, http.StatusForbidden, "Host not allowed",
			"This dashboard answers only to "+strings.Join(s.opts.AllowedHosts, ", ")+"; the request named "+r.Host+".", "")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) hostAllowed(hostport string) bool {
	if len(s.opts.AllowedHosts) == 0 {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, a := range s.opts.AllowedHosts {
		if strings.EqualFold(strings.Trim(a, "[]"), host) {
			return true
		}
	}
	return false
}

// loadAssets checks for the chart library and hashes every static file.
func (s *Server) loadAssets() error {
	s.assetVersion = map[string]string{}
	err := fs.WalkDir(s.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(s.static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s.assetVersion[p] = hex.EncodeToString(sum[:4])
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the dashboard's static files: %w", err)
	}
	_, s.charts = s.assetVersion[chartLibrary]
	return nil
}

// serveStatic serves the embedded files; a versioned link is cached for
// long, since its content cannot change under that URL.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if _, ok := s.assetVersion[name]; !ok || path.Clean(name) != name {
		s.errorPage(w, r, http.StatusNotFound, "Not found", "There is no file "+r.URL.Path+".", "")
		return
	}
	if r.URL.Query().Get("v") != "" {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if path.Ext(name) == "" {
		// LICENSE, NOTICE.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	http.ServeFileFS(w, r, s.static, name)
}

// asset is the URL of a static file, with its content hash.
func (s *Server) asset(name string) string {
	return "/static/" + name + "?v=" + s.assetVersion[name]
}

// Serve runs the dashboard on opts.Address with cfg's credentials until ctx
// is done, then shuts it down, ending open event streams.
func Serve(ctx context.Context, cfg *rest.Config, opts Options) error {
	cfg = rest.CopyConfig(cfg)
	// Listing a sweep of 10,000 trials takes 20 pages of 500; client-go's
	// default of 5 queries a second would make that 4 s of waiting.
	if cfg.QPS == 0 {
		cfg.QPS = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = 100
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme, HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	h, err := New(c, kube, opts)
	if err != nil {
		return err
	}
	trials := newCachedTrials(c, cfg, httpClient, mapper, h.clock)
	h.trials = trials
	addr := opts.Address
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go trials.sweep(base)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: event streams stay open. Each page bounds its
		// own calls to the API server by the request's context.
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return base },
	}
	// Shutdown waits for handlers; cancelling their context ends streams.
	srv.RegisterOnShutdown(cancel)
	if opts.Listening != nil {
		opts.Listening(listenURL(ln.Addr()))
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutting the dashboard down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenURL is the URL of a listener: loopback when it listens on every
// address, since that is where the user's browser finds it.
func listenURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
}

// LoopbackHosts are the host names a server on address answers to when it
// listens on loopback: localhost, 127.0.0.1, ::1 and the address's own
// host. Nil when it listens elsewhere (every interface, a LAN address),
// where the host names it is reached by are not known.
func LoopbackHosts(address string) []string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return nil
		}
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if !slices.Contains(hosts, host) {
		hosts = append(hosts, host)
	}
	return hosts
}
