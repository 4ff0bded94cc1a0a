package containers

import (
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		bad  bool
	}{
		{"", syscall.SIGTERM, false},
		{"SIGUSR1", syscall.SIGUSR1, false},
		{"usr1", syscall.SIGUSR1, false},
		{"9", syscall.SIGKILL, false},
		{"RTMIN+3", 37, false},
		{"NOPE", 0, true},
		{"0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in, syscall.SIGTERM)
			if (err != nil) != tt.bad || got != tt.want {
				t.Errorf("ParseSignal(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
			}
		})
	}
}
