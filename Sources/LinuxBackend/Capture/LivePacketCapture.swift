import CPcap
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One record of a capture file.
public struct CapturedFrame: Hashable, Sendable {
    /// Nanoseconds since the Unix epoch (NetSim files: since the start of the run).
    public var timestampNanoseconds: UInt64
    /// The frame's length on the wire; more than `bytes.count` when the snapshot cut it.
    public var originalLength: Int
    /// The link-layer frame as stored (an Ethernet II frame for link type 1).
    public var bytes: [UInt8]
    /// The file's libpcap link type (`DLT_EN10MB` = 1 for Ethernet).
    public var linkType: Int32

    public init(timestampNanoseconds: UInt64, originalLength: Int, bytes: [UInt8], linkType: Int32) {
        self.timestampNanoseconds = timestampNanoseconds
        self.originalLength = originalLength
        self.bytes = bytes
        self.linkType = linkType
    }
}

/// What went wrong capturing or reading a capture; carries libpcap's own text.
public enum LivePacketCaptureError: Error, Hashable, Sendable, CustomStringConvertible {
    case cannotOpenInterface(interface: String, reason: String)
    case cannotConfigure(interface: String, setting: String, reason: String)
    case invalidFilter(interface: String, filter: String, reason: String)
    case cannotOpenOutput(interface: String, path: String, reason: String)
    case cannotStartThread(interface: String, reason: String)
    case alreadyStarted(interface: String)
    case alreadyStopped(interface: String)
    /// The capture loop ended on an error before `stop()`; frames up to then were saved.
    case captureFailed(interface: String, reason: String)
    case cannotReadFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpenInterface(let interface, let reason):
            return "cannot capture on interface \(interface): \(reason);"
                + " check the name (`ip link`) and that the process has CAP_NET_RAW (root)"
        case .cannotConfigure(let interface, let setting, let reason):
            return "cannot set \(setting) for capture on \(interface): \(reason)"
        case .invalidFilter(let interface, let filter, let reason):
            return "invalid capture filter \"\(filter)\" on \(interface): \(reason); see pcap-filter(7)"
        case .cannotOpenOutput(let interface, let path, let reason):
            return "cannot create capture file \(path) for \(interface): \(reason)"
        case .cannotStartThread(let interface, let reason):
            return "cannot start the capture thread for \(interface): \(reason)"
        case .alreadyStarted(let interface):
            return "capture on \(interface) was already started"
        case .alreadyStopped(let interface):
            return "capture on \(interface) was already stopped"
        case .captureFailed(let interface, let reason):
            return "capture on \(interface) failed: \(reason)"
        case .cannotReadFile(let path, let reason):
            return "cannot read capture file \(path): \(reason)"
        }
    }
}

/// A live libpcap capture of one interface into a pcap file, in the format NetSim writes
/// (nanosecond timestamps where the kernel provides them, link type of the interface: Ethernet
/// for Ethernet, veth, bridges and Linux's `lo`).
///
/// The kernel starts queueing matching frames as soon as `init` returns; `start()` runs the
/// loop that writes them out on a thread of its own, and `stop()` writes what the kernel had
/// queued by then, ends the thread and closes the file.
public final class LivePacketCapture: @unchecked Sendable {
    // @unchecked: `state` is guarded by `lock`; the loop context is handed to the capture
    // thread and read back only after `pthread_join`, which orders the memory accesses.

    /// Frames written and kernel drop counters, as `stop()` reports them.
    public struct Summary: Hashable, Sendable {
        public var framesWritten: Int
        /// Frames the kernel dropped because the capture buffer was full.
        public var droppedByKernel: Int
    }

    public let interface: String
    public let path: String
    public let filter: String?
    /// The interface's libpcap link type (`DLT_EN10MB` = 1 for Ethernet).
    public let linkType: Int32

    private enum State { case armed, running(pthread_t), stopped }
    private let lock = NSLock()
    private var state = State.armed
    private let context: LoopContext

    /// Opens `interface` for capture, applies the BPF `filter` (pcap-filter(7) syntax) if
    /// given, and creates the capture file at `path`.
    ///
    /// `bufferSize` is the kernel ring in bytes. In immediate mode libpcap gives every frame a
    /// slot of about `snapshotLength` bytes, and on `lo` each packet passes the tap twice (out and
    /// in; libpcap discards one copy only after reading it), so libpcap's 2 MiB default holds about
    /// 15 packets and drops bursts before the capture thread gets to run.
    public init(
        interface: String, path: String, filter: String? = nil, snapshotLength: Int32 = 65535,
        bufferSize: Int32 = 32 * 1024 * 1024
    ) throws(LivePacketCaptureError) {
        self.interface = interface
        self.path = path
        self.filter = filter
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errorBuffer) else {
            throw .cannotOpenInterface(interface: interface, reason: errorText(errorBuffer))
        }
        do throws(LivePacketCaptureError) {
            try Self.configure(handle, interface: interface, setting: "snapshot length") {
                pcap_set_snaplen($0, snapshotLength)
            }
            try Self.configure(handle, interface: interface, setting: "buffer size") {
                pcap_set_buffer_size($0, bufferSize)
            }
            // The capture thread polls with its own timeout; this bounds a read libpcap makes.
            try Self.configure(handle, interface: interface, setting: "read timeout") { pcap_set_timeout($0, 100) }
            try Self.configure(handle, interface: interface, setting: "immediate mode") {
                pcap_set_immediate_mode($0, 1)
            }
            // Nanosecond stamps match NetSim's files; a kernel without them keeps microseconds.
            _ = pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO)
            let status = pcap_activate(handle)
            if status < 0 {
                throw .cannotOpenInterface(interface: interface, reason: Self.statusText(status, handle))
            }
            if let filter {
                var program = bpf_program()
                guard pcap_compile(handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                    throw .invalidFilter(interface: interface, filter: filter, reason: Self.lastError(handle))
                }
                defer { pcap_freecode(&program) }
                guard pcap_setfilter(handle, &program) == 0 else {
                    throw .invalidFilter(interface: interface, filter: filter, reason: Self.lastError(handle))
                }
            }
            guard let dumper = pcap_dump_open(handle, path) else {
                throw .cannotOpenOutput(interface: interface, path: path, reason: Self.lastError(handle))
            }
            linkType = pcap_datalink(handle)
            context = LoopContext(handle: handle, dumper: dumper)
        } catch {
            pcap_close(handle)
            throw error
        }
    }

    deinit {
        // A capture dropped without stop() still ends its thread and keeps its frames.
        _ = try? stop()
    }

    /// Runs the capture loop on a new thread until `stop()`.
    public func start() throws(LivePacketCaptureError) {
        lock.lock()
        defer { lock.unlock() }
        switch state {
        case .running: throw .alreadyStarted(interface: interface)
        case .stopped: throw .alreadyStopped(interface: interface)
        case .armed: break
        }
        var thread = pthread_t()
        let argument = Unmanaged.passRetained(context).toOpaque()
        let result = pthread_create(&thread, nil, captureThreadMain, argument)
        guard result == 0 else {
            Unmanaged<LoopContext>.fromOpaque(argument).release()
            throw .cannotStartThread(interface: interface, reason: String(cString: strerror(result)))
        }
        state = .running(thread)
    }

    /// Writes every frame the kernel has queued, ends the capture thread and closes the file.
    /// Works without `start()` too (then it only writes what was queued). Throws
    /// `captureFailed` if the loop had stopped on an error; the file is closed either way.
    @discardableResult
    public func stop() throws(LivePacketCaptureError) -> Summary {
        lock.lock()
        defer { lock.unlock() }
        switch state {
        case .stopped:
            throw .alreadyStopped(interface: interface)
        case .running(let thread):
            context.stopRequested.store(true, ordering: .releasing)
            pthread_join(thread, nil)
        case .armed:
            break
        }
        state = .stopped
        if context.failure == nil { context.drain() }
        var statistics = pcap_stat()
        let dropped = pcap_stats(context.handle, &statistics) == 0 ? Int(statistics.ps_drop) : 0
        pcap_dump_close(context.dumper)
        pcap_close(context.handle)
        if let failure = context.failure {
            throw .captureFailed(interface: interface, reason: failure)
        }
        return Summary(framesWritten: context.framesWritten, droppedByKernel: dropped)
    }

    /// Reads every record of a pcap file (this class's or NetSim's) with libpcap, timestamps
    /// in nanoseconds whatever the file's precision.
    public static func readRecords(path: String) throws(LivePacketCaptureError) -> [CapturedFrame] {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard
            let handle = pcap_open_offline_with_tstamp_precision(
                path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        else {
            throw .cannotReadFile(path: path, reason: errorText(errorBuffer))
        }
        defer { pcap_close(handle) }
        let linkType = pcap_datalink(handle)
        var frames: [CapturedFrame] = []
        while true {
            var header: UnsafeMutablePointer<pcap_pkthdr>?
            var data: UnsafePointer<UInt8>?
            let result = pcap_next_ex(handle, &header, &data)
            if result == PCAP_ERROR_BREAK { return frames }  // end of file
            guard result == 1, let header, let data else {
                throw .cannotReadFile(path: path, reason: lastError(handle))
            }
            let stamp = header.pointee.ts
            frames.append(
                CapturedFrame(
                    timestampNanoseconds: UInt64(stamp.tv_sec) * 1_000_000_000 + UInt64(stamp.tv_usec),
                    originalLength: Int(header.pointee.len),
                    bytes: Array(UnsafeBufferPointer(start: data, count: Int(header.pointee.caplen))),
                    linkType: linkType))
        }
    }

    private static func configure(
        _ handle: OpaquePointer, interface: String, setting: String, _ call: (OpaquePointer) -> Int32
    ) throws(LivePacketCaptureError) {
        let status = call(handle)
        if status != 0 {
            throw .cannotConfigure(interface: interface, setting: setting, reason: statusText(status, handle))
        }
    }

    private static func statusText(_ status: Int32, _ handle: OpaquePointer) -> String {
        let summary = String(cString: pcap_statustostr(status))
        let detail = lastError(handle)
        return detail.isEmpty ? summary : "\(summary): \(detail)"
    }

    private static func lastError(_ handle: OpaquePointer) -> String {
        String(cString: pcap_geterr(handle))
    }
}

/// What the capture thread works on. Written by that thread while it runs; read by others
/// only after joining it.
private final class LoopContext: @unchecked Sendable {
    let handle: OpaquePointer
    let dumper: OpaquePointer
    var framesWritten = 0
    var failure: String?

    init(handle: OpaquePointer, dumper: OpaquePointer) {
        self.handle = handle
        self.dumper = dumper
    }

    /// Set by `stop()`; the loop sees it within one poll interval.
    let stopRequested = Atomic<Bool>(false)

    /// Waits for frames with poll(2) on the handle's descriptor and writes them out until
    /// `stopRequested` or an error. Not `pcap_loop`: `pcap_breakloop` cannot wake every kind of
    /// device (an nflog group blocks in recv), a poll with a timeout can.
    func run() {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard pcap_setnonblock(handle, 1, &errorBuffer) == 0 else {
            failure = errorText(errorBuffer)
            return
        }
        var descriptor = pollfd(fd: pcap_get_selectable_fd(handle), events: Int16(POLLIN), revents: 0)
        while !stopRequested.load(ordering: .acquiring) {
            descriptor.revents = 0
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            let result = dispatch()
            if result == PCAP_ERROR_BREAK { return }
            // An nflog device answers a read with nothing queued with EAGAIN rather than 0.
            if result < 0 && errno == EAGAIN { continue }
            if result < 0 {
                failure = String(cString: pcap_geterr(handle))
                return
            }
        }
    }

    /// Writes what the kernel has already queued, without waiting for more.
    func drain() {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard pcap_setnonblock(handle, 1, &errorBuffer) == 0 else {
            failure = errorText(errorBuffer)
            return
        }
        while true {
            let result = dispatch()
            if result == 0 || result == PCAP_ERROR_BREAK { return }
            // An empty nflog device answers a non-blocking read with EAGAIN rather than 0.
            if result < 0 && errno == EAGAIN { return }
            if result < 0 {
                failure = String(cString: pcap_geterr(handle))
                return
            }
        }
    }

    private func dispatch() -> Int32 {
        pcap_dispatch(handle, -1, writeFrame, Unmanaged.passUnretained(self).toOpaque().assumingMemoryBound(to: UInt8.self))
    }
}

/// libpcap's per-frame callback: append the frame to the dump file and count it.
private func writeFrame(
    user: UnsafeMutablePointer<UInt8>?, header: UnsafePointer<pcap_pkthdr>?, bytes: UnsafePointer<UInt8>?
) {
    guard let user, let header, let bytes else { return }
    let context = Unmanaged<LoopContext>.fromOpaque(UnsafeRawPointer(user)).takeUnretainedValue()
    pcap_dump(UnsafeMutablePointer<UInt8>(context.dumper), header, bytes)
    context.framesWritten += 1
}

/// The capture thread's entry point; `argument` is a retained `LoopContext`.
private func captureThreadMain(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let argument else { return nil }
    let context = Unmanaged<LoopContext>.fromOpaque(argument).takeRetainedValue()
    context.run()
    return nil
}

/// The NUL-terminated text libpcap left in an error buffer.
private func errorText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
