package registry

import (
	"strings"
	"testing"
)

func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`<a href="/files/x-1.0-py3-none-any.whl#sha256=ab" data-requires-python="&gt;=3.9">x-1.0-py3-none-any.whl</a><br/>`), "text/html")
	f.Add([]byte(`<A HREF='../x.whl'>x.whl</A><a href="y">`), "text/html; charset=utf-8")
	f.Add([]byte(`{"files":[{"filename":"x.whl","url":"https://h/x.whl","hashes":{"sha256":"00"}}]}`), "application/vnd.pypi.simple.v1+json")
	f.Add([]byte(`{"files":7}`), "application/json")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		links, err := parsePage(body, ct)
		if err != nil {
			if links != nil {
				t.Fatal("links with an error")
			}
			return
		}
		for _, l := range links {
			if !strings.HasSuffix(ct, "json") && strings.Contains(l.href, "#") {
				t.Fatalf("fragment left in the href %q", l.href)
			}
		}
	})
}

func TestParsePage(t *testing.T) {
	links, err := parsePage([]byte(`<a href="/f/a.whl#sha256=01">a.whl</a>
<a data-x="1" href='b.whl'> b.whl </a><a name="x">no href</a>`), "text/html")
	if err != nil || len(links) != 2 || links[0] != (pageLink{"a.whl", "/f/a.whl", "01"}) || links[1] != (pageLink{"b.whl", "b.whl", ""}) {
		t.Fatalf("%+v %v", links, err)
	}
	if _, err := parsePage([]byte(`{`), "application/vnd.pypi.simple.v1+json"); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func FuzzParseINI(f *testing.F) {
	f.Add("[global]\nindex-url = https://x/simple\n; c\n# c\nfind_links: /a /b\n[download]\nindex_url=y\n")
	f.Add("[\n=\n:\n[]]\n")
	f.Fuzz(func(t *testing.T, text string) {
		for k, v := range parseINI(strings.NewReader(text)) {
			if !strings.Contains(k, ".") || strings.TrimSpace(v) != v {
				t.Fatalf("%q = %q", k, v)
			}
		}
	})
}
