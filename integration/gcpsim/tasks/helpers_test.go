package tasks_test

import "net/netip"

func netipFrom(a [4]byte) netip.Addr { return netip.AddrFrom4(a) }
