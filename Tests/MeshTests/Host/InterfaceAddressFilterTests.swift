import Mesh
import Testing

/// Multi-NIC listening as EdgeMesh's keys define it: `nic`, `includeIP` and `excludeIP` for the
/// gateway, `listenInterfaces` and `extraFilteredInterfaces` for the tunnel, each address left
/// out with the reason `edgemesh status` shows.
@Suite struct InterfaceAddressFilterTests {
    static let interfaces = [
        NetworkInterface(name: "lo", ipv4Addresses: [.loopback], prefixLength: 8, isLoopback: true),
        NetworkInterface(name: "eth0", ipv4Addresses: [IPv4Address("192.168.1.10")!, IPv4Address("192.168.1.11")!], prefixLength: 24, isLoopback: false),
        NetworkInterface(name: "eth1", ipv4Addresses: [IPv4Address("10.9.0.5")!], prefixLength: 16, isLoopback: false),
        NetworkInterface(name: "docker0", ipv4Addresses: [IPv4Address("172.17.0.1")!], prefixLength: 16, isLoopback: false),
        NetworkInterface(name: "cni0", ipv4Addresses: [IPv4Address("10.244.1.1")!], prefixLength: 24, isLoopback: false),
    ]

    static func chosen(_ filter: InterfaceAddressFilter) -> [String] {
        filter.addresses(from: interfaces).map(\.description)
    }

    @Test func theGatewayDefaultsTakeEveryAddressAndBindTheWildcard() throws {
        let filter = try InterfaceAddressFilter.gateway(nic: "*", includeIP: "*", excludeIP: "")
        #expect(filter.takesEverything)
        #expect(filter == .everything)
        #expect(try InterfaceAddressFilter.gateway(nic: "", includeIP: "", excludeIP: "").takesEverything, "empty means all, as in EdgeMesh")
    }

    @Test func nicIncludeAndExcludeCombine() throws {
        #expect(Self.chosen(try .gateway(nic: "eth1", includeIP: "*", excludeIP: "")) == ["10.9.0.5"])
        #expect(Self.chosen(try .gateway(nic: "eth0, eth1", includeIP: "192.168.1.0/24", excludeIP: "")) == ["192.168.1.10", "192.168.1.11"])
        #expect(Self.chosen(try .gateway(nic: "*", includeIP: "192.168.1.0/24,10.9.0.5", excludeIP: "192.168.1.11"))
            == ["192.168.1.10", "10.9.0.5"])
        let choices = try InterfaceAddressFilter.gateway(nic: "eth0", includeIP: "*", excludeIP: "192.168.1.11").choose(from: Self.interfaces)
        #expect(choices.map(\.description) == [
            "127.0.0.1 (lo): left out, interface lo is not listed (eth0)",
            "192.168.1.10 (eth0)",
            "192.168.1.11 (eth0): left out, excludeIP 192.168.1.11",
            "10.9.0.5 (eth1): left out, interface eth1 is not listed (eth0)",
            "172.17.0.1 (docker0): left out, interface docker0 is not listed (eth0)",
            "10.244.1.1 (cni0): left out, interface cni0 is not listed (eth0)",
        ])
    }

    @Test func aBadAddressIsNamed() {
        let error = #expect(throws: InterfaceAddressFilterError.self) {
            _ = try InterfaceAddressFilter.gateway(nic: "*", includeIP: "192.168.1.0/33", excludeIP: "")
        }
        #expect(error?.description == #"includeIP: "192.168.1.0/33" is not an IPv4 address or network (a.b.c.d or a.b.c.d/n)"#)
    }

    @Test func theTunnelLeavesContainerInterfacesOut() {
        let filter = InterfaceAddressFilter.tunnel(listenInterfaces: "*", extraFilteredInterfaces: "eth1")
        #expect(!filter.takesEverything)
        #expect(Self.chosen(filter) == ["127.0.0.1", "192.168.1.10", "192.168.1.11"])
        let docker = filter.choose(from: Self.interfaces).first { $0.interface == "docker0" }
        #expect(docker?.leftOutBecause == "interface docker0 is filtered (docker*)")
        #expect(Self.chosen(.tunnel(listenInterfaces: "eth0", extraFilteredInterfaces: "")) == ["192.168.1.10", "192.168.1.11"])
    }
}
