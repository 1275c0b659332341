#ifndef EDGEMESH_CNFTNL_SHIM_H
#define EDGEMESH_CNFTNL_SHIM_H
// <netinet/in.h> must come before <linux/netfilter.h>, or `in_addr` is defined twice and
// clashes with SwiftGlibc's (see shared/TOOLCHAIN.md).
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/batch.h>
#endif
