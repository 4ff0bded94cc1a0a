package pid1

import (
	"os/exec"
	"testing"
	"time"
)

func TestReaperExitCodes(t *testing.T) {
	r := NewReaper()
	defer r.Close()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"sh", "-c", "exit 0"}, 0},
		{"status", []string{"sh", "-c", "exit 42"}, 42},
		{"killed", []string{"sh", "-c", "kill -KILL $$"}, 137},
		{"orphan left behind", []string{"sh", "-c", "(sleep 0.05 &) ; exit 3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ch, err := r.Start(exec.Command(tt.args[0], tt.args[1:]...))
			if err != nil {
				t.Fatal(err)
			}
			select {
			case ws := <-ch:
				if got := ExitCode(ws); got != tt.want {
					t.Fatalf("exit code %d, want %d", got, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no exit status")
			}
		})
	}
}
