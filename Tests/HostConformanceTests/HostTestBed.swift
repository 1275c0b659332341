import Mesh
import NIOCore

/// A set of hosts on one backend, and a way to drive that backend until a future completes.
///
/// The conformance suite talks to a backend only through this protocol and `Host`, so every
/// test runs unchanged on each `TestBedKind`. What a bed must provide:
/// - hosts whose channel initializers run on the channel's event loop (tests add handlers with
///   `pipeline.syncOperations`), and whose channels report `localAddress` and `remoteAddress`;
/// - `wait(for:timeout:)` that makes progress on its own: a simulator runs its event queue
///   (virtual time) until the future completes, and throws once `timeout` of its time has
///   passed or nothing is left to run.
protocol HostTestBed: AnyObject {
    var name: String { get }
    /// `count` hosts that can reach one another at `address(of:)`.
    func makeHosts(_ count: Int) throws -> [any Host]
    func address(of host: any Host) -> IPv4Address
    /// Runs the backend until `future` completes (virtual time in a simulator, wall time on Linux), failing after `timeout`.
    func wait<T: Sendable>(for future: EventLoopFuture<T>, timeout: TimeAmount) throws -> T
    func shutdown() throws
}

/// Every backend the conformance suite runs on. Adding a backend is adding a case here.
enum TestBedKind: String, CaseIterable, CustomStringConvertible {
    case linux
    case simulated

    var description: String { rawValue }

    func make() throws -> any HostTestBed {
        switch self {
        case .linux: try LinuxTestBed()
        case .simulated: SimulatedTestBed()
        }
    }
}

/// Why a test bed gave up waiting.
struct TestBedTimeout: Error, CustomStringConvertible {
    let bed: String
    let timeout: TimeAmount

    var description: String {
        "\(bed): the awaited future did not complete within \(timeout.nanoseconds / 1_000_000) ms"
    }
}
