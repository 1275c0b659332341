import NIOCore

/// A subscription to a host's address changes (`Host.watchInterfaces`); cancel it to stop.
public final class InterfaceWatch: @unchecked Sendable {
    private var onCancel: (() -> Void)?

    public init(onCancel: @escaping () -> Void) {
        self.onCancel = onCancel
    }

    public func cancel() {
        onCancel?()
        onCancel = nil
    }

    deinit { onCancel?() }
}

extension Host {
    /// Calls `changed` on the host's event loop when an address is added to or removed from one
    /// of its interfaces. This default compares `interfaces` every `interval` (2 s), for hosts
    /// without address events of their own.
    public func pollInterfaces(every interval: TimeAmount = .seconds(2), _ changed: @escaping @Sendable () -> Void) -> InterfaceWatch {
        var last = interfaces
        let task = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let now = self.interfaces
            guard now != last else { return }
            last = now
            changed()
        }
        return InterfaceWatch { task.cancel() }
    }
}
