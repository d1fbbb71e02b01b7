package registry

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// PyPI is the index pip uses when nothing else is configured.
const PyPI = "https://pypi.org/simple"

// NPMRegistry is npm's default registry.
const NPMRegistry = "https://registry.npmjs.org"

// PipConfig is what pip would use: the index URL and local find-links
// directories, from $PIP_INDEX_URL / $PIP_FIND_LINKS, else the pip
// configuration files ([global], then [download]) in pip's order, else
// PyPI.
func PipConfig() (index string, findLinks []string) {
	home, _ := os.UserHomeDir()
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	files := []string{"/etc/xdg/pip/pip.conf", "/etc/pip.conf"}
	if home != "" {
		files = append(files, filepath.Join(home, ".pip", "pip.conf"))
	}
	if xdg != "" {
		files = append(files, filepath.Join(xdg, "pip", "pip.conf"))
	}
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		files = append(files, filepath.Join(v, "pip.conf"))
	}
	if f := os.Getenv("PIP_CONFIG_FILE"); f != "" {
		files = append(files, f)
	}
	index = PyPI
	var links string
	for _, f := range files {
		conf := readINI(f)
		for _, sec := range []string{"global", "download"} {
			if v := conf[sec+".index-url"]; v != "" {
				index = v
			}
			if v, ok := conf[sec+".find-links"]; ok {
				links = v
			}
		}
	}
	if v := os.Getenv("PIP_INDEX_URL"); v != "" {
		index = v
	}
	if v, ok := os.LookupEnv("PIP_FIND_LINKS"); ok {
		links = v
	}
	for _, l := range strings.Fields(links) {
		if p, ok := strings.CutPrefix(l, "file://"); ok {
			l = p
		}
		if !strings.Contains(l, "://") {
			findLinks = append(findLinks, l)
		}
	}
	return index, findLinks
}

// readINI reads the "section.key" values of an INI file (pip's
// configparser format, without continuation lines); a missing file is empty.
func readINI(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return map[string]string{}
	}
	defer f.Close()
	return parseINI(f)
}

func parseINI(r io.Reader) map[string]string {
	out := map[string]string{}
	sec := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			sec = strings.TrimSpace(line[1 : len(line)-1])
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				k, v, ok = strings.Cut(line, ":")
			}
			if ok {
				// pip takes index_url and index-url alike.
				k = strings.ReplaceAll(strings.TrimSpace(k), "_", "-")
				out[sec+"."+k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// normalize is PEP 503's project name normalisation.
func normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

var separators = regexp.MustCompile(`[-_.]+`)

// link is a file the index lists.
type link struct {
	url    string
	sha256 string // "" when the index does not say
}

// simpleJSON is PEP 691's JSON project page.
type simpleJSON struct {
	Files []struct {
		Filename string            `json:"filename"`
		URL      string            `json:"url"`
		Hashes   map[string]string `json:"hashes"`
	} `json:"files"`
}

// pageLink is one file of a project page: its name, href and sha256
// (from the JSON hashes or the HTML link's #sha256= fragment; "" if none).
type pageLink struct{ name, href, sum string }

// parsePage reads a simple-API project page: PEP 691 JSON when the
// content type says JSON, else PEP 503 HTML anchors.
func parsePage(body []byte, contentType string) ([]pageLink, error) {
	ct, _, _ := mime.ParseMediaType(contentType)
	var links []pageLink
	if strings.HasSuffix(ct, "json") {
		var p simpleJSON
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("bad JSON: %w", err)
		}
		for _, fl := range p.Files {
			links = append(links, pageLink{fl.Filename, fl.URL, fl.Hashes["sha256"]})
		}
		return links, nil
	}
	for _, m := range anchor.FindAllSubmatch(body, -1) {
		href := html.UnescapeString(string(m[1]))
		sum := ""
		if h, frag, ok := strings.Cut(href, "#"); ok {
			href = h
			sum, _ = strings.CutPrefix(frag, "sha256=")
		}
		links = append(links, pageLink{strings.TrimSpace(html.UnescapeString(string(m[2]))), href, sum})
	}
	return links, nil
}

var anchor = regexp.MustCompile(`(?is)<a\s[^>]*?href\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>`)

// findWheel asks the index's simple API (PEP 691 JSON, or PEP 503 HTML)
// for the project's page and returns the link of file.
func (f *Fetcher) findWheel(ctx context.Context, project, file string) (link, error) {
	page := strings.TrimSuffix(f.Index, "/") + "/" + normalize(project) + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return link{}, fmt.Errorf("registry: bad package index URL %q: %w", f.Index, err)
	}
	req.Header.Set("Accept", "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
	res, err := f.client().Do(req)
	if err != nil {
		return link{}, fmt.Errorf("registry: cannot reach the package index %s (set PIP_INDEX_URL for a mirror): %w", f.Index, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return link{}, fmt.Errorf("registry: %s: %s", page, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return link{}, fmt.Errorf("registry: %s: %w", page, err)
	}
	base := res.Request.URL // after redirects
	links, err := parsePage(body, res.Header.Get("Content-Type"))
	if err != nil {
		return link{}, fmt.Errorf("registry: %s: %w", page, err)
	}
	for _, l := range links {
		if l.name != file {
			continue
		}
		u, err := base.Parse(l.href)
		if err != nil {
			return link{}, fmt.Errorf("registry: %s: bad link %q: %w", page, l.href, err)
		}
		return link{url: u.String(), sha256: l.sum}, nil
	}
	return link{}, fmt.Errorf("registry: the package index %s has no %s", page, file)
}

// tarballURL is where npm keeps a package's tarball.
func (f *Fetcher) tarballURL(t *Tarball) string {
	base := t.Package[strings.LastIndex(t.Package, "/")+1:]
	return strings.TrimSuffix(f.NPM, "/") + "/" + t.Package + "/-/" + url.PathEscape(base) + "-" + t.Version + ".tgz"
}
