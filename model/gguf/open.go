package gguf

import (
	"fmt"
	"os"
)

// Open memory-maps the file at path read-only and validates it like Parse.
// Close the File to release the mapping.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return Parse(nil, path) // mmap rejects empty files; Parse names the problem
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("gguf %s: file size %d too large to map", path, size)
	}
	data, release, err := mapFile(fh, int(size))
	if err != nil {
		return nil, fmt.Errorf("gguf %s: map: %w", path, err)
	}
	f, err := Parse(data, path)
	if err != nil {
		release()
		return nil, err
	}
	f.release = release
	return f, nil
}
