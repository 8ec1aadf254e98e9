// Package leaderendpoint points a Service at the manager replica that leads.
//
// The step metrics endpoint is served by the leader alone: its Recorder
// holds each running trial's curve, and the Trial reconciler, which runs
// on the leader, seals it. A Service that selects every replica would send
// a trainer's report to a standby, which does not listen. So the Service
// has no selector, and the leader writes its one EndpointSlice, naming its
// own Pod's address, when it becomes leader and every minute after. A
// replica that loses the lease exits (controller-runtime's default), and
// the next leader writes its own address over the slice.
//
// Kubernetes has no built-in way to route a Service to the holder of a
// Lease; this is the smallest one that needs no write to a Pod (a label on
// the leader's Pod would, and would outlive a restart of its container).
package leaderendpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	discoveryv1ac "k8s.io/client-go/applyconfigurations/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagedBy is the EndpointSlice's endpointslice.kubernetes.io/managed-by
// label: the EndpointSlice controller leaves slices of another manager
// alone.
const ManagedBy = "manager.crucible.dev"

// DefaultInterval is how often the leader writes the slice again, to mend
// it if something else changed or deleted it.
const DefaultInterval = time.Minute

// Publisher writes the EndpointSlice of Service that names Address:Port,
// while this manager leads: a manager.Runnable that needs leader election.
type Publisher struct {
	Client client.Client
	// Service is the Service, without a selector, the slice belongs to.
	Service types.NamespacedName
	// PortName is the Service port's name; Port is the port this process
	// listens on.
	PortName string
	Port     int32
	// Address is this Pod's IP; PodName, when set, is named as the
	// endpoint's target.
	Address string
	PodName string
	// Interval is how often the slice is written again; DefaultInterval
	// when zero.
	Interval time.Duration
	Log      logr.Logger
}

// SliceName is the name of the EndpointSlice of service.
func SliceName(service string) string { return service + "-leader" }

// Validate says what is wrong with p, if anything.
func (p *Publisher) Validate() error {
	switch {
	case p.Service.Name == "" || p.Service.Namespace == "":
		return errors.New("the Service needs a namespace and a name")
	case net.ParseIP(p.Address) == nil:
		return fmt.Errorf("%q is not an IP address", p.Address)
	case net.ParseIP(p.Address).IsLoopback() || net.ParseIP(p.Address).IsUnspecified() || net.ParseIP(p.Address).IsLinkLocalUnicast():
		return fmt.Errorf("%s is a loopback, unspecified or link-local address, which an EndpointSlice refuses: want the Pod's IP", p.Address)
	case p.Port <= 0 || p.Port > 65535:
		return fmt.Errorf("port %d is not from 1 to 65535", p.Port)
	}
	return nil
}

// Start writes the slice now and every Interval until ctx ends. A write
// that fails is logged and tried again at the next tick, sooner after the
// first: a manager that cannot route trainers to itself should say so, not
// stop.
func (p *Publisher) Start(ctx context.Context) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("publishing the leader's endpoint: %w", err)
	}
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	retry := time.Second
	for {
		wait := interval
		if err := p.Publish(ctx); err != nil {
			p.Log.Error(err, "pointing the Service at this replica; will retry", "service", p.Service)
			wait, retry = retry, min(2*retry, interval)
		} else {
			retry = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Publish writes the slice once, by server-side apply.
func (p *Publisher) Publish(ctx context.Context) error {
	addressType := discoveryv1.AddressTypeIPv4
	if ip := net.ParseIP(p.Address); ip != nil && ip.To4() == nil {
		addressType = discoveryv1.AddressTypeIPv6
	}
	ep := discoveryv1ac.Endpoint().WithAddresses(p.Address).
		WithConditions(discoveryv1ac.EndpointConditions().WithReady(true).WithServing(true).WithTerminating(false))
	if p.PodName != "" {
		ep.WithTargetRef(corev1ac.ObjectReference().WithKind("Pod").WithNamespace(p.Service.Namespace).WithName(p.PodName))
	}
	slice := discoveryv1ac.EndpointSlice(SliceName(p.Service.Name), p.Service.Namespace).
		WithLabels(map[string]string{discoveryv1.LabelServiceName: p.Service.Name, discoveryv1.LabelManagedBy: ManagedBy}).
		WithAddressType(addressType).
		WithEndpoints(ep).
		WithPorts(discoveryv1ac.EndpointPort().WithName(p.PortName).WithPort(p.Port).WithProtocol(corev1.ProtocolTCP))
	if err := p.Client.Apply(ctx, slice, client.FieldOwner("crucible-manager"), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing EndpointSlice %s/%s: %w", p.Service.Namespace, SliceName(p.Service.Name), err)
	}
	return nil
}
