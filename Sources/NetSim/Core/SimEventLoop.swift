import Dispatch
import NIOCore

/// A node's event loop on virtual time.
///
/// Every node has its own loop, and all loops feed the simulator's one ordered queue, so a
/// timer on one node and a packet arriving at another are ordered by (deadline, insertion).
/// A crash bumps the loop's generation: work scheduled before it is dropped unrun, which is
/// what "volatile state is lost" means for timers.
///
/// Like NIO's `EmbeddedEventLoop`, this loop is not thread-safe: the simulator runs on one
/// thread, and `inEventLoop` is true on it. Unlike it, nothing here may `wait()`: no other
/// thread would ever advance time.
public final class SimEventLoop: EventLoop, @unchecked Sendable, CustomStringConvertible {
    unowned(unsafe) let simulator: Simulator  // the simulator owns every loop
    public let node: NodeID
    public let name: String
    /// Incremented by a crash; tasks of an older generation never run.
    private(set) var generation: UInt32 = 0

    init(simulator: Simulator, node: NodeID, name: String) {
        self.simulator = simulator
        self.node = node
        self.name = name
    }

    public var description: String { "SimEventLoop(\(name))" }

    /// Forgets every pending task of this node (a crash).
    func discardPendingWork() {
        generation &+= 1
    }

    public var now: NIODeadline { .uptimeNanoseconds(simulator.now) }

    public var inEventLoop: Bool { simulator.isOnSimulationThread }

    public func execute(_ task: @escaping @Sendable () -> Void) {
        simulator.schedule(at: simulator.now, SimTask(node: node, generation: generation, body: task))
    }

    @discardableResult
    public func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTaskUnchecked(deadline: deadline, task)
    }

    @discardableResult
    public func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTaskUnchecked(deadline: now + delay, task)
    }

    private func scheduleTaskUnchecked<T>(deadline: NIODeadline, _ task: @escaping () throws -> T) -> Scheduled<T> {
        let promise: EventLoopPromise<T> = makePromise()
        let simTask = SimTask(node: node, generation: generation) {
            do {
                promise.assumeIsolated().succeed(try task())
            } catch {
                promise.fail(error)
            }
        }
        simulator.schedule(at: max(deadline.uptimeNanoseconds, simulator.now), simTask)
        return Scheduled(promise: promise, cancellationTask: { simTask.isCancelled = true })
    }

    @discardableResult
    public func scheduleCallback(
        in amount: TimeAmount,
        handler: some (NIOScheduledCallbackHandler & Sendable)
    ) throws -> NIOScheduledCallback {
        // The default would offset from the real clock; ours is virtual.
        scheduleCallback(at: now + amount, handler: handler)
    }

    public func _executeIsolatedUnsafeUnchecked(_ task: @escaping () -> Void) {
        simulator.schedule(at: simulator.now, SimTask(node: node, generation: generation, body: task))
    }

    public func _submitIsolatedUnsafeUnchecked<T>(_ task: @escaping () throws -> T) -> EventLoopFuture<T> {
        scheduleTaskUnchecked(deadline: now, task).futureResult
    }

    @discardableResult
    public func _scheduleTaskIsolatedUnsafeUnchecked<T>(
        deadline: NIODeadline, _ task: @escaping () throws -> T
    ) -> Scheduled<T> {
        scheduleTaskUnchecked(deadline: deadline, task)
    }

    @discardableResult
    public func _scheduleTaskIsolatedUnsafeUnchecked<T>(
        in delay: TimeAmount, _ task: @escaping () throws -> T
    ) -> Scheduled<T> {
        scheduleTaskUnchecked(deadline: now + delay, task)
    }

    public func preconditionInEventLoop(file: StaticString, line: UInt) {
        precondition(inEventLoop, "not on the simulation thread", file: file, line: line)
    }

    public func preconditionNotInEventLoop(file: StaticString, line: UInt) {
        precondition(!inEventLoop, "on the simulation thread", file: file, line: line)
    }

    public func _preconditionSafeToWait(file: StaticString, line: UInt) {
        preconditionFailure(
            "wait() on a simulated event loop never returns: chain the future, then run the simulator",
            file: file, line: line)
    }

    public func _preconditionSafeToSyncShutdown(file: StaticString, line: UInt) {}

    public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable (Error?) -> Void) {
        discardPendingWork()
        queue.async { callback(nil) }
    }

    public var executor: any SerialExecutor {
        fatalError("a simulated event loop runs no Swift concurrency jobs: Mesh code uses futures and handlers")
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        fatalError("a simulated event loop runs no Swift concurrency jobs: Mesh code uses futures and handlers")
    }
}

/// A unit of work on a node's loop. A class so that `Scheduled.cancel()` can mark it.
/// Sendable only in name: like everything in the simulator, it lives on the simulation thread.
final class SimTask: @unchecked Sendable {
    let node: NodeID?
    let generation: UInt32
    var isCancelled = false
    let body: () -> Void

    init(node: NodeID?, generation: UInt32, body: @escaping () -> Void) {
        self.node = node
        self.generation = generation
        self.body = body
    }
}
