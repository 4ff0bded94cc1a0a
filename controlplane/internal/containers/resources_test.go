package containers

import (
	"errors"
	"maps"
	"testing"

	"github.com/containerd/errdefs"
)

func TestResources(t *testing.T) {
	tests := []struct {
		name      string
		nano, mem int64
		cpu       string
		wantMem   int64
		bad       bool
	}{
		{"default", 0, 0, "1", 512 * mi, false},
		{"half cpu", 5e8, 0, "0.5", 512 * mi, false},
		{"tiny cpu rounds to 0.08", 1e7, 0, "0.08", 512 * mi, false},
		{"3 cpus round to 4 with its minimum memory", 3e9, 0, "4", 2 * gi, false},
		{"memory only picks the smallest cpu", 0, 6 * gi, "2", 6 * gi, false},
		{"small memory raised to Cloud Run's minimum for jobs", 1e9, 6 * mi, "1", 512 * mi, false},
		{"-m 64m alone", 0, 64 * mi, "1", 512 * mi, false},
		{"2 cpus and 100m", 2e9, 100 * mi, "2", 512 * mi, false},
		{"0.25 cpu and 64m", 25e7, 64 * mi, "0.25", 512 * mi, false},
		{"0.5 cpu and 768m", 5e8, 768 * mi, "0.5", 768 * mi, false},
		{"memory rounded up to whole MiB", 0, 1e9, "1", 954 * mi, false},
		{"4 cpus raise memory to 2Gi", 4e9, gi, "4", 2 * gi, false},
		{"1 cpu 16g is impossible", 1e9, 16 * gi, "", 0, true},
		{"0.25 cpu 1g needs 0.5", 25e7, gi, "", 0, true},
		{"0.5 cpu 2g needs 1", 5e8, 2 * gi, "", 0, true},
		{"16 cpus", 16e9, 0, "", 0, true},
		{"64g", 0, 64 * gi, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, mem, err := Resources(tt.nano, tt.mem)
			if tt.bad {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("want invalid argument, got %q %d %v", cpu, mem, err)
				}
				return
			}
			if err != nil || cpu != tt.cpu || mem != tt.wantMem {
				t.Fatalf("got %q %d %v, want %q %d", cpu, mem, err, tt.cpu, tt.wantMem)
			}
		})
	}
}

func TestGrantedLabels(t *testing.T) {
	asked := map[string]string{"team": "a"}
	got := GrantedLabels(asked, "0.5", 512*mi)
	want := map[string]string{"team": "a", LabelGrantedCPU: "0.5", LabelGrantedMemory: "512Mi"}
	if !maps.Equal(got, want) {
		t.Errorf("GrantedLabels = %v, want %v", got, want)
	}
	if len(asked) != 1 {
		t.Errorf("GrantedLabels changed its argument: %v", asked)
	}
}
