import Dispatch
import Glibc

/// SIGTERM and SIGINT as a one-shot "stop" call, so the agent can clean up (snapshot flushed,
/// interception rules and its device removed) and exit 0 instead of dying mid-write.
///
/// The signals are unblocked first: a process inherits its parent's blocked mask, and some
/// parents (test runners among them) start children with SIGTERM blocked, where it would
/// otherwise never arrive. Call `install` before any other thread is started, so every thread
/// inherits the unblocked mask.
final class AgentStopSignal: @unchecked Sendable {
    private let queue = DispatchQueue(label: "edgemesh.agent.signals")
    private var sources: [DispatchSourceSignal] = []
    private var fired = false

    static func install(onStop: @escaping @Sendable (Int32) -> Void) -> AgentStopSignal {
        let signal = AgentStopSignal()
        var set = sigset_t()
        sigemptyset(&set)
        for number in [SIGTERM, SIGINT] { sigaddset(&set, number) }
        sigprocmask(SIG_UNBLOCK, &set, nil)
        for number in [SIGTERM, SIGINT] {
            // The default action would kill the process before the source runs.
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: signal.queue)
            source.setEventHandler { [signal] in
                // A second signal while stopping means "now": give up on a clean stop.
                guard !signal.fired else { _exit(1) }
                signal.fired = true
                onStop(number)
            }
            source.resume()
            signal.sources.append(source)
        }
        return signal
    }
}
