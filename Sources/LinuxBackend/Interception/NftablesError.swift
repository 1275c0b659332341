import Glibc

/// What went wrong while talking to nf_tables, in words an operator can act on.
public enum NftablesError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The table name cannot be used (nf_tables names are 1...255 bytes).
    case invalidTableName(String)
    /// A socket call on the netfilter netlink socket failed (`operation` says which).
    case socketFailure(operation: String, errno: Int32)
    /// The kernel answered a message of the batch with an error; `object` names it
    /// ("table edgemesh", "chain edgemesh/output", "rule tcp 10.96.0.10:80 -> :15001 in chain ...").
    case refused(object: String, errno: Int32)
    /// The batch passed the capability check, yet the kernel refused `object` with EPERM: the
    /// table of that name was created with `flags owner` by another process that still runs.
    case ownedByAnotherProcess(object: String)
    /// The kernel sent no answer within the time limit.
    case noAnswer(operation: String)
    /// The kernel answered, but not for every message that asked for an acknowledgement.
    case missingAcknowledgements(objects: [String])
    /// A reply could not be parsed.
    case malformedReply(String)

    public var description: String {
        switch self {
        case .invalidTableName(let name):
            return "nftables: invalid table name \"\(name)\" (use 1 to 255 bytes, no NUL)"
        case .socketFailure(let operation, let code):
            return "nftables: cannot \(operation): \(Self.text(code))\(Self.hint(code))"
        case .refused(let object, let code):
            return "nftables: kernel refused \(object): \(Self.text(code))\(Self.hint(code))"
        case .ownedByAnotherProcess(let object):
            return "nftables: kernel refused \(object): \(Self.text(EPERM)) (another process owns the table"
                + " (flags owner); stop it or choose another table name)"
        case .noAnswer(let operation):
            return "nftables: no answer from the kernel to \(operation) (is nf_tables loaded?)"
        case .missingAcknowledgements(let objects):
            let shown = objects.prefix(3).joined(separator: ", ")
            let more = objects.count > 3 ? " and \(objects.count - 3) more" : ""
            return "nftables: the kernel did not acknowledge \(shown)\(more) (replies lost; retry)"
        case .malformedReply(let what):
            return "nftables: malformed netlink reply: \(what)"
        }
    }

    private static func text(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// What to do about the errors an operator can fix.
    private static func hint(_ code: Int32) -> String {
        switch code {
        case EPERM, EACCES: " (run as root / CAP_NET_ADMIN)"
        // ENOENT too: our batches create the table and chains they use, so it means the kernel
        // does not know the nat chain type or the redir expression.
        case EOPNOTSUPP, EAFNOSUPPORT, EPROTONOSUPPORT, ENOENT:
            " (this kernel lacks nf_tables NAT support: load nft_chain_nat and nft_redir)"
        case ENOBUFS, ENOMEM: " (socket buffer too small for the batch; retry with fewer rules)"
        case EBUSY: " (another process is changing nf_tables; retry)"
        default: ""
        }
    }
}
