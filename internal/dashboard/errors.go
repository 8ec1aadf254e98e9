package dashboard

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// permission is one RBAC permission a page needs: what it asked the API
// server for, so a refusal can name it.
type permission struct {
	Verb        string
	Group       string
	Resource    string
	Subresource string
	// Namespace is empty for all namespaces.
	Namespace string
}

func crucibleRead(verb, resource, ns string) permission {
	return permission{Verb: verb, Group: crucible.GroupVersion.Group, Resource: resource, Namespace: ns}
}

func coreRead(verb, resource, ns string) permission {
	return permission{Verb: verb, Resource: resource, Namespace: ns}
}

// resource is the resource as kubectl names it: "experiments.crucible.dev",
// "pods/log".
func (p permission) resource() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	return r
}

// String says it in words: "list experiments.crucible.dev in namespace ml".
func (p permission) String() string {
	where := "in all namespaces"
	if p.Namespace != "" {
		where = "in namespace " + p.Namespace
	}
	return p.Verb + " " + p.resource() + " " + where
}

// CanI is the kubectl command that checks it.
func (p permission) CanI() string {
	args := []string{"kubectl auth can-i", p.Verb, p.Resource}
	if p.Group != "" {
		args[2] += "." + p.Group
	}
	if p.Subresource != "" {
		args = append(args, "--subresource="+p.Subresource)
	}
	if p.Namespace != "" {
		args = append(args, "-n", p.Namespace)
	} else {
		args = append(args, "--all-namespaces")
	}
	return strings.Join(args, " ")
}

// errorData is what the error page shows.
type errorData struct {
	Status  int
	Heading string
	Message string
	// Permission is the missing permission, on a 403 from the API server.
	Permission string
	CanI       string
	// Detail is the API server's own words.
	Detail string
}

// apiError renders the page for an error of the API server: 403 naming
// the missing permission, 404 naming what is not there, 502 otherwise.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error, need permission, what string) {
	switch {
	case apierrors.IsForbidden(err):
		s.render(w, r, http.StatusForbidden, "error", "Forbidden", errorData{
			Status:     http.StatusForbidden,
			Heading:    "Not allowed",
			Message:    "Your credentials may not " + need.String() + ", which this page needs.",
			Permission: need.String(),
			CanI:       need.CanI(),
			Detail:     err.Error(),
		})
	case apierrors.IsNotFound(err):
		s.errorPage(w, r, http.StatusNotFound, "Not found", what+" does not exist (or no longer does).", err.Error())
	case apierrors.IsUnauthorized(err):
		s.errorPage(w, r, http.StatusUnauthorized, "Not logged in",
			"The API server refused the credentials: log in again (refresh your kubeconfig's token).", err.Error())
	default:
		s.log.Error(err, "reading from the API server", "need", need.String(), "path", r.URL.Path)
		s.errorPage(w, r, http.StatusBadGateway, "The API server failed",
			"Reading "+what+" failed; reload to try again.", err.Error())
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message, detail string) {
	s.render(w, r, status, "error", heading, errorData{Status: status, Heading: heading, Message: message, Detail: detail})
}

// notice is a section of a page that could not be read, with the reason:
// a secondary read (events, logs, the Experiment of a trial) failing does
// not fail the page.
type notice struct {
	Message    string
	Permission string
	CanI       string
}

func noticeOf(err error, need permission, what string) *notice {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		return &notice{Message: "Not allowed to read " + what + ".", Permission: need.String(), CanI: need.CanI()}
	case apierrors.IsNotFound(err):
		return &notice{Message: what + " does not exist (or no longer does)."}
	default:
		return &notice{Message: "Reading " + what + " failed: " + err.Error()}
	}
}
