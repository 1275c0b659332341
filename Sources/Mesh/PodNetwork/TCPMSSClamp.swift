import NIOCore

/// Lowers the maximum segment size a TCP SYN (or SYN-ACK) announces to what fits the pod
/// network's MTU, as `iptables -j TCPMSS --clamp-mss-to-pmtu` does on a router: a sender whose
/// own interface has a larger MTU (the node itself, a host routed to the pods, a pod on another
/// CNI) then never sends a segment the tunnel would have to drop. Only the MSS option and the
/// TCP checksum change (RFC 1624 incremental update); anything else passes untouched.
public enum TCPMSSClamp {
    /// The largest MSS for `mtu`: the packet less the IPv4 and TCP headers without options.
    public static func maximumSegmentSize(forMTU mtu: Int) -> UInt16 {
        UInt16(clamping: max(mtu - 40, 536))
    }

    /// Rewrites an MSS above `maximum` in `packet` (a whole IPv4 packet whose header is
    /// `header`); true when it did. Fragments, non-SYN segments and malformed TCP headers pass.
    @discardableResult
    public static func clamp(_ packet: inout ByteBuffer, header: IPv4PacketHeader, maximum: UInt16) -> Bool {
        guard header.transport == IPv4PacketHeader.TransportNumber.tcp else { return false }
        let base = packet.readerIndex
        let tcp = base + header.headerLength
        // A first fragment of a TCP packet may carry the header, a later one never: leave fragments alone.
        guard let fragment: UInt16 = packet.getInteger(at: base + 6), fragment & 0x3FFF == 0,
            header.totalLength - header.headerLength >= 20,
            let offsetByte: UInt8 = packet.getInteger(at: tcp + 12), let flags: UInt8 = packet.getInteger(at: tcp + 13),
            flags & 0x02 != 0
        else { return false }
        let tcpHeaderLength = Int(offsetByte >> 4) * 4
        guard tcpHeaderLength >= 20, tcpHeaderLength <= header.totalLength - header.headerLength else { return false }
        var option = tcp + 20
        let end = tcp + tcpHeaderLength
        while option < end {
            guard let kind: UInt8 = packet.getInteger(at: option) else { return false }
            if kind == 0 { return false }
            if kind == 1 {
                option += 1
                continue
            }
            guard option + 1 < end, let length: UInt8 = packet.getInteger(at: option + 1), length >= 2, option + Int(length) <= end else {
                return false
            }
            if kind == 2 && length == 4 {
                guard let announced: UInt16 = packet.getInteger(at: option + 2), announced > maximum,
                    let checksum: UInt16 = packet.getInteger(at: tcp + 16)
                else { return false }
                packet.setInteger(maximum, at: option + 2)
                packet.setInteger(Self.updated(checksum: checksum, replacing: announced, with: maximum), at: tcp + 16)
                return true
            }
            option += Int(length)
        }
        return false
    }

    /// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
    static func updated(checksum: UInt16, replacing old: UInt16, with new: UInt16) -> UInt16 {
        var sum = UInt32(~checksum) + UInt32(~old) + UInt32(new)
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
