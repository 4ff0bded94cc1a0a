package containers

import (
	"fmt"
	"strconv"

	"github.com/containerd/errdefs"
)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
	// DefaultCPU and DefaultMemory are used when the container asks for neither.
	DefaultCPU    = "1"
	DefaultMemory = 512 * mi
	// MaxMemory and MaxCPU are the largest a container may ask for (Cloud Run's limits).
	MaxMemory = 32 * gi
	MaxCPU    = 8
	// MinMemory is Cloud Run's minimum for jobs (reference/cloud-run-behaviour.md §3.5.1). Docker users ask for less
	// (`-m 64m` is common in scripts and tests); refusing would break them, so less is raised to it.
	MinMemory = 512 * mi
)

// Labels that show what Cloud Run grants a container, in Cloud Run's terms ("0.5", "2"; "512Mi"). HostConfig keeps
// what the user asked, as Docker's inspect shows it; these say what the job actually gets.
const (
	LabelGrantedCPU    = "runsock.granted.cpu"
	LabelGrantedMemory = "runsock.granted.memory"
)

// cpuStep is one whole-CPU value Cloud Run accepts with its memory bounds.
type cpuStep struct {
	milli          int64
	minMem, maxMem int64
}

var wholeCPUs = []cpuStep{
	{1000, MinMemory, 4 * gi},
	{2000, MinMemory, 8 * gi},
	{4000, 2 * gi, 16 * gi},
	{6000, 4 * gi, 24 * gi},
	{8000, 4 * gi, 32 * gi},
}

// Resources maps Docker's NanoCPUs and Memory (0 = unset) onto a pair Cloud Run accepts: CPU is rounded up to the
// next allowed value (0.08–<1 in hundredths, or 1, 2, 4, 6, 8), memory up to whole MiB and to the CPU's minimum (at
// least MinMemory; a limit may grow); when only memory is given, the smallest CPU that allows it is chosen. Pairs
// that cannot exist are an errdefs.ErrInvalidArgument with a message saying what is possible.
func Resources(nanoCPUs, memory int64) (cpu string, mem int64, err error) {
	cpu, mem, err = resources(nanoCPUs, memory)
	return cpu, (mem + mi - 1) / mi * mi, err
}

func resources(nanoCPUs, memory int64) (cpu string, mem int64, err error) {
	if nanoCPUs < 0 || memory < 0 {
		return "", 0, fmt.Errorf("%w: negative CPU or memory", errdefs.ErrInvalidArgument)
	}
	if memory > MaxMemory {
		return "", 0, fmt.Errorf("%w: memory %s is more than Cloud Run's maximum of 32GiB", errdefs.ErrInvalidArgument, human(memory))
	}
	if nanoCPUs > MaxCPU*1e9 {
		return "", 0, fmt.Errorf("%w: %s CPUs is more than Cloud Run's maximum of 8", errdefs.ErrInvalidArgument, milliString(nanoCPUs/1e6))
	}
	if memory == 0 && nanoCPUs == 0 {
		return DefaultCPU, DefaultMemory, nil
	}
	if nanoCPUs == 0 {
		return cpuForMemory(memory)
	}
	milli := (nanoCPUs + 999_999) / 1_000_000 // round up to thousandths
	if milli < 1000 {
		return fractional(milli, memory)
	}
	for _, s := range wholeCPUs {
		if s.milli < milli {
			continue
		}
		if memory == 0 {
			return milliString(s.milli), max(DefaultMemory, s.minMem), nil
		}
		if memory > s.maxMem {
			return "", 0, fmt.Errorf("%w: Cloud Run allows at most %s of memory with %s CPUs (asked %s); ask for more CPUs or less memory",
				errdefs.ErrInvalidArgument, human(s.maxMem), milliString(s.milli), human(memory))
		}
		return milliString(s.milli), max(memory, s.minMem), nil
	}
	return "", 0, fmt.Errorf("%w: Cloud Run allows 0.08-1, 2, 4, 6 or 8 CPUs", errdefs.ErrInvalidArgument)
}

func fractional(milli, memory int64) (string, int64, error) {
	milli = max(80, (milli+9)/10*10) // hundredths, at least 0.08
	if memory == 0 {
		memory = DefaultMemory
	}
	memory = max(memory, MinMemory)
	switch {
	case memory > gi:
		return "", 0, fmt.Errorf("%w: Cloud Run needs 1 CPU or more for more than 1GiB of memory (asked %s CPUs, %s)",
			errdefs.ErrInvalidArgument, milliString(milli), human(memory))
	case memory > 512*mi && milli < 500:
		return "", 0, fmt.Errorf("%w: Cloud Run needs at least 0.5 CPU for more than 512MiB of memory (asked %s CPUs, %s)",
			errdefs.ErrInvalidArgument, milliString(milli), human(memory))
	}
	return milliString(milli), memory, nil
}

func cpuForMemory(memory int64) (string, int64, error) {
	for _, s := range wholeCPUs {
		if memory <= s.maxMem {
			return milliString(s.milli), max(memory, s.minMem), nil
		}
	}
	return "", 0, fmt.Errorf("%w: memory %s is more than Cloud Run allows", errdefs.ErrInvalidArgument, human(memory))
}

// GrantedLabels returns labels with LabelGrantedCPU and LabelGrantedMemory set to what Resources granted (a copy:
// labels may be shared with the request or the image).
func GrantedLabels(labels map[string]string, cpu string, mem int64) map[string]string {
	out := make(map[string]string, len(labels)+2)
	for k, v := range labels {
		out[k] = v
	}
	out[LabelGrantedCPU] = cpu
	out[LabelGrantedMemory] = strconv.FormatInt(mem/mi, 10) + "Mi"
	return out
}

func milliString(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64)
}

func human(b int64) string {
	switch {
	case b%gi == 0:
		return fmt.Sprintf("%dGiB", b/gi)
	case b%mi == 0:
		return fmt.Sprintf("%dMiB", b/mi)
	}
	return fmt.Sprintf("%d bytes", b)
}
