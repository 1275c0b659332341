import Foundation
import Testing

@testable import LabTestbed

/// Whether this machine can run a lab: root (namespaces, nftables) and the tools.
enum LabMachine {
    static let canRun: Bool = getuid() == 0 && ["ip", "nft", "tc"].allSatisfy(LabShell.has)
    static let reason: Comment = "a lab run needs root and ip, nft and tc (scripts/install-deps): it builds network namespaces"
}
