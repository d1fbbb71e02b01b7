package gpuinfo

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestPrint(t *testing.T) {
	var b bytes.Buffer
	Print(&b, System{Driver: "580.65.06", CUDA: cudaVersion(13000), Devices: []Device{
		{Index: 0, Name: "NVIDIA H200", MemTotal: 141 << 30, MemUsed: 1 << 29, Util: 37, MemUtil: 5, Temp: 41},
	}})
	out := b.String()
	require.Contains(t, out, "NVIDIA driver 580.65.06, CUDA 13.0, 1 device(s)")
	require.Contains(t, out, "NVIDIA H200")
	require.Contains(t, out, "0.5 GiB / 141.0 GiB")
	require.Contains(t, out, "37%")
	require.Contains(t, out, "41 °C")
}

func TestCUDAVersion(t *testing.T) {
	for v, want := range map[int]string{13000: "13.0", 12090: "12.9", 11080: "11.8"} {
		require.Equal(t, want, cudaVersion(v))
	}
}

// Off, or without a driver (every machine that runs the tests), the
// collector gives nothing and the scrape still succeeds.
func TestCollectorQuiet(t *testing.T) {
	for _, on := range []bool{false, true} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(Collector(func() bool { return on }))
		mfs, err := reg.Gather()
		require.NoError(t, err)
		if _, qerr := Query(); !on || qerr != nil {
			require.Empty(t, mfs)
		}
	}
}

func TestQueryWithoutDriver(t *testing.T) {
	_, err := Query()
	if err == nil {
		t.Skip("an NVIDIA driver is present")
	}
	require.Contains(t, []error{ErrNoDriver, ErrNotBuilt}, err)
}
