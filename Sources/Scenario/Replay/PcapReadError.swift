import Mesh

/// A capture file that cannot be replayed; every case names the file.
public enum PcapReadError: Error, Hashable, Sendable, CustomStringConvertible {
    case notPcap(path: String, reason: String)
    case unsupportedLinkType(path: String, linkType: UInt32)
    case corruptRecord(path: String, index: Int, reason: String)

    public var description: String {
        switch self {
        case .notPcap(let path, let reason):
            return "\(path) is not a pcap capture: \(reason)"
        case .unsupportedLinkType(let path, let linkType):
            return "\(path) has link type \(linkType); replay reads Ethernet (1), raw IP (101) and Linux cooked (113, 276) captures"
        case .corruptRecord(let path, let index, let reason):
            return "\(path): record \(index) is corrupt (\(reason)); the file may be truncated or not a capture"
        }
    }
}
