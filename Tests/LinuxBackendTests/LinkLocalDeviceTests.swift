import Foundation
import Glibc
import LinuxBackend
import Mesh
import Testing

/// The agent's bridge device, made through rtnetlink inside a network namespace of the test's
/// own (so nothing touches the machine's interfaces), checked with `ip`.
@Suite struct LinkLocalDeviceTests {
    private struct Observed: Sendable {
        var existedAfterCreate = false
        var existedAfterRemove = true
    }

    @Test(.enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func theBridgeHoldsTheListenAddressIsUpAndIsGoneAfterRemove() throws {
        try TestNamespace.with { namespace in
            let address = IPv4Address(169, 254, 96, 16)
            let device = try namespace.run { try LinkLocalDevice.create(name: "edgemesh0", address: address).name }
            #expect(device == "edgemesh0")
            let addresses = try namespace.exec(NamespaceSupport.ip, "-o", "-4", "address", "show", "dev", "edgemesh0")
            #expect(addresses.contains("inet 169.254.96.16/32"), "\(addresses)")
            let link = try namespace.exec(NamespaceSupport.ip, "-d", "link", "show", "dev", "edgemesh0")
            #expect(link.contains("bridge"), "\(link)")
            #expect(link.contains(",UP"), "\(link)")

            let observed = try namespace.run { () throws -> Observed in
                var observed = Observed()
                // A device left by a crashed agent is taken over, not an error.
                let again = try LinkLocalDevice.create(name: "edgemesh0", address: address)
                observed.existedAfterCreate = LinkLocalDevice.exists("edgemesh0")
                try again.remove()
                observed.existedAfterRemove = LinkLocalDevice.exists("edgemesh0")
                // Removing what is already gone is not an error either.
                try again.remove()
                return observed
            }
            #expect(observed.existedAfterCreate)
            #expect(!observed.existedAfterRemove)
            let links = try namespace.exec(NamespaceSupport.ip, "-o", "link", "show")
            #expect(!links.contains("edgemesh0"), "\(links)")
        }
    }

    @Test func aNameTheKernelWouldRefuseIsRejectedBeforeAsking() {
        #expect(throws: NetworkDeviceError.invalidName("a-name-longer-than-15")) {
            _ = try LinkLocalDevice.create(name: "a-name-longer-than-15", address: IPv4Address(169, 254, 96, 16))
        }
    }
}
