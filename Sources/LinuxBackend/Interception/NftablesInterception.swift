import CNftnl
import Glibc
import Mesh
import NIOCore
import NIOPosix
import Synchronization

/// Cluster-IP interception with nf_tables, spoken over netlink through libnftnl/libmnl (no `nft`
/// or `iptables` process).
///
/// All state lives in one table of ours (family `ip`, default name `edgemesh`) with two NAT base
/// chains, both at priority -110, i.e. before the standard dstnat (-100) where kube-proxy sits:
///
/// - `output` (hook output) for processes in the host network namespace;
/// - `prerouting` (hook prerouting) for containers whose traffic enters through a bridge/veth.
///
/// Each `InterceptionRule` becomes `ip daddr A tcp|udp dport P redirect to :L` in both chains.
///
/// **Atomic replacement.** `apply` sends one nfnetlink batch: add table (a no-op if it exists),
/// delete table, add table, chains and rules. The kernel applies a batch as one transaction, so
/// packets see either the old rule set or the new one, never a mix or none.
///
/// **Crash recovery.** Because every `apply` deletes whatever table of that name exists, a table
/// left behind by a crashed run is replaced by the first `apply`: atomic replacement *is* the
/// reconciliation. `reconcile()` removes a leftover table at start-up when the agent wants no
/// interception until it knows its services, and `tablePresent()` tells whether one exists.
///
/// **Network namespace.** The netlink socket is opened in `init`, so the instance works on the
/// network namespace of the thread that created it, whichever thread runs the operations later.
///
/// **Threads.** Netlink talk blocks, but only for a few syscalls: the kernel processes a batch
/// inside `sendmsg` and its answers are queued before that returns (the first batch may wait for
/// the kernel to load its NAT modules, once). So by default the work runs on `eventLoop`; pass a
/// started `NIOThreadPool` to keep it off the loop entirely. Futures complete on `eventLoop`.
/// Operations are serialised.
///
/// The table stays in place when the instance goes away; call `removeAll()` on a clean exit.
public final class NftablesInterception: TrafficInterception {
    public let tableName: String
    /// Earlier than NF_IP_PRI_NAT_DST (-100), so our redirect wins over kube-proxy's DNAT.
    public static let chainPriority: Int32 = -110
    /// The base chains (name, hook) that carry the redirect rules.
    public static let chains: [(name: String, hook: UInt32)] = [
        ("output", NF_INET_LOCAL_OUT.rawValue),
        ("prerouting", NF_INET_PRE_ROUTING.rawValue),
    ]

    private let eventLoop: EventLoop
    private let threadPool: NIOThreadPool?
    /// The socket, or why it could not be opened (reported by every operation).
    private let socket: Mutex<Result<NetlinkSocket, NftablesError>>

    /// - Parameters:
    ///   - eventLoop: where the futures complete (and where the netlink work runs without a pool).
    ///   - tableName: the nf_tables table this instance owns entirely (family `ip`).
    ///   - threadPool: if given (and started), the netlink work runs there instead.
    public init(eventLoop: EventLoop, tableName: String = "edgemesh", threadPool: NIOThreadPool? = nil) {
        self.eventLoop = eventLoop
        self.tableName = tableName
        self.threadPool = threadPool
        let opened: Result<NetlinkSocket, NftablesError>
        if tableName.isEmpty || tableName.utf8.count > 255 || tableName.utf8.contains(0) {
            opened = .failure(.invalidTableName(tableName))
        } else {
            do throws(NftablesError) {
                opened = .success(try NetlinkSocket())
            } catch {
                opened = .failure(error)
            }
        }
        self.socket = Mutex(opened)
    }

    /// Replaces our table with one that redirects exactly `rules` (atomically, one batch). Of
    /// two rules for the same address, protocol and port, the first applies.
    public func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        run { try self.applySynchronously(rules) }
    }

    /// Deletes our table; succeeds when there is none.
    public func removeAll() -> EventLoopFuture<Void> {
        run { try self.removeAllSynchronously() }
    }

    /// Removes a table left behind by a previous run; the future says whether there was one.
    public func reconcile() -> EventLoopFuture<Bool> {
        run {
            let present = try self.tablePresent()
            if present { try self.removeAllSynchronously() }
            return present
        }
    }

    /// Whether our table exists, from a netlink listing of the `ip` tables (blocking).
    public func tablePresent() throws(NftablesError) -> Bool {
        try withSocket { socket throws(NftablesError) in
            try socket.listTables(family: UInt32(NFPROTO_IPV4)).contains(self.tableName)
        }
    }

    /// `apply` without a future, for callers with no running event loop (e.g. at exit).
    public func applySynchronously(_ rules: [InterceptionRule]) throws(NftablesError) {
        try withSocket { socket throws(NftablesError) in
            var batch = NftablesBatch(firstSequence: socket.nextSequence,
                                      description: "the rule set of table \(tableName)")
            // Adding first makes the delete valid whether or not the table exists.
            batch.addTable(tableName)
            batch.deleteTable(tableName)
            batch.addTable(tableName)
            for chain in Self.chains {
                batch.addNATChain(table: tableName, name: chain.name, hook: chain.hook, priority: Self.chainPriority)
            }
            batch.addInterceptionMap(table: tableName)
            batch.addInterceptionElements(InterceptionMapLayout.distinctByKey(rules), table: tableName)
            for chain in Self.chains {
                for transport in TransportProtocol.allCases {
                    batch.addRedirectRule(for: transport, table: tableName, chain: chain.name)
                }
            }
            batch.finish()
            socket.nextSequence = batch.nextSequence
            try socket.commit(batch)
        }
    }

    /// `removeAll` without a future.
    public func removeAllSynchronously() throws(NftablesError) {
        try withSocket { socket throws(NftablesError) in
            var batch = NftablesBatch(firstSequence: socket.nextSequence,
                                      description: "the removal of table \(tableName)")
            batch.addTable(tableName)
            batch.deleteTable(tableName)
            batch.finish()
            socket.nextSequence = batch.nextSequence
            try socket.commit(batch)
        }
    }

    private func withSocket<T: Sendable>(
        _ body: (NetlinkSocket) throws(NftablesError) -> T
    ) throws(NftablesError) -> T {
        try socket.withLock { (state) throws(NftablesError) -> T in
            switch state {
            case .success(let socket): try body(socket)
            case .failure(let error): throw error
            }
        }
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        if let threadPool {
            return threadPool.runIfActive(eventLoop: eventLoop, work)
        }
        return eventLoop.submit(work)
    }
}
