#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open descriptors. A proxy spends two per proxied connection, and the
/// usual soft limit (1024) would refuse connections after about 500 while the hard limit allows
/// far more, so the agent and the relay raise the soft limit to the hard one at start.
enum OpenFileLimit {
    /// Raises the soft limit to the hard limit; returns the limit now in force (`nil` if unknown).
    @discardableResult
    static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        guard limit.rlim_cur < limit.rlim_max else { return UInt64(limit.rlim_cur) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        // Refused only where the hard limit cannot be honoured: keep the old limit then.
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return UInt64(limit.rlim_cur) }
        return UInt64(raised.rlim_cur)
    }
}
