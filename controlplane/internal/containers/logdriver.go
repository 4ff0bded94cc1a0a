package containers

import (
	"slices"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// LogDrivers are the log drivers a container may name: a Docker Engine's built-in ones (what its /info lists under
// Plugins.Log, checked on the reference engine), and "none". runsock keeps every container's output the same way
// whichever is named (the agent's live stream, Cloud Logging behind it), so the name is recorded and shown by
// docker inspect, nothing more. Docker Engine plugins cannot run on Cloud Run, so no other name can exist.
var LogDrivers = []string{"awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "logentries", "splunk", "syslog"}

// DefaultLogDriver is the log driver a container gets when it names none, as a Docker Engine's default
// (json-file), and what /info reports as LoggingDriver: Docker reports its default driver there.
const DefaultLogDriver = "json-file"

// checkLogDriver refuses a log driver that does not exist as Docker does: Docker looks a name it does not have built
// in up as a plugin, and answers with the plugin lookup's failure.
func checkLogDriver(lc container.LogConfig) error {
	if lc.Type == "" || lc.Type == "none" || slices.Contains(LogDrivers, lc.Type) {
		return nil
	}
	return errorf(errdefs.ErrInvalidArgument, "error looking up logging plugin %s: plugin %q not found", lc.Type, lc.Type)
}
