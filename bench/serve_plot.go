package bench

import (
	"fmt"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// PlotServe writes two PNGs: prefix-latency.png, the cumulative
// distributions of TTFT, inter-token and end-to-end latency, and
// prefix-timeline.png, each request's TTFT and end-to-end latency against
// its start time.
func PlotServe(samples []ServeSample, title, prefix string) error {
	var ttft, itl, e2e []float64
	var tl, te plotter.XYs
	for _, s := range samples {
		if s.Err != "" {
			continue
		}
		ttft = append(ttft, 1000*s.TTFT)
		e2e = append(e2e, 1000*s.E2E)
		for _, x := range s.ITL {
			itl = append(itl, 1000*x)
		}
		tl = append(tl, plotter.XY{X: s.Start, Y: 1000 * s.TTFT})
		te = append(te, plotter.XY{X: s.Start, Y: 1000 * s.E2E})
	}
	if len(ttft) == 0 {
		return fmt.Errorf("plot: no successful requests")
	}

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "fraction of requests / tokens"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	if err := plotutil.AddLines(p, "time to first token", cdf(ttft), "inter-token", cdf(itl), "end to end", cdf(e2e)); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	p.Legend.Top, p.Legend.Left = true, true
	if err := p.Save(6*vg.Inch, 4*vg.Inch, prefix+"-latency.png"); err != nil {
		return err
	}

	q := plot.New()
	q.Title.Text = title
	q.X.Label.Text = "request start (s)"
	q.Y.Label.Text = "latency (ms)"
	if err := plotutil.AddScatters(q, "time to first token", tl, "end to end", te); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	q.Legend.Top, q.Legend.Left = true, true
	return q.Save(6*vg.Inch, 4*vg.Inch, prefix+"-timeline.png")
}

// cdf is the empirical distribution of v (positive values, for a log axis).
func cdf(v []float64) plotter.XYs {
	v = slices.Clone(v)
	slices.Sort(v)
	out := make(plotter.XYs, 0, len(v))
	for i, x := range v {
		out = append(out, plotter.XY{X: max(x, 1e-3), Y: float64(i+1) / float64(len(v))})
	}
	return out
}
