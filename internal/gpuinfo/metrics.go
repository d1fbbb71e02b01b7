package gpuinfo

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descMemUsed  = prometheus.NewDesc("engine_gpu_memory_used_bytes", "GPU memory in use (NVML), by device.", []string{"gpu", "name"}, nil)
	descMemTotal = prometheus.NewDesc("engine_gpu_memory_total_bytes", "GPU memory (NVML), by device.", []string{"gpu", "name"}, nil)
	descUtil     = prometheus.NewDesc("engine_gpu_utilization_ratio", "Fraction of NVML's last sample period with a kernel running, by device.", []string{"gpu", "name"}, nil)
	descTemp     = prometheus.NewDesc("engine_gpu_temperature_celsius", "GPU temperature (NVML), by device.", []string{"gpu", "name"}, nil)
)

// Collector gives the GPU gauges at each scrape while on() is true (the
// server serves on a CUDA device), and nothing otherwise or when NVML
// fails: a scrape never fails for the GPU's sake.
func Collector(on func() bool) prometheus.Collector { return collector{on} }

type collector struct{ on func() bool }

// Describe sends nothing: the collector is unchecked, as its metrics come
// and go with the device.
func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	if !c.on() {
		return
	}
	s, err := Query()
	if err != nil {
		return
	}
	for _, d := range s.Devices {
		l := []string{strconv.Itoa(d.Index), d.Name}
		g := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, l...)
		}
		g(descMemUsed, float64(d.MemUsed))
		g(descMemTotal, float64(d.MemTotal))
		g(descUtil, float64(d.Util)/100)
		g(descTemp, float64(d.Temp))
	}
}
