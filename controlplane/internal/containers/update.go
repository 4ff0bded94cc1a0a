package containers

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// WarningResourcesNextStart is docker update's warning when it changes the CPU or memory of a container that runs:
// a Cloud Run execution's resources are fixed when it is launched, so the new ones apply from the next start.
const WarningResourcesNextStart = "runsock: the new CPU and memory apply from the container's next start: " +
	"a Cloud Run execution's resources are fixed once it runs"

// Update is docker update (POST /containers/{id}/update): it changes the restart policy (the next exit is decided
// with it, as Docker's restart manager takes the new policy at once) and the resources, with Docker's checks. CPU and
// memory must map onto a Cloud Run pair, as at create; a running container keeps its execution's resources until its
// next start, which the returned warnings say.
func (s *Service) Update(ctx context.Context, p identity.Principal, ref string, u container.UpdateConfig) ([]string, error) {
	c, err := s.resolveFor(ctx, p, ref, "update")
	if err != nil {
		return nil, err
	}
	if u.RestartPolicy.Name != "" {
		if err := container.ValidateRestartPolicy(u.RestartPolicy); err != nil {
			return nil, errorf(errdefs.ErrInvalidArgument, "%s", err.Error())
		}
	}
	var resized bool
	updated, err := s.store.UpdateContainer(ctx, c.ID, func(c *Container) error {
		var err error
		resized, err = applyUpdate(c, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	var warnings []string
	if resized && updated.Active() {
		warnings = append(warnings, WarningResourcesNextStart)
	}
	s.emit(ctx, updated, "update", nil)
	return warnings, nil
}

// applyUpdate is Docker's Container.UpdateContainer on c's record: non-zero resources replace c's (with Docker's
// conflicts), a named restart policy replaces c's. It reports whether the Cloud Run CPU or memory changed.
func applyUpdate(c *Container, u container.UpdateConfig) (bool, error) {
	cannot := func(kind error, msg string) error {
		return errorf(kind, "Cannot update container %s: %s", c.ID, msg)
	}
	r, cur := u.Resources, &c.HostConfig.Resources
	switch {
	case r.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return false, cannot(errdefs.ErrConflict, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case r.NanoCPUs > 0 && cur.CPUQuota > 0:
		return false, cannot(errdefs.ErrConflict, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case r.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return false, cannot(errdefs.ErrConflict, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case r.CPUQuota > 0 && cur.NanoCPUs > 0:
		return false, cannot(errdefs.ErrConflict, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	case r.Memory != 0 && cur.MemorySwap > 0 && r.Memory > cur.MemorySwap && r.MemorySwap == 0:
		return false, cannot(errdefs.ErrConflict, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	if u.RestartPolicy.Name != "" {
		if c.HostConfig.AutoRemove && !u.RestartPolicy.IsNone() {
			return false, cannot(errdefs.ErrConflict, "Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		c.HostConfig.RestartPolicy = u.RestartPolicy
	}
	setIf := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	setIf(&cur.NanoCPUs, r.NanoCPUs)
	setIf(&cur.Memory, r.Memory)
	setIf(&cur.MemorySwap, r.MemorySwap)
	setIf(&cur.MemoryReservation, r.MemoryReservation)
	setIf(&cur.CPUShares, r.CPUShares)
	setIf(&cur.CPUPeriod, r.CPUPeriod)
	setIf(&cur.CPUQuota, r.CPUQuota)
	if r.BlkioWeight != 0 {
		cur.BlkioWeight = r.BlkioWeight
	}
	if r.CpusetCpus != "" {
		cur.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		cur.CpusetMems = r.CpusetMems
	}
	if r.PidsLimit != nil {
		cur.PidsLimit = r.PidsLimit
	}
	cpu, mem, err := Resources(cur.NanoCPUs, cur.Memory)
	if err != nil {
		return false, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
	}
	resized := cpu != c.CPU || mem != c.MemoryBytes
	c.CPU, c.MemoryBytes = cpu, mem
	c.Config.Labels = GrantedLabels(c.Config.Labels, cpu, mem)
	return resized, nil
}
