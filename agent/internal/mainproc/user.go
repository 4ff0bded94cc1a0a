package mainproc

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Credential resolves Docker's user forms — uid, uid:gid, name, name:group, "" for root — through the container's
// /etc/passwd and /etc/group, with the supplementary groups Docker gives the process: the primary group, the groups
// that list the user as a member (unless a group was named: then that group alone, as runc does), and groupAdd (the
// container's --group-add, names or IDs). The kernel keeps the list sorted, so `id` prints what it prints under
// Docker.
func Credential(spec string, groupAdd []string) (*syscall.Credential, string, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	if name == "" {
		name = "0"
	}
	cred := &syscall.Credential{}
	home := ""
	var u *user.User
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		// A uid without a passwd entry runs with group 0, as runc's defaults give it under Docker.
		cred.Uid = uint32(uid)
		if found, err := user.LookupId(name); err == nil {
			u = found
		}
	} else {
		found, err := user.Lookup(name)
		if err != nil {
			return nil, "", fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
		}
		uid, _ := strconv.ParseUint(found.Uid, 10, 32)
		cred.Uid = uint32(uid)
		u = found
	}
	if u != nil {
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Gid, home = uint32(gid), u.HomeDir
	}
	groups := []uint32{}
	if hasGroup {
		gid, err := lookupGroup(group, "unable to find group %s: no matching entries in group file")
		if err != nil {
			return nil, "", err
		}
		cred.Gid = gid
	} else if u != nil {
		ids, _ := u.GroupIds() // the primary group and the groups listing the user as a member
		for _, id := range ids {
			if gid, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(gid))
			}
		}
	}
	groups = append(groups, cred.Gid)
	for _, g := range groupAdd {
		gid, err := lookupGroup(g, "Unable to find group %s: no matching entries in group file")
		if err != nil {
			return nil, "", err
		}
		groups = append(groups, gid)
	}
	slices.Sort(groups)
	cred.Groups = slices.Compact(groups)
	return cred, home, nil
}

// lookupGroup resolves a group name or ID; an unknown name is an error worded by format (Docker words it
// differently for the user's group and for --group-add).
func lookupGroup(g, format string) (uint32, error) {
	if gid, err := strconv.ParseUint(g, 10, 32); err == nil {
		return uint32(gid), nil
	}
	found, err := user.LookupGroup(g)
	if err != nil {
		return 0, fmt.Errorf(format, g)
	}
	gid, err := strconv.ParseUint(found.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf(format, g)
	}
	return uint32(gid), nil
}
