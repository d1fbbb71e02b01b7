package bench

import (
	"fmt"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotTTS draws accuracy against N (left) and against generated tokens per
// task (right), one line per strategy, into a PNG; a dashed line is the
// samples' pass@N, the ceiling of a perfect verifier.
func PlotTTS(points []TTSPoint, title, path string) error {
	if len(points) == 0 {
		return fmt.Errorf("plot tts: no points")
	}
	left, right := plot.New(), plot.New()
	left.Title.Text = title
	left.X.Label.Text = "samples / beams / tree budget N"
	right.X.Label.Text = "generated tokens per task"
	for _, p := range []*plot.Plot{left, right} {
		p.Y.Label.Text = "accuracy (%)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = 0, 100
		p.Legend.Top, p.Legend.Left = true, true
	}
	var names []string
	for _, p := range points {
		if !slices.Contains(names, p.Strategy) {
			names = append(names, p.Strategy)
		}
	}
	for i, name := range names {
		var byN, byTok plotter.XYs
		for _, p := range points {
			if p.Strategy == name && p.Tasks > 0 {
				byN = append(byN, plotter.XY{X: float64(p.N), Y: 100 * p.Accuracy})
				byTok = append(byTok, plotter.XY{X: max(1, float64(p.Tokens)/float64(p.Tasks)), Y: 100 * p.Accuracy})
			}
		}
		for j, xy := range []plotter.XYs{byN, byTok} {
			l, s, err := plotter.NewLinePoints(xy)
			if err != nil {
				return fmt.Errorf("plot tts: %w", err)
			}
			l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
			s.Shape = plotutil.Shape(i)
			p := []*plot.Plot{left, right}[j]
			p.Add(l, s)
			if j == 0 {
				p.Legend.Add(name, l, s)
			}
		}
	}
	// pass@N of the shared samples (every sampling strategy has the same).
	var pass plotter.XYs
	for _, p := range points {
		if slices.Contains(sampled, p.Strategy) && p.Strategy == points[0].Strategy {
			pass = append(pass, plotter.XY{X: float64(p.N), Y: 100 * p.Coverage})
		}
	}
	if len(pass) > 0 {
		l, err := plotter.NewLine(pass)
		if err != nil {
			return fmt.Errorf("plot tts: %w", err)
		}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		left.Add(l)
		left.Legend.Add("pass@N (samples)", l)
	}
	const w, h = 11 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{left, right}}, tiles, dc)
	left.Draw(canvases[0][0])
	right.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot tts: %w", err)
	}
	return f.Close()
}
