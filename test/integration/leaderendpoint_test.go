package integration

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crucible-dev/crucible/internal/leaderendpoint"
)

var _ = Describe("The leader's endpoint", func() {
	It("points a Service without a selector at the leader, and at the next leader, and mends a deleted slice", func() {
		ctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		ns := newNamespace(ctx)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "crucible-step-metrics", Namespace: ns},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 9443, Protocol: corev1.ProtocolTCP}}},
		}
		Expect(k8sClient.Create(ctx, svc)).To(Succeed())
		key := types.NamespacedName{Namespace: ns, Name: leaderendpoint.SliceName(svc.Name)}
		publisher := func(ip, pod string) *leaderendpoint.Publisher {
			return &leaderendpoint.Publisher{Client: k8sClient, Service: client.ObjectKeyFromObject(svc), PortName: "https",
				Port: 9443, Address: ip, PodName: pod, Interval: 200 * time.Millisecond, Log: logr.Discard()}
		}
		service := svc.Name
		expectSlice := func(ip, pod string, addressType discoveryv1.AddressType) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				slice := &discoveryv1.EndpointSlice{}
				g.Expect(k8sClient.Get(ctx, key, slice)).To(Succeed())
				g.Expect(slice.Labels).To(HaveKeyWithValue(discoveryv1.LabelServiceName, service))
				g.Expect(slice.Labels).To(HaveKeyWithValue(discoveryv1.LabelManagedBy, leaderendpoint.ManagedBy))
				g.Expect(slice.AddressType).To(Equal(addressType))
				g.Expect(slice.Endpoints).To(HaveLen(1))
				ep := slice.Endpoints[0]
				g.Expect(ep.Addresses).To(Equal([]string{ip}))
				g.Expect(ep.Conditions.Ready).To(Equal(ptr.To(true)))
				g.Expect(ep.TargetRef).NotTo(BeNil())
				g.Expect(ep.TargetRef.Name).To(Equal(pod))
				g.Expect(slice.Ports).To(Equal([]discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](9443),
					Protocol: ptr.To(corev1.ProtocolTCP)}}))
			}, Timeout, Interval).Should(Succeed())
		}

		By("writing the slice when it leads")
		Expect(publisher("10.0.0.7", "crucible-manager-a").Publish(ctx)).To(Succeed())
		expectSlice("10.0.0.7", "crucible-manager-a", discoveryv1.AddressTypeIPv4)

		By("the next leader writing its own address over it")
		next, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- publisher("10.0.0.9", "crucible-manager-b").Start(next) }()
		expectSlice("10.0.0.9", "crucible-manager-b", discoveryv1.AddressTypeIPv4)

		By("writing it again within an interval when something deleted it")
		Expect(k8sClient.Delete(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: ns}})).To(Succeed())
		expectSlice("10.0.0.9", "crucible-manager-b", discoveryv1.AddressTypeIPv4)
		stop()
		Eventually(done).Should(Receive(BeNil()))

		By("an IPv6 Pod gets an IPv6 slice")
		svc6 := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "v6", Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 9443, Protocol: corev1.ProtocolTCP}}}}
		Expect(k8sClient.Create(ctx, svc6)).To(Succeed())
		p := publisher("fd00::7", "crucible-manager-c")
		p.Service.Name = svc6.Name
		Expect(p.Publish(ctx)).To(Succeed())
		key.Name, service = leaderendpoint.SliceName(svc6.Name), svc6.Name
		expectSlice("fd00::7", "crucible-manager-c", discoveryv1.AddressTypeIPv6)
	})
})
