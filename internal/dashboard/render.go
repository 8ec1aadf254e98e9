package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// pageNames are the templates/<name>.html files, each rendered inside
// templates/layout.html.
var pageNames = []string{"experiments", "experiment", "trial", "compare", "error"}

func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing the %s page: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// layout is what every page's frame shows.
type layout struct {
	Title string
	Page  string
	// Scripts says whether the page loads dashboard.js.
	Scripts bool
	// Charts says whether the chart library is embedded.
	Charts bool
	Body   any
}

// scripted is a page's body that says whether the page loads dashboard.js
// (and the chart library); a page whose body is not loads neither.
type scripted interface {
	scripts() bool
}

// render writes page's template with body, buffered so that a template
// error becomes a 500 and not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, title string, body any) {
	var buf bytes.Buffer
	data := layout{Title: title, Page: page, Body: body, Charts: s.charts}
	if sc, ok := body.(scripted); ok {
		data.Scripts = sc.scripts()
	}
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error(err, "rendering a page", "page", page, "path", r.URL.Path)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = buf.WriteTo(w)
	}
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": s.asset,
		"age":   s.age,
		"time":  formatTime,
		"bytes": formatBytes,
		"percent": func(done, total int32) int32 {
			if total <= 0 {
				return 0
			}
			return min(100, done*100/total)
		},
		"add": func(a, b int) int { return a + b },
	}
}

// age is how long ago t was, as kubectl prints it: "5m", "3d".
func (s *Server) age(t metav1.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.HumanDuration(s.clock.Since(t.Time))
}

func formatTime(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// link is a URL path with a query; a template puts it in an href whole.
func link(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// with returns a copy of q with key set to value, or removed when value is
// empty.
func with(q url.Values, key, value string) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	if value == "" {
		c.Del(key)
	} else {
		c.Set(key, value)
	}
	return c
}

// pathOf builds /namespaces/<ns>/<kind>/<name>, each segment escaped.
func pathOf(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
