import NIOCore

/// libFuzzer entry point, compiled together with the codec sources by `scripts/fuzz-dns`.
///
/// Any input must either be rejected with a `DNSDecodingError` or decode to a message whose
/// encoding (full, and truncated to 512 octets) decodes again; a trap here is a codec bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNSMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    let message: DNSMessage
    do {
        message = try DNSMessage(decoding: input)
    } catch {
        precondition(!error.description.isEmpty)
        return 0
    }
    var full = ByteBuffer()
    message.encode(into: &full)
    guard let again = try? DNSMessage(decoding: full), again == message else {
        fatalError("re-encoding changed or broke a decoded message")
    }
    var small = ByteBuffer()
    let truncated = message.encode(into: &small, maximumSize: DNSMessage.classicUDPSize)
    guard let shortened = try? DNSMessage(decoding: small) else {
        fatalError("a truncated encoding does not decode")
    }
    precondition(shortened.header.isTruncated == (truncated || message.header.isTruncated))
    precondition(shortened.questions == message.questions)
    return 0
}
