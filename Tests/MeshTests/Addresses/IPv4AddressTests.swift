import Mesh
import NIOCore
import Testing

@Suite struct IPv4AddressTests {
    @Test func parsesAndPrintsDottedQuads() {
        #expect(IPv4Address("192.168.1.10")?.description == "192.168.1.10")
        #expect(IPv4Address("10.0.0.256") == nil)
        #expect(IPv4Address("10.0.0") == nil)
        #expect(IPv4Address("10..0.1") == nil)
        #expect(IPv4Address("1.2.3.4.5") == nil)
    }

    @Test func prefixContainsOnlyItsAddresses() throws {
        let prefix = try #require(IPv4Prefix("10.96.0.0/12"))
        #expect(prefix.contains(IPv4Address(10, 96, 0, 10)))
        #expect(prefix.contains(IPv4Address(10, 111, 255, 255)))
        #expect(!prefix.contains(IPv4Address(10, 112, 0, 0)))
        #expect(IPv4Prefix("192.168.1.77/24")?.network == IPv4Address(192, 168, 1, 0))
    }

    @Test func socketAddressRoundTrip() {
        let address = IPv4Address(203, 0, 113, 7)
        #expect(address.socketAddress(port: 8080).ipv4Address == address)
        #expect(address.socketAddress(port: 8080).port == 8080)
    }

    @Test func socketAddressAgreesWithNIOsOwnParsing() throws {
        for (text, port) in [("203.0.113.7", 8080), ("0.0.0.0", 0), ("255.255.255.255", 65535), ("10.96.0.1", 443)] {
            let parsed = try SocketAddress(ipAddress: text, port: port)
            let address = try #require(IPv4Address(text))
            #expect(address.socketAddress(port: UInt16(port)) == parsed)
            #expect(address.socketAddress(port: UInt16(port)).description == parsed.description)
            #expect(parsed.ipv4Address == address)
        }
        #expect(try SocketAddress(ipAddress: "::1", port: 80).ipv4Address == nil)
    }
}
