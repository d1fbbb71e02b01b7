package bench

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// PlotParallel draws aggregate tokens/s against N for the shared and the
// separate runs into a PNG file.
func PlotParallel(points []ParallelPoint, title, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "samples N"
	p.Y.Label.Text = "generated tokens/s (all samples)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	shared := make(plotter.XYs, len(points))
	separate := make(plotter.XYs, len(points))
	for i, pt := range points {
		shared[i] = plotter.XY{X: float64(pt.N), Y: pt.SharedTPS}
		separate[i] = plotter.XY{X: float64(pt.N), Y: pt.SeparateTPS}
	}
	if err := plotutil.AddLinePoints(p, "one request, N forked samples", shared, "N separate requests", separate); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

// PlotExperts draws each layer's share of routed tokens per expert as
// grouped bars (one group per layer, one colour per expert) into a PNG.
func PlotExperts(l ExpertLoad, title, path string) error {
	if len(l.Counts) == 0 {
		return fmt.Errorf("plot experts: no counts")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "layer"
	p.Y.Label.Text = "share of routed tokens (%)"
	experts := len(l.Counts[0])
	w := vg.Points(float64(60 / experts))
	names := make([]string, len(l.Counts))
	for il := range l.Counts {
		names[il] = fmt.Sprint(il)
	}
	for ex := 0; ex < experts; ex++ {
		vals := make(plotter.Values, len(l.Counts))
		for il := range l.Counts {
			vals[il] = 100 * l.Share(il, ex)
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("plot experts: %w", err)
		}
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(ex)
		b.Offset = w * vg.Length(2*ex-experts+1) / 2
		p.Add(b)
		p.Legend.Add(fmt.Sprintf("expert %d", ex), b)
	}
	even := plotter.NewFunction(func(float64) float64 { return 100 / float64(experts) })
	even.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(even)
	p.Legend.Add("even load", even)
	p.Legend.Top = true
	p.Y.Min = 0
	p.Y.Max *= 1.35 // room for the legend above the bars
	p.NominalX(names...)
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}
