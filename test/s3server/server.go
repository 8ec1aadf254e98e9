// Package s3server runs a real S3 server for tests: versitygw
// (github.com/versity/versitygw) with its posix backend, on a loopback port,
// over a directory of the test's.
//
// It builds nothing: it runs <repo>/bin/versitygw, which `make s3-assets`
// builds from source (hack/s3.mk). If the binary is missing, Start fails with
// an error that says so; tests are meant to fail then, not to skip.
//
//	srv, err := s3server.Start(ctx, t.TempDir())
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(func() { _ = srv.Stop() })
//	// srv.Endpoint, srv.AccessKey, srv.SecretKey, srv.Region
//
// or, the same in one line, srv := s3server.StartT(t, t.TempDir()).
//
// Each Server is one versitygw process with root credentials of its own
// (single-account mode, no IAM). Buckets are the top-level directories of
// Dir and objects the files below them; object metadata (ETag, content type,
// user metadata) is kept in user extended attributes of those files, so Dir
// must be on a filesystem that has them (ext4, xfs, btrfs; tmpfs since Linux
// 6.6). versitygw also keeps Dir/.vgwlocks and Dir/<bucket>/.sgwtmp, which S3
// never shows. Stop and Restart keep all of it.
package s3server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	// modulePath is the module whose root holds bin/versitygw.
	modulePath = "github.com/crucible-dev/crucible"

	// EnvBinary names the environment variable that, if set, is the
	// versitygw binary to run instead of <repo>/bin/versitygw (for a
	// LOCALBIN other than bin/).
	EnvBinary = "VERSITYGW"

	// DefaultRegion is the region the servers are started with.
	DefaultRegion = "us-east-1"

	// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
	// versitygw exits within a few milliseconds of SIGTERM when idle.
	StopGrace = 10 * time.Second

	// defaultStartTimeout bounds Start when ctx has no deadline.
	defaultStartTimeout = 30 * time.Second

	logLimit = 64 << 10
)

// Server is a versitygw S3 gateway on loopback over a temporary directory.
type Server struct {
	// Endpoint is the URL of the S3 API: http://127.0.0.1:<port>.
	Endpoint string
	// AccessKey and SecretKey are the root credentials, generated per server.
	AccessKey, SecretKey string
	// Region is the region the server signs and answers for.
	Region string
	// Dir is the posix backend's root directory: one sub-directory per bucket.
	Dir string

	bin  string
	addr string // 127.0.0.1:<port>

	mu   sync.Mutex
	proc *process    // nil when stopped
	log  *tailBuffer // output of the current or last run
}

// process is one run of versitygw.
type process struct {
	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // cmd.Wait's result, set before done is closed
}

// Start builds nothing: it runs <repo>/bin/versitygw (or $VERSITYGW) with the
// posix backend over dir (created if missing) on a free loopback port, with
// root credentials generated for this server, and returns once an S3
// ListBuckets signed with them succeeds. ctx bounds the start-up only (30 s
// if it has no deadline); the server runs until Stop.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("s3server: empty directory")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("s3server: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("s3server: %w", err)
	}
	s := &Server{
		AccessKey: randomString(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
		SecretKey: randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		Region:    DefaultRegion,
		Dir:       dir,
		bin:       bin,
	}

	ctx, cancel := startContext(ctx)
	defer cancel()

	// The port is picked by binding :0 and closing it, so another process
	// may take it before versitygw binds it: try again on another port then.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("s3server: free port: %w", err)
		}
		s.setAddr(port)
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		var se *startError
		if errors.As(err, &se) && se.exited && attempt < 3 && strings.Contains(se.log, "address already in use") {
			continue
		}
		return nil, err
	}
}

// StartT starts a server on dir for a test, fails the test (t.Fatal) if it
// cannot, and stops the server at the end of the test (t.Cleanup).
func StartT(t testingT, dir string) *Server {
	t.Helper()
	s, err := Start(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("s3server: %v", err)
		}
	})
	return s
}

// testingT is the part of testing.TB that StartT uses.
type testingT interface {
	Helper()
	Fatal(args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// Restart starts the server again on the same port, directory, credentials
// and region, after stopping it if it is running, and returns once it
// answers. The data written before Stop is all there.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	ctx, cancel := startContext(ctx)
	defer cancel()
	return s.start(ctx)
}

// Stop ends the process (SIGTERM, then SIGKILL after StopGrace) and waits
// for it. It is a no-op on a stopped server. It returns an error if the
// process had to be killed, or if it had ended by itself before Stop (a crash:
// the error has the end of its output).
func (s *Server) Stop() error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}

	select {
	case <-p.done:
		return fmt.Errorf("s3server: versitygw on %s had exited before Stop (%v); its output:\n%s",
			s.addr, p.err, p.log.String())
	default:
	}

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(StopGrace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("s3server: versitygw on %s did not exit within %s of SIGTERM and was killed; its output:\n%s",
		s.addr, StopGrace, p.log.String())
}

// Running reports whether the process is running (it may have crashed).
func (s *Server) Running() bool {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Logs returns the end (64 KiB at most) of the output of the current or last
// run of versitygw.
func (s *Server) Logs() string {
	s.mu.Lock()
	log := s.log
	s.mu.Unlock()
	if log == nil {
		return ""
	}
	return log.String()
}

// Host is the host:port of Endpoint, as minio.New wants it.
func (s *Server) Host() string { return s.addr }

// Client returns a minio-go client for the server, signed with the root
// credentials. It does not retry (MaxRetries 1), so that a request to a
// stopped server fails at once rather than after ~10 retries.
func (s *Server) Client() (*minio.Client, error) {
	return minio.New(s.addr, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       false,
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
}

// Args returns the command line Start runs versitygw with, less the binary;
// the root credentials are passed in the environment (ROOT_ACCESS_KEY_ID,
// ROOT_SECRET_ACCESS_KEY), not on the command line.
func (s *Server) Args() []string {
	return []string{
		"--port", s.addr,
		"--region", s.Region,
		"--quiet",
		"posix", s.Dir,
	}
}

// Binary returns the versitygw binary that Start runs: $VERSITYGW if set,
// else bin/versitygw at the root of this repository, found by walking up
// from the working directory. The error names `make s3-assets`.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("s3server: $%s=%s: %w (unset it to use bin/versitygw, which `make s3-assets` builds)", EnvBinary, p, err)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("s3server: %w (run `make s3-assets` at the repository root to build bin/versitygw)", err)
	}
	return binaryIn(root)
}

// binaryIn returns root/bin/versitygw if it is an executable file.
func binaryIn(root string) (string, error) {
	p := filepath.Join(root, "bin", "versitygw")
	if err := checkExecutable(p); err != nil {
		return "", fmt.Errorf("s3server: no versitygw binary at %s: run `make s3-assets` in %s to build it (%v)", p, root, err)
	}
	return p, nil
}

func (s *Server) setAddr(port int) {
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.Endpoint = (&url.URL{Scheme: "http", Host: s.addr}).String()
}

// startError is a start-up that failed; exited is set if versitygw exited.
type startError struct {
	msg    string
	exited bool
	log    string
}

func (e *startError) Error() string { return e.msg }

// start runs the process on s.addr and waits until it answers.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return errors.New("s3server: already running")
	}
	s.mu.Unlock()

	log := &tailBuffer{limit: logLimit}
	cmd := exec.Command(s.bin, s.Args()...)
	cmd.Dir = s.Dir
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY_ID="+s.AccessKey,
		"ROOT_SECRET_ACCESS_KEY="+s.SecretKey,
	)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("s3server: start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.log = log
	s.mu.Unlock()

	err := s.waitReady(ctx, p)
	if err == nil {
		return nil
	}
	// Start-up failed: end the process, if it is still there.
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
	exited := true
	select {
	case <-p.done:
	default:
		exited = false
		_ = cmd.Process.Kill()
		<-p.done
	}
	out := log.String()
	hint := ""
	if strings.Contains(out, "xattr") {
		hint = fmt.Sprintf(" (the filesystem of %s has no user extended attributes, which the posix backend keeps object metadata in: use a directory on ext4, xfs or btrfs, e.g. set TMPDIR for t.TempDir)", s.Dir)
	}
	return &startError{
		msg: fmt.Sprintf("s3server: versitygw (%s %s) did not come up on %s: %v%s; its output:\n%s",
			s.bin, strings.Join(s.Args(), " "), s.Endpoint, err, hint, out),
		exited: exited,
		log:    out,
	}
}

// waitReady polls ListBuckets until it succeeds, the process exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	client, err := s.Client()
	if err != nil {
		return err
	}
	var lastErr error
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, lastErr = client.ListBuckets(reqCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("versitygw exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last ListBuckets error: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

func startContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultStartTimeout)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot walks up from the working directory to the go.mod of modulePath.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modFileModule(data) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s in %s or above", modulePath, wd)
		}
		dir = parent
	}
}

func modFileModule(data []byte) string {
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.limit; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
