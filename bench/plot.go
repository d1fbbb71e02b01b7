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
