import LinuxBackend
import Testing

@Suite struct MmapThresholdTests {
    /// glibc accepts the pinned threshold: the agent relies on it to hand back a parse's large
    /// blocks, and a C library without `mallopt` would make `pin` report false.
    @Test func glibcAcceptsThePin() {
        #expect(MmapThreshold.pin())
        #expect(MmapThreshold.pin(bytes: 256 * 1024))
        #expect(MmapThreshold.pin())
    }
}
