#ifndef EDGEMESH_CPCAP_SHIM_H
#define EDGEMESH_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
