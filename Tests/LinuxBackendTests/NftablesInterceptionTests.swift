import Dispatch
import Foundation
import Glibc
import LinuxBackend
import Mesh
import NIOCore
import NIOPosix
import Synchronization
import Testing

// Each test that touches nf_tables works inside a network namespace of its own, so the host's
// ruleset is never read or changed. The real `nft` tool is only the checker.

@Suite("NftablesInterception")
struct NftablesInterceptionTests {
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    @Test("error messages say what failed and what to do")
    func errorDescriptions() {
        #expect(NftablesError.refused(object: "table edgemesh", errno: EPERM).description
            == "nftables: kernel refused table edgemesh: Operation not permitted (run as root / CAP_NET_ADMIN)")
        #expect(NftablesError.refused(object: "chain edgemesh/output", errno: ENOENT).description
            == "nftables: kernel refused chain edgemesh/output: No such file or directory"
            + " (this kernel lacks nf_tables NAT support: load nft_chain_nat and nft_redir)")
        #expect(NftablesError.ownedByAnotherProcess(object: "table edgemesh").description
            == "nftables: kernel refused table edgemesh: Operation not permitted"
            + " (another process owns the table (flags owner); stop it or choose another table name)")
        #expect(NftablesError.missingAcknowledgements(objects: ["a", "b", "c", "d", "e"]).description
            == "nftables: the kernel did not acknowledge a, b, c and 2 more (replies lost; retry)")
    }

    @Test("an unusable table name fails every operation without reaching the kernel")
    func invalidTableName() throws {
        let interception = NftablesInterception(eventLoop: Self.loop, tableName: String(repeating: "x", count: 300))
        #expect(throws: NftablesError.invalidTableName(String(repeating: "x", count: 300))) {
            try interception.apply([]).wait()
        }
        #expect(throws: NftablesError.invalidTableName("")) {
            try NftablesInterception(eventLoop: Self.loop, tableName: "").tablePresent()
        }
    }

    @Test("apply installs our table, the map with one element per service port, and both NAT chains with a lookup rule per transport",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func applyInstallsChainsAndRules() throws {
        try TestNamespace.with { namespace in
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            #expect(try namespace.run { try interception.tablePresent() } == false)
            let rules = [
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15001),
                InterceptionRule(transport: .udp, serviceAddress: IPv4Address(10, 96, 0, 53), servicePort: 53, localPort: 15053),
            ]
            try interception.apply(rules).wait()

            let ruleset = try namespace.listRuleset()
            #expect(ruleset.tables == ["ip edgemesh"])
            #expect(ruleset.chains == [
                ListedChain(table: "edgemesh", name: "output", type: "nat", hook: "output", priority: -110),
                ListedChain(table: "edgemesh", name: "prerouting", type: "nat", hook: "prerouting", priority: -110),
            ])
            #expect(ruleset.maps == ["edgemesh/intercepted"])
            #expect(ruleset.redirects == [
                ListedRedirect(destination: "10.96.0.10", transport: "tcp", port: 80, redirectPort: 15001),
                ListedRedirect(destination: "10.96.0.53", transport: "udp", port: 53, redirectPort: 15053),
            ])
            #expect(ruleset.rules == Self.lookupRules)
            #expect(ruleset.unrecognised.isEmpty, "nft listed expressions we did not generate: \(ruleset.unrecognised)")
            #expect(try interception.tablePresent())
        }
    }

    @Test("a second apply replaces the first set entirely (work on a thread pool)",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func applyReplaces() throws {
        try TestNamespace.with { namespace in
            let pool = NIOThreadPool(numberOfThreads: 1)
            pool.start()
            defer { try? pool.syncShutdownGracefully() }
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop, threadPool: pool) }
            try interception.apply([
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15001),
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 11), servicePort: 443, localPort: 15002),
            ]).wait()
            try interception.apply([
                InterceptionRule(transport: .udp, serviceAddress: IPv4Address(10, 100, 2, 3), servicePort: 5353, localPort: 15003),
            ]).wait()

            let ruleset = try namespace.listRuleset()
            #expect(ruleset.tables == ["ip edgemesh"])
            #expect(ruleset.chains.map(\.name) == ["output", "prerouting"])
            #expect(ruleset.redirects == [
                ListedRedirect(destination: "10.100.2.3", transport: "udp", port: 5353, redirectPort: 15003),
            ])
            #expect(ruleset.rules == Self.lookupRules)

            try interception.apply([]).wait()
            let emptied = try namespace.listRuleset()
            #expect(emptied.chains.map(\.name) == ["output", "prerouting"])
            #expect(emptied.redirects.isEmpty)
            #expect(emptied.rules == Self.lookupRules)
        }
    }

    @Test("3000 services go through in one batch as 3000 map elements, and the chains keep their 4 rules",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func largeRuleSet() throws {
        try TestNamespace.with { namespace in
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            let serviceRange = IPv4Prefix(network: IPv4Address(10, 96, 0, 0), length: 12)
            var rules: [InterceptionRule] = []
            for index in 0..<3000 {
                let transport: TransportProtocol = index % 2 == 0 ? .tcp : .udp
                let address = serviceRange.address(at: UInt32(index + 1))
                rules.append(InterceptionRule(transport: transport, serviceAddress: address,
                                              servicePort: UInt16(1000 + index), localPort: UInt16(20000 + index)))
            }
            try interception.apply(rules).wait()
            let listed = try namespace.listRuleset()
            #expect(listed.redirects.count == 3000)
            #expect(listed.redirects.contains(ListedRedirect(destination: "10.96.11.184", transport: "udp",
                                                             port: 3999, redirectPort: 22999)))
            #expect(listed.redirects.contains(ListedRedirect(destination: "10.96.0.1", transport: "tcp",
                                                             port: 1000, redirectPort: 20000)))
            #expect(listed.rules == Self.lookupRules)
            #expect(listed.unrecognised.isEmpty, "\(listed.unrecognised.prefix(3))")
        }
    }

    @Test("two rules for the same service address, protocol and port: the first applies, the batch does not fail",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func duplicateKeysKeepTheFirst() throws {
        try TestNamespace.with { namespace in
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            try interception.apply([
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15001),
                InterceptionRule(transport: .udp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15002),
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15003),
            ]).wait()
            #expect(try namespace.listRuleset().redirects == [
                ListedRedirect(destination: "10.96.0.10", transport: "tcp", port: 80, redirectPort: 15001),
                ListedRedirect(destination: "10.96.0.10", transport: "udp", port: 80, redirectPort: 15002),
            ])
        }
    }

    /// What each chain holds whatever the services: one lookup-and-redirect rule per transport.
    static let lookupRules = ["output", "prerouting"].flatMap { chain in
        ["tcp", "udp"].map { ListedRule(chain: chain, transport: $0, map: "@intercepted") }
    }

    @Test("removeAll deletes our table and succeeds when there is none",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func removeAllDeletesTable() throws {
        try TestNamespace.with { namespace in
            // Someone else's table must survive.
            try namespace.exec(NamespaceSupport.nft, "add", "table", "ip", "other")
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            try interception.apply([
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15001),
            ]).wait()
            #expect(try namespace.listRuleset().tables == ["ip other", "ip edgemesh"])

            try interception.removeAll().wait()
            let ruleset = try namespace.listRuleset()
            #expect(ruleset.tables == ["ip other"])
            #expect(ruleset.chains.isEmpty && ruleset.rules.isEmpty && ruleset.maps.isEmpty)
            #expect(try interception.tablePresent() == false)
            try interception.removeAll().wait()
            #expect(try namespace.listRuleset().tables == ["ip other"])
        }
    }

    @Test("a table left by a crashed run is seen, then replaced by the next apply or reconciled away",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func leftoverTableIsReplaced() throws {
        try TestNamespace.with { namespace in
            // The crashed run: a table of our name with a chain and rule we would never create.
            try namespace.exec(NamespaceSupport.nft, "add table ip edgemesh; "
                + "add chain ip edgemesh stale { type nat hook output priority 0; }; "
                + "add rule ip edgemesh stale tcp dport 9999 redirect to :1")
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            #expect(try interception.tablePresent())

            try interception.apply([
                InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15001),
            ]).wait()
            let ruleset = try namespace.listRuleset()
            #expect(ruleset.tables == ["ip edgemesh"])
            #expect(ruleset.chains.map(\.name) == ["output", "prerouting"])
            #expect(ruleset.redirects.map(\.port) == [80])
            #expect(ruleset.rules == Self.lookupRules)
            #expect(try interception.tablePresent())

            // A crash of this instance too (no removeAll): the next run reconciles at start-up.
            let nextRun = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            #expect(try nextRun.reconcile().wait() == true)
            #expect(try namespace.listRuleset().tables.isEmpty)
            #expect(try nextRun.reconcile().wait() == false)
        }
    }

    @Test("without CAP_NET_ADMIN the kernel refuses batch and listing, and the error says what to do",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func refusedWithoutNetAdmin() throws {
        try TestNamespace.with { namespace in
            let errors = try namespace.run { () throws -> [NftablesError] in
                let interception = NftablesInterception(eventLoop: Self.loop)
                // Capabilities are per thread: only this namespace thread loses CAP_NET_ADMIN, and the
                // synchronous calls make the kernel check this thread (the futures would run elsewhere).
                try Capabilities.dropNetAdminFromThisThread()
                var errors: [NftablesError] = []
                do throws(NftablesError) { try interception.applySynchronously([]) } catch { errors.append(error) }
                do throws(NftablesError) { _ = try interception.tablePresent() } catch { errors.append(error) }
                return errors
            }
            #expect(errors == [
                .refused(object: "the rule set of table edgemesh", errno: EPERM),
                .refused(object: "the listing of tables", errno: EPERM),
            ])
            #expect(errors.first?.description == "nftables: kernel refused the rule set of table edgemesh:"
                + " Operation not permitted (run as root / CAP_NET_ADMIN)")
            #expect(try namespace.listRuleset().tables.isEmpty)
        }
    }

    @Test("a table of our name owned by another process is reported by name, then taken over once it exits",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func tableOwnedElsewhere() throws {
        try TestNamespace.with { namespace in
            let holder = try TableOwner(namespace: namespace, table: "edgemesh")
            defer { holder.stop() }
            // Linux 5.12 and nft 1.0 have owned tables; an older machine fails here, by name.
            try #require(try holder.waitUntilTableExists(), "the kernel or nft lacks table flags owner")
            let interception = try namespace.run { NftablesInterception(eventLoop: Self.loop) }
            let rule = InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: 15001)
            #expect(throws: NftablesError.ownedByAnotherProcess(object: "table edgemesh")) {
                try interception.apply([rule]).wait()
            }
            #expect(try interception.tablePresent())
            let untouched = try namespace.exec(NamespaceSupport.nft, "list", "ruleset")
            #expect(untouched.contains("flags owner") && !untouched.contains("chain"), "\(untouched)")

            holder.stop()  // the kernel drops an owned table with its owner's socket
            try interception.apply([rule]).wait()
            #expect(try namespace.listRuleset().redirects.count == 1)
        }
    }

    @Test("intercepted TCP and UDP reach the local listeners; the original destination is readable",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func redirectEndToEnd() throws {
        try TestNamespace.with { namespace in
            try namespace.exec(NamespaceSupport.ip, "link", "set", "lo", "up")
            // Without a route the cluster IPs are unreachable before netfilter is even consulted.
            try namespace.exec(NamespaceSupport.ip, "route", "add", "10.96.0.0/12", "dev", "lo", "src", "127.0.0.1")
            let seen = try namespace.run { try Self.exerciseRedirect() }
            #expect(seen.reachedWithoutRule == false, "a datagram reached the listener before any rule existed")
            #expect(seen.connectError == nil, "connect to 10.96.0.10:80 failed: \(seen.connectError ?? "")")
            #expect(seen.accepted, "the TCP listener saw no connection")
            #expect(seen.originalDestination == "10.96.0.10:80")
            #expect(seen.datagram == "query")
        }
    }

    /// What the end-to-end test saw; gathered on the namespace thread, checked on the test's own.
    struct RedirectObservation: Sendable {
        var reachedWithoutRule = true
        var connectError: String?
        var accepted = false
        var originalDestination: String?
        var datagram: String?
    }

    /// Runs on a thread inside the namespace.
    static func exerciseRedirect() throws -> RedirectObservation {
        var seen = RedirectObservation()
        let tcpListener = try Probe.socket(SOCK_STREAM)
        defer { close(tcpListener) }
        let tcpPort = try Probe.bindLoopback(tcpListener)
        guard listen(tcpListener, 4) == 0 else { throw Probe.failure("listen") }
        let udpListener = try Probe.socket(SOCK_DGRAM)
        defer { close(udpListener) }
        let udpPort = try Probe.bindLoopback(udpListener)
        let udpClient = try Probe.socket(SOCK_DGRAM)
        defer { close(udpClient) }
        let udpService = Probe.address(IPv4Address(10, 96, 1, 1), port: 53)

        // Control: without our rule the datagram does not reach the listener.
        try Probe.send(udpClient, "before", to: udpService)
        seen.reachedWithoutRule = try Probe.receive(udpListener, timeoutMilliseconds: 300) != nil

        let interception = NftablesInterception(eventLoop: loop)
        try interception.apply([
            InterceptionRule(transport: .tcp, serviceAddress: IPv4Address(10, 96, 0, 10), servicePort: 80, localPort: tcpPort),
            InterceptionRule(transport: .udp, serviceAddress: IPv4Address(10, 96, 1, 1), servicePort: 53, localPort: udpPort),
        ]).wait()
        defer { try? interception.removeAll().wait() }

        let client = try Probe.socket(SOCK_STREAM)
        defer { close(client) }
        var limit = timeval(tv_sec: 5, tv_usec: 0)  // bounds connect(), which obeys SO_SNDTIMEO
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var service = Probe.address(IPv4Address(10, 96, 0, 10), port: 80)
        let connected = withUnsafePointer(to: &service) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if connected != 0 { seen.connectError = String(cString: strerror(errno)) }

        var ready = pollfd(fd: tcpListener, events: Int16(POLLIN), revents: 0)
        if poll(&ready, 1, 5000) == 1 {
            let accepted = accept(tcpListener, nil, nil)
            if accepted >= 0 {
                defer { close(accepted) }
                seen.accepted = true
                var original = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let soOriginalDst: Int32 = 80  // <linux/netfilter_ipv4.h>
                if getsockopt(accepted, SOL_IP, soOriginalDst, &original, &length) == 0 {
                    let address = IPv4Address(UInt32(bigEndian: original.sin_addr.s_addr))
                    seen.originalDestination = "\(address):\(UInt16(bigEndian: original.sin_port))"
                }
            }
        }

        try Probe.send(udpClient, "query", to: udpService)
        seen.datagram = try Probe.receive(udpListener, timeoutMilliseconds: 5000)
        return seen
    }
}

/// Whether this process may build namespaces and has the checker tools.
enum NamespaceSupport {
    static let ip = tool("ip")
    static let nft = tool("nft")
    static let comment: Comment = "needs root (network namespaces, nf_tables) and the ip and nft tools"

    static let available: Bool = {
        var missing: [String] = []
        if geteuid() != 0 { missing.append("root") }
        if ip.isEmpty { missing.append("ip (iproute2)") }
        if nft.isEmpty { missing.append("nft (nftables)") }
        return missing.isEmpty
    }()

    private static func tool(_ name: String) -> String {
        for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where access("\(directory)/\(name)", X_OK) == 0 {
            return "\(directory)/\(name)"
        }
        return ""
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

/// A named network namespace (`ip netns add`), deleted when the test ends.
struct TestNamespace: Sendable {
    let name: String

    static func with(_ body: (TestNamespace) throws -> Void) throws {
        let namespace = TestNamespace(name: "em-nft-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
        try Command.run(NamespaceSupport.ip, ["netns", "add", namespace.name])
        defer { _ = try? Command.run(NamespaceSupport.ip, ["netns", "delete", namespace.name]) }
        try body(namespace)
    }

    /// Runs a tool inside the namespace; returns its standard output.
    @discardableResult
    func exec(_ tool: String, _ arguments: String...) throws -> String {
        try Command.run(NamespaceSupport.ip, ["netns", "exec", name, tool] + arguments)
    }

    func listRuleset() throws -> ListedRuleset {
        try ListedRuleset(json: exec(NamespaceSupport.nft, "-j", "list", "ruleset"))
    }

    /// Runs `body` on a new thread that has entered the namespace (sockets it opens live there).
    /// Waits at most 60 s.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = OutcomeBox<T>()
        let done = DispatchSemaphore(value: 0)
        let path = "/var/run/netns/\(name)"
        let thread = Thread {
            let result = Result<T, any Error> {
                try Self.enter(path)
                return try body()
            }
            outcome.value.withLock { $0 = result }
            done.signal()
        }
        thread.start()
        guard done.wait(timeout: .now() + 60) == .success else {
            throw TestFailure(description: "work in namespace \(name) did not finish within 60 s")
        }
        guard let result = outcome.value.withLock({ $0 }) else { throw TestFailure(description: "no outcome") }
        return try result.get()
    }

    /// setns(2) for the calling thread only. Glibc's module hides setns (it is a GNU extension),
    /// so it is looked up at run time.
    private static func enter(_ path: String) throws {
        typealias SetNS = @convention(c) (Int32, Int32) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "setns") else {
            throw TestFailure(description: "setns is not available")
        }
        let setns = unsafeBitCast(symbol, to: SetNS.self)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let cloneNewNet: Int32 = 0x4000_0000
        guard setns(fd, cloneNewNet) == 0 else {
            throw TestFailure(description: "setns \(path): \(String(cString: strerror(errno)))")
        }
        // Guard the host's ruleset: proceed only if this thread really is in the namespace now.
        var target = stat()
        var current = stat()
        guard stat(path, &target) == 0, stat("/proc/thread-self/ns/net", &current) == 0,
              target.st_ino == current.st_ino, target.st_dev == current.st_dev
        else { throw TestFailure(description: "thread did not enter namespace \(path)") }
    }
}

/// capget/capset(2) on the calling thread. Glibc's module does not declare them, so they are
/// looked up at run time (the symbols are in libc).
enum Capabilities {
    private typealias Call = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32

    static func dropNetAdminFromThisThread() throws {
        guard let handle = dlopen(nil, RTLD_NOW), let get = dlsym(handle, "capget"), let set = dlsym(handle, "capset")
        else { throw TestFailure(description: "capget/capset are not available") }
        // struct __user_cap_header_struct { version (v3), pid (0: this thread) } and two
        // struct __user_cap_data_struct { effective, permitted, inheritable } for capabilities 0...63.
        var header: [UInt32] = [0x2008_0522, 0]
        var data = [UInt32](repeating: 0, count: 6)
        let capNetAdmin: UInt32 = 12
        guard unsafeBitCast(get, to: Call.self)(&header, &data) == 0 else { throw Probe.failure("capget") }
        data[0] &= ~(1 << capNetAdmin)
        guard unsafeBitCast(set, to: Call.self)(&header, &data) == 0 else { throw Probe.failure("capset") }
    }
}

/// `nft -i` kept running with a table created with `flags owner`: the table is this process's
/// until it exits.
final class TableOwner: Sendable {
    private let process: Process
    private let input: Pipe
    private let namespace: TestNamespace
    private let table: String

    init(namespace: TestNamespace, table: String) throws {
        self.namespace = namespace
        self.table = table
        process = Process()
        input = Pipe()
        process.executableURL = URL(fileURLWithPath: NamespaceSupport.ip)
        process.arguments = ["netns", "exec", namespace.name, NamespaceSupport.nft, "-i"]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("add table ip \(table) { flags owner; }\n".utf8))
    }

    /// Whether the owned table appeared within 5 s (false: nft refused or exited).
    func waitUntilTableExists() throws -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            // Text listing: nft 1.0.6 cuts its JSON output short at an owned table's flags.
            if try namespace.exec(NamespaceSupport.nft, "list", "tables").contains("table ip \(table)") { return true }
            if !process.isRunning { return false }
            usleep(20_000)
        }
        return false
    }

    /// Ends `nft -i` (end of input), waiting at most 5 s before killing it.
    func stop() {
        if process.isRunning {
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { process.terminate() }
        }
    }
}

/// Hands a result from the namespace thread back to the test.
final class OutcomeBox<T: Sendable>: Sendable {
    let value = Mutex<Result<T, any Error>?>(nil)
}

/// Runs a program with a time limit; standard output goes through a file so a chatty program
/// cannot block on a full pipe while we wait.
enum Command {
    @discardableResult
    static func run(_ program: String, _ arguments: [String], input: String? = nil, timeout: TimeInterval = 30) throws -> String {
        let directory = FileManager.default.temporaryDirectory
        let outputURL = directory.appendingPathComponent("em-nft-out-\(UUID().uuidString)")
        let errorURL = directory.appendingPathComponent("em-nft-err-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil),
              FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        else { throw TestFailure(description: "cannot create output files in \(directory.path)") }
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        let inputURL = directory.appendingPathComponent("em-nft-in-\(UUID().uuidString)")
        if let input {
            try Data(input.utf8).write(to: inputURL)
            process.standardInput = try FileHandle(forReadingFrom: inputURL)
        }
        defer { try? FileManager.default.removeItem(at: inputURL) }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            usleep(10_000)
        }
        let command = ([program] + arguments).joined(separator: " ")
        if process.isRunning {
            process.terminate()
            throw TestFailure(description: "\(command) did not finish within \(Int(timeout)) s")
        }
        let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let error = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
            throw TestFailure(description: "\(command) exited \(process.terminationStatus): \(error)")
        }
        return output
    }
}

struct ListedChain: Equatable, CustomStringConvertible {
    var table: String
    var name: String
    var type: String
    var hook: String
    var priority: Int

    var description: String { "\(table)/\(name) (\(type) \(hook) \(priority))" }
}

/// One element of the interception map as `nft -j` lists it: where the traffic went, and the
/// listener port it is redirected to.
struct ListedRedirect: Equatable, Comparable, CustomStringConvertible {
    var destination: String
    var transport: String
    var port: Int
    var redirectPort: Int

    var description: String { "\(destination) . \(transport) . \(port) : \(redirectPort)" }

    static func < (a: Self, b: Self) -> Bool { a.description < b.description }
}

/// A rule as `nft -j` lists it: which transport it matches, and the map its redirect looks up.
struct ListedRule: Equatable, CustomStringConvertible {
    var chain: String
    var transport: String
    var map: String

    var description: String {
        "\(chain): meta l4proto \(transport) redirect to :ip daddr . meta l4proto . \(transport) dport map \(map)"
    }
}

/// The parts of `nft -j list ruleset` these tests check.
struct ListedRuleset {
    var tables: [String] = []
    var chains: [ListedChain] = []
    var maps: [String] = []
    /// The elements of every map, sorted (the kernel lists a hash map in no useful order).
    var redirects: [ListedRedirect] = []
    var rules: [ListedRule] = []
    /// Expressions and elements that are not part of what we generate.
    var unrecognised: [String] = []

    init(json: String) throws {
        guard let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let objects = root["nftables"] as? [[String: Any]]
        else { throw TestFailure(description: "nft -j printed no ruleset: \(json)") }
        for object in objects {
            if let table = object["table"] as? [String: Any] {
                tables.append("\(table["family"] ?? "?") \(table["name"] ?? "?")")
            } else if let chain = object["chain"] as? [String: Any] {
                chains.append(ListedChain(
                    table: chain["table"] as? String ?? "", name: chain["name"] as? String ?? "",
                    type: chain["type"] as? String ?? "", hook: chain["hook"] as? String ?? "",
                    priority: chain["prio"] as? Int ?? Int.min))
            } else if let map = object["map"] as? [String: Any] {
                maps.append("\(map["table"] ?? "?")/\(map["name"] ?? "?")")
                parseElements(map["elem"] as? [Any] ?? [])
            } else if let rule = object["rule"] as? [String: Any] {
                rules.append(parseRule(rule))
            }
        }
        redirects.sort()
    }

    /// Elements are `[{"concat": [address, transport, port]}, redirectPort]`.
    private mutating func parseElements(_ elements: [Any]) {
        for element in elements {
            guard let pair = element as? [Any], pair.count == 2,
                  let key = (pair[0] as? [String: Any])?["concat"] as? [Any], key.count == 3,
                  let destination = key[0] as? String, let transport = key[1] as? String, let port = key[2] as? Int,
                  let redirectPort = pair[1] as? Int
            else {
                unrecognised.append("\(element)")
                continue
            }
            redirects.append(ListedRedirect(destination: destination, transport: transport, port: port,
                                            redirectPort: redirectPort))
        }
    }

    private mutating func parseRule(_ rule: [String: Any]) -> ListedRule {
        var listed = ListedRule(chain: rule["chain"] as? String ?? "", transport: "", map: "")
        for expression in rule["expr"] as? [[String: Any]] ?? [] {
            if let match = expression["match"] as? [String: Any], match["op"] as? String == "==",
               let left = match["left"] as? [String: Any], (left["meta"] as? [String: Any])?["key"] as? String == "l4proto",
               let transport = match["right"] as? String {
                listed.transport = transport
                continue
            }
            if let redirect = expression["redirect"] as? [String: Any], redirect.count == 1,
               let port = redirect["port"] as? [String: Any], let lookup = port["map"] as? [String: Any],
               let map = lookup["data"] as? String, Self.isInterceptionKey(lookup["key"], transport: listed.transport) {
                listed.map = map
                continue
            }
            unrecognised.append("\(expression)")
        }
        return listed
    }

    /// Whether `key` is `ip daddr . meta l4proto . <transport> dport`.
    private static func isInterceptionKey(_ key: Any?, transport: String) -> Bool {
        guard let fields = (key as? [String: Any])?["concat"] as? [[String: Any]], fields.count == 3 else { return false }
        let address = fields[0]["payload"] as? [String: Any]
        let port = fields[2]["payload"] as? [String: Any]
        return address?["protocol"] as? String == "ip" && address?["field"] as? String == "daddr"
            && (fields[1]["meta"] as? [String: Any])?["key"] as? String == "l4proto"
            && port?["protocol"] as? String == transport && port?["field"] as? String == "dport"
    }
}

/// Plain blocking sockets for the end-to-end test, used on the namespace thread.
enum Probe {
    static func failure(_ call: String) -> TestFailure {
        TestFailure(description: "\(call): \(String(cString: strerror(errno)))")
    }

    static func socket(_ type: __socket_type) throws -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        return fd
    }

    static func address(_ address: IPv4Address, port: UInt16) -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        result.sin_addr.s_addr = address.value.bigEndian
        return result
    }

    /// Binds to 127.0.0.1 on a port the kernel picks, and returns that port.
    static func bindLoopback(_ fd: Int32) throws -> UInt16 {
        var local = address(.loopback, port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw failure("bind") }
        return UInt16(bigEndian: local.sin_port)
    }

    static func send(_ fd: Int32, _ text: String, to destination: sockaddr_in) throws {
        var destination = destination
        let sent = withUnsafePointer(to: &destination) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Array(text.utf8).withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, 0, address, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == text.utf8.count else { throw failure("sendto") }
    }

    /// One datagram as text, or `nil` if none arrives within the limit.
    static func receive(_ fd: Int32, timeoutMilliseconds: Int32) throws -> String? {
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let count = poll(&ready, 1, timeoutMilliseconds)
        guard count >= 0 else { throw failure("poll") }
        if count == 0 { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard received >= 0 else { throw failure("recv") }
        return String(decoding: buffer[..<received], as: UTF8.self)
    }
}
