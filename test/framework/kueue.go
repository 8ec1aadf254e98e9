package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// kueueMetricsCertDir is where Kueue v0.17 reads its metrics server's
// certificate when it does not manage certificates itself: a fixed path in
// its main.go, not a setting.
const kueueMetricsCertDir = "/etc/kueue/metrics/certs"

// kueueConfig is the Kueue Configuration the suite runs it with: the batch/v1
// Job integration only, Jobs without a queue name left alone, no leader
// election and no certificate management of its own (there is no Service
// for a webhook here: the operator creates its Jobs suspended, as Kueue's
// webhook would). Ports are on loopback, away from the operator's.
const kueueConfig = `apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
manageJobsWithoutQueueName: false
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
health:
  healthProbeBindAddress: 127.0.0.1:18481
metrics:
  bindAddress: 127.0.0.1:18443
webhook:
  port: 18543
  host: 127.0.0.1
  certDir: %s
integrations:
  frameworks:
  - batch/job
`

// StartKueue starts bin/kueue (make kueue) against kubeconfig, with its
// configuration and a self-signed certificate for its webhook and metrics
// servers written under dir, its output appended to dir/kueue.log. The
// metrics certificate goes to /etc/kueue/metrics/certs, the one place Kueue
// reads it from, unless one is there already.
func StartKueue(kubeconfig, dir string) (*Manager, error) {
	certDir := filepath.Join(dir, "certs")
	if err := writeSelfSignedCert(certDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(kueueMetricsCertDir, "tls.crt")); os.IsNotExist(err) {
		if err := writeSelfSignedCert(kueueMetricsCertDir); err != nil {
			return nil, fmt.Errorf("kueue reads its metrics certificate from %s: %w", kueueMetricsCertDir, err)
		}
	}
	config := filepath.Join(dir, "kueue-config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, kueueConfig, certDir), 0o600); err != nil {
		return nil, err
	}
	return StartProcess("kueue", "make kueue", kubeconfig, filepath.Join(dir, "kueue.log"),
		"--config="+config, "--visibility-server-port=18482",
		// The visibility API server needs certificates and an APIService.
		"--feature-gates=VisibilityOnDemand=false")
}

// WriteSelfSignedCert writes tls.crt and tls.key, for 127.0.0.1 and
// localhost, into dir, and the same certificate as ca.crt: the authority
// a client checks it against.
func WriteSelfSignedCert(dir string) error {
	if err := writeSelfSignedCert(dir); err != nil {
		return err
	}
	crt, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ca.crt"), crt, 0o600)
}

// writeSelfSignedCert writes tls.crt and tls.key, for 127.0.0.1 and
// localhost, into dir.
func writeSelfSignedCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "crucible-e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}
