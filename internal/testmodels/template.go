package testmodels

import (
	"github.com/tscale/engine/model/gguf"
)

// WithChatTemplate writes to dst a copy of the model file src whose
// tokenizer.chat_template is tmpl.
func WithChatTemplate(src, dst, tmpl string) error {
	f, err := gguf.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	if err := w.Set("tokenizer.chat_template", tmpl); err != nil {
		return err
	}
	for _, ti := range f.Tensors {
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, f.Data(&ti)); err != nil {
			return err
		}
	}
	return w.WriteFile(dst)
}
