import NetworkTopology

/// How a NAT router of a scenario is built with nftables and conntrack on Linux, or why it
/// cannot be: Linux NAT admits from outside only what answers a flow's own peer, so it maps
/// endpoint-independently (masquerade keeps the source port while it can) or per destination
/// (`masquerade random`), and filters per address and port; nothing else is offered.
///
/// | Scenario setting                                   | Lab realisation                                   |
/// |----------------------------------------------------|---------------------------------------------------|
/// | mapping endpoint-independent, filtering a.-and-p.-d.| `masquerade` + WAN filter admitting replies only  |
/// | mapping address-and-port-dependent                 | `masquerade random` + the same filter             |
/// | mapping address-dependent                          | cannot be realised                                |
/// | filtering endpoint-independent or address-dependent| cannot be realised                                |
/// | `udp: blocked`                                     | UDP through the WAN port dropped both ways        |
/// | `inputFilter: false`                               | the same without the input chain                  |
/// | UDP / TCP mapping timeouts                         | the namespace's conntrack timeouts                |
/// | hairpinning                                        | not realised (a note; LAN peers meet on the LAN)  |
/// | port preservation off, random allocation, ranges   | not realised (a note)                             |
struct NATRealisation {
    /// The nftables ruleset, as `nft -f` reads it.
    let ruleset: String
    /// Conntrack settings of the router's namespace (`sysctl` name and value).
    let sysctls: [(name: String, value: String)]
    /// Settings of the scenario the router does not have on Linux, in words, for the run's notes.
    let notes: [String]

    /// Why a configuration cannot be built; nil when it can.
    static func refusal(for nat: NATConfiguration) -> String? {
        if nat.mapping == .addressDependent {
            return "address-dependent mapping cannot be realised with Linux NAT (masquerade maps per endpoint or, random, per address and port)"
        }
        if nat.filtering != .addressAndPortDependent {
            return "\(nat.filtering) filtering cannot be realised with Linux NAT (conntrack admits only replies from a flow's own peer)"
        }
        return nil
    }

    /// The realisation of `nat` on a router whose WAN port is `wan`; nil when `refusal` says why not.
    init?(_ nat: NATConfiguration, wan: String) {
        guard Self.refusal(for: nat) == nil else { return nil }
        let masquerade = nat.mapping == .addressAndPortDependent ? "masquerade random" : "masquerade"
        let blockUDP = nat.blocksUDP ? "        meta l4proto udp iifname \"\(wan)\" drop\n        meta l4proto udp oifname \"\(wan)\" drop\n" : ""
        // The input chain matters as much as forward: without it a punch that reaches this
        // router before its own side has sent is answered by the router's kernel (a RST, or a
        // conntrack entry of its own) and the far side's mapping collides (TOOLCHAIN.md). A
        // scenario asks for exactly that with `inputFilter: false`.
        let inputChain = nat.filtersInput ? """
                chain input {
                    type filter hook input priority filter; policy accept;
                    iifname "\(wan)" ct state established,related accept
                    iifname "\(wan)" drop
                }

            """ : ""
        ruleset = """
            table ip lab_nat {
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    oifname "\(wan)" \(masquerade)
                }
                chain forward {
                    type filter hook forward priority filter; policy accept;
            \(blockUDP)        iifname "\(wan)" ct state established,related accept
                    iifname "\(wan)" drop
                }
            \(inputChain)}

            """
        let defaults = NATConfiguration()
        var sysctls: [(String, String)] = []
        if nat.udpMappingTimeout != defaults.udpMappingTimeout {
            sysctls.append(("net.netfilter.nf_conntrack_udp_timeout_stream", "\(nat.udpMappingTimeout / Nanoseconds.second)"))
        }
        if nat.tcpEstablishedTimeout != defaults.tcpEstablishedTimeout {
            sysctls.append(("net.netfilter.nf_conntrack_tcp_timeout_established", "\(nat.tcpEstablishedTimeout / Nanoseconds.second)"))
        }
        self.sysctls = sysctls
        var notes: [String] = []
        if nat.hairpinning { notes.append("hairpinning is not realised (its own nodes reach each other on the LAN, not through its public address)") }
        if !nat.portPreservation && nat.mapping == .endpointIndependent { notes.append("port preservation off is not realised (masquerade keeps ports while it can)") }
        if nat.portAllocation != defaults.portAllocation || nat.portRange != defaults.portRange {
            notes.append("the port allocation and range are the kernel's")
        }
        if nat.tcpTransitoryTimeout != defaults.tcpTransitoryTimeout || !nat.inboundRefresh {
            notes.append("transitory TCP timeouts and refresh are conntrack's")
        }
        self.notes = notes
    }
}
