// Package procfs reads /proc and the cgroup filesystem for docker top (the agent's descendants, ps -ef style) and
// docker stats (cgroup v2, falling back to v1, plus /proc/stat and /proc/net/dev), and the cgroup's OOM kills. A
// container without a cgroup namespace (Docker on cgroup v1) finds its cgroup at the mount's root, not at the host
// path /proc/self/cgroup names (cgroups.dir).
//
// It starts no goroutines and imports only linkproto from runsock.
package procfs
