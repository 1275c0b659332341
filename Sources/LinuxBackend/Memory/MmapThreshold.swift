import Glibc

/// Pins glibc's mmap threshold, the size from which `malloc` maps a block of its own rather
/// than carving it from an arena.
///
/// By default glibc raises the threshold to the size of any mapped block that is freed. One
/// burst that reads a 1 MiB manifest file therefore makes every later block up to that size (the
/// snapshot's encoded bytes, a list response) come from the arena, where it leaves pages that
/// `malloc_trim` cannot hand back. Measured with 1,000 services and 10,000 endpoints: about
/// 0.5 MiB more resident heap. A pinned threshold keeps such blocks mapped and returned whole
/// on `free`.
public enum MmapThreshold {
    /// glibc's default starting threshold.
    public static let defaultBytes: Int32 = 128 * 1024

    /// Pins the threshold; false where the C library has no `mallopt` (then nothing changes).
    @discardableResult
    public static func pin(bytes: Int32 = defaultBytes) -> Bool {
        guard let mallopt else { return false }
        return mallopt(mmapThresholdParameter, bytes) == 1
    }

    /// `M_MMAP_THRESHOLD` from <malloc.h>.
    private static let mmapThresholdParameter: Int32 = -3

    /// glibc's `mallopt`, which the Glibc module does not import (it lives in <malloc.h>).
    private static let mallopt: (@convention(c) (Int32, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()
}
