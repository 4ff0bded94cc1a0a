package linkproto

import (
	"encoding/json"
	"fmt"
	"time"
)

// Environment variables the launcher sets for the agent. The agent removes every RUNSOCK_* variable from the
// environment of the processes it starts.
const (
	EnvURL         = "RUNSOCK_AGENT_URL"      // https://… (TLS) or http://… (h2c) of the control plane
	EnvCA          = "RUNSOCK_AGENT_CA"       // optional PEM of the CA that signed the control plane's certificate
	EnvAudience    = "RUNSOCK_AGENT_AUDIENCE" // optional identity-token audience; default the URL
	EnvContainerID = "RUNSOCK_CONTAINER_ID"
	// EnvBootstrap is the start's one-time bootstrap secret. It travels in the RunJob override, which the Execution
	// resource keeps for anyone with read access to the project: it is good for one link only (MDBootstrap).
	EnvBootstrap = "RUNSOCK_AGENT_BOOTSTRAP"
	EnvRun       = "RUNSOCK_RUN"        // identifies one start of the container (livelogs sequence numbering)
	EnvStdin     = "RUNSOCK_STDIN"      // "1": the main process gets a stdin pipe fed by attach (OpenStdin)
	EnvStdinOnce = "RUNSOCK_STDIN_ONCE" // "1": the first attach's stdin EOF closes the main process's stdin
	EnvTTY       = "RUNSOCK_TTY"        // "1": the main process runs on a pseudo-terminal
	EnvUser      = "RUNSOCK_USER"       // Docker's user[:group] the main process runs as (Cloud Run has no such setting)
	EnvGroupAdd  = "RUNSOCK_GROUP_ADD"  // the container's --group-add groups, comma-separated (names or IDs)
	EnvWorkDir   = "RUNSOCK_WORKDIR"    // the main process's working directory, created if missing (as Docker)
	// EnvInit "1": Docker's --init. Without it the main process gets only the signals it would get as PID 1.
	EnvInit = "RUNSOCK_INIT"
	// EnvNetworkNone "1": Docker's --network none. The main process and execs run in their own network namespace
	// with only a loopback interface.
	EnvNetworkNone = "RUNSOCK_NETWORK_NONE"
	// EnvStaged "1": archives were copied into the container before this start; the agent starts the main process
	// only once the control plane has delivered them (archive-put sessions with Staged, the last one with Last),
	// or after StagedWait.
	EnvStaged = "RUNSOCK_STAGED"
	// EnvPeers "1": the container is on a user-defined network. The agent starts the main process once the first
	// Peers frame naming the container itself (Self) has been applied — its peers' names are in /etc/hosts and
	// their ports offered — or after PeersWait, so a process that reaches a peer at once finds it, as Docker's
	// embedded DNS answers from the first instruction (compose's depends_on relies on it).
	EnvPeers = "RUNSOCK_PEERS"
	// EnvCapture is the size limit in bytes of the capture of the container's changes once its process ends
	// (KindCapture); unset: nothing is captured (--rm, or a control plane that keeps no files).
	EnvCapture = "RUNSOCK_CAPTURE"
	// EnvDockerSocket is where the agent serves its container's owner's Docker API: the destinations of the
	// container's binds of the Docker socket (-v /var/run/docker.sock:PATH), separated by ':' (a mount path has
	// none). Each connection accepted there is a Dial with DockerAPI set. Unset: the container has no Docker API.
	EnvDockerSocket = "RUNSOCK_DOCKER_SOCKET"
	// EnvHealth is the container's healthcheck as a HealthSpec (JSON); unset: the container has none (no HEALTHCHECK,
	// NONE, or --no-healthcheck).
	EnvHealth = "RUNSOCK_HEALTH"
	// EnvFileBinds is the container's single-file binds, JSON [FileBind…]: Cloud Run mounts directories only, so a
	// file's staging is mounted at a hidden directory and the agent places a symlink to it at the destination
	// before the main process starts.
	EnvFileBinds = "RUNSOCK_FILE_BINDS"
	EnvPrefix    = "RUNSOCK_"
	// EnvExecution is set by Cloud Run (not the launcher): the short name of the execution a task runs in.
	EnvExecution = "CLOUD_RUN_EXECUTION"
)

// ExitInfo is the Meta of an Exit frame, when there is more to say than the code (none from an older agent).
type ExitInfo struct {
	// OOMKilled: the kernel's OOM killer killed a process of the container while it ran (its cgroup's
	// memory.events oom_kill rose), what Docker reports as State.OOMKilled.
	OOMKilled bool `json:"oomKilled,omitempty"`
}

// Hello is the Meta of the first Control frame.
type Hello struct {
	AgentVersion string    `json:"agentVersion"`
	PID          int       `json:"pid"`
	StartedAt    time.Time `json:"startedAt"`
	Run          string    `json:"run,omitempty"`
}

// OutputHello is the Meta of the first Output frame. Resent chunks follow it, starting after the last ack the agent
// received.
type OutputHello struct {
	Run string `json:"run,omitempty"`
}

// Session kinds.
const (
	KindExec        = "exec"
	KindAttach      = "attach"
	KindArchiveGet  = "archive-get"
	KindArchivePut  = "archive-put"
	KindArchiveStat = "archive-stat"
	KindSignal      = "signal"
	KindTop         = "top"
	KindStats       = "stats"
	KindTunnel      = "tunnel" // bytes to and from 127.0.0.1:Port inside the container (published ports)
	// KindPause stops every process of the container but the agent (SIGSTOP), KindUnpause continues them (SIGCONT):
	// docker pause and unpause. Each answers Result once done.
	KindPause   = "pause"
	KindUnpause = "unpause"
	// KindCapture: once the main process has ended, the container's changes against its image as a layer tar
	// (Started with a Capture, Data, Result), or an Error of ErrKindTooLarge over EnvCapture's limit. With
	// OpenSpec.Now, the same at once, while the main process runs (docker diff, export and commit of a running
	// container).
	KindCapture = "capture"
)

// OpenSpec is the Meta of an Open frame: which session the agent must open a stream for.
type OpenSpec struct {
	Kind    string       `json:"kind"`
	Exec    *ExecSpec    `json:"exec,omitempty"`
	Archive *ArchiveSpec `json:"archive,omitempty"`
	Signal  int          `json:"signal,omitempty"`
	TopArgs string       `json:"topArgs,omitempty"`
	Port    int          `json:"port,omitempty"` // KindTunnel
	// Now asks KindCapture for the changes so far, without waiting for the main process to end.
	Now bool `json:"now,omitempty"`
	// Window is the control plane's receive window for the session's Data (see Flow); 0 from a control plane
	// without flow control.
	Window int64 `json:"window,omitempty"`
}

// ExecSpec is a process to start in the container, as Docker's exec create describes it.
type ExecSpec struct {
	Cmd        []string `json:"cmd"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"` // uid[:gid] or name[:group]
	Tty        bool     `json:"tty,omitempty"`
	Stdin      bool     `json:"stdin,omitempty"` // attach stdin; otherwise the process reads /dev/null
	Height     uint16   `json:"height,omitempty"`
	Width      uint16   `json:"width,omitempty"`
	GroupAdd   []string `json:"groupAdd,omitempty"` // the container's --group-add: exec'd processes get them too, as under Docker
}

// ArchiveSpec names a path for archive sessions and carries PUT's options.
type ArchiveSpec struct {
	Path                 string `json:"path"`
	NoOverwriteDirNonDir bool   `json:"noOverwriteDirNonDir,omitempty"`
	CopyUIDGID           bool   `json:"copyUIDGID,omitempty"`
	// Staged marks a PUT that was staged before the start (EnvStaged); Last, the last of them: once it is applied
	// (or has failed) the agent starts the main process.
	Staged bool `json:"staged,omitempty"`
	Last   bool `json:"last,omitempty"`
	// Layer marks an image layer to apply (a container's earlier runs' changes, restored at its restart): its
	// ".wh.NAME" entries delete NAME.
	Layer bool `json:"layer,omitempty"`
}

// StagedWait bounds how long an agent started with EnvStaged waits for the staged archives before it gives up and
// fails the start (exit code 126, with the reason on stderr): a process must not run without the files it was given.
const StagedWait = 3 * time.Minute

// PeersWait bounds how long an agent started with EnvPeers waits for its peers before it starts the main process
// anyway (names then appear when they arrive).
const PeersWait = 20 * time.Second

// PathStat is Docker's container path stat (X-Docker-Container-Path-Stat), same JSON.
type PathStat struct {
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	Mode       uint32    `json:"mode"` // Go os.FileMode bits
	Mtime      time.Time `json:"mtime"`
	LinkTarget string    `json:"linkTarget"`
}

// Capture is the Meta of a capture's Started frame.
type Capture struct {
	Changes int   `json:"changes"`
	Bytes   int64 `json:"bytes"` // of the regular files' contents
}

// CaptureWait bounds how long an agent with EnvCapture waits, after its exit was acknowledged, for the control
// plane to take the capture.
const CaptureWait = 2 * time.Minute

// Top is a process listing.
type Top struct {
	Titles    []string   `json:"titles"`
	Processes [][]string `json:"processes"`
}

// Stats are raw figures from the container's cgroup and /proc; the control plane turns them into Docker's shape.
type Stats struct {
	Read           time.Time           `json:"read"`
	CPUUsageNanos  uint64              `json:"cpuUsageNanos"`
	CPUUserNanos   uint64              `json:"cpuUserNanos"`
	CPUSystemNanos uint64              `json:"cpuSystemNanos"`
	SystemNanos    uint64              `json:"systemNanos"` // host CPU time, all CPUs, from /proc/stat
	OnlineCPUs     uint32              `json:"onlineCPUs"`
	MemoryUsage    uint64              `json:"memoryUsage"`
	MemoryLimit    uint64              `json:"memoryLimit"`
	MemoryStats    map[string]uint64   `json:"memoryStats,omitempty"`
	PIDs           uint64              `json:"pids"`
	Networks       map[string]NetStats `json:"networks,omitempty"`
	BlkioRead      uint64              `json:"blkioRead"`
	BlkioWrite     uint64              `json:"blkioWrite"`
}

// NetStats are one interface's counters from /proc/net/dev.
type NetStats struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// Ports is the Meta of a Ports frame: the TCP ports the container listens on for every address (0.0.0.0 or ::),
// the ones a peer on its networks can reach. Sorted.
type Ports struct {
	TCP []int `json:"tcp"`
}

// Peers is the Meta of a Peers frame.
type Peers struct {
	Peers []Peer `json:"peers"`
}

// Peer is a container the agent's container reaches, or the container itself (Self): at Addr (a loopback address
// 127.N.x.y) its Names resolve, and on each of Ports the agent accepts connections and relays them (Dial with Ref)
// — except for Self, whose own listeners answer there.
type Peer struct {
	Ref   string   `json:"ref"` // the peer's container ID
	Addr  string   `json:"addr"`
	Names []string `json:"names"`
	Ports []int    `json:"ports,omitempty"`
	Self  bool     `json:"self,omitempty"`
}

// Dial is the Meta of the Session frame that opens a relayed connection: an agent opens a Session stream with
// Seq 0 (no session was asked for) and Code its receive window; the control plane answers Started (Code: its
// window) once the peer's agent has connected to Port inside the peer, or Error (the peer is not reachable from
// this container, or nothing listens there). Then Data and Close frames both ways, as a tunnel, and Result last.
//
// With DockerAPI set (Ref and Port empty) the connection is a Docker API client's, accepted on the socket the
// container's owner mounted into it (EnvDockerSocket): the control plane serves it as the owner's Docker API
// (HTTP/1.1, upgrades included) if, and only if, the container's record has that mount; otherwise Error.
type Dial struct {
	Ref       string `json:"ref,omitempty"`
	Port      int    `json:"port,omitempty"`
	DockerAPI bool   `json:"dockerAPI,omitempty"`
}

// HealthSpec is a container's healthcheck as the agent runs it: Docker's Config.Healthcheck with its defaults
// applied and the command resolved (CMD-SHELL through the container's shell).
type HealthSpec struct {
	Cmd           []string      `json:"cmd"`
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	StartPeriod   time.Duration `json:"startPeriod,omitempty"`
	StartInterval time.Duration `json:"startInterval"`
	Retries       int           `json:"retries"`
}

// Health statuses, Docker's words.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// HealthOutputMax is the most bytes of a probe's output kept (Docker's maxOutputLen); longer output is cut there
// and "..." appended.
const HealthOutputMax = 4096

// HealthLogMax is how many probe results a container's health log keeps (Docker's maxLogEntries).
const HealthLogMax = 5

// Health is the Meta of a Health frame: the container's health as the agent's monitor decided it after its last
// probe, and the last results of this run (oldest first, at most HealthLogMax). The control plane keeps the results
// it has not seen (by Start) and the status.
type Health struct {
	Status        string         `json:"status"`
	FailingStreak int            `json:"failingStreak"`
	Log           []HealthResult `json:"log"`
}

// HealthResult is one probe: Docker's HealthcheckResult plus the ID the probe's exec events carry.
type HealthResult struct {
	ExecID   string    `json:"execId"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output"`
}

// Error kinds: the control plane maps them onto its error kinds (HTTP status).
const (
	ErrKindNotFound   = "notfound"
	ErrKindInvalid    = "invalid"
	ErrKindConflict   = "conflict"
	ErrKindPermission = "permission"
	ErrKindTooLarge   = "toolarge"
	ErrKindInternal   = "internal"
)

// Error is the Meta of an Error frame.
type Error struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// EncodeMeta marshals v for Frame.Meta.
func EncodeMeta(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("linkproto: marshal %T: %v", v, err)) // only our own plain structs go here
	}
	return b
}

// DecodeMeta unmarshals Frame.Meta into v.
func DecodeMeta(meta []byte, v any) error {
	if err := json.Unmarshal(meta, v); err != nil {
		return fmt.Errorf("linkproto: decode %T: %w", v, err)
	}
	return nil
}

// FileBind is one single-file bind (EnvFileBinds): a symlink at Path to Target, the file in its mounted staging.
type FileBind struct {
	Path   string
	Target string
}
