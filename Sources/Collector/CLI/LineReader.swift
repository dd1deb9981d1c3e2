import Foundation

/// A file's lines read a piece at a time: decoding starts with the first piece (reading a
/// 200 MB file whole first took a tenth of an import), and memory stays at about a piece
/// however large the file. Read, not mapped: a file truncated while mapped would kill the
/// process (SIGBUS); here it just ends sooner.
enum LineReader {
    /// Calls `body` with each line of `fd` (without its `\n`; a last line without one too) and
    /// the file offset where it ends, until the end or `body` says false.
    static func forEachLine(_ fd: Int32, pieceSize: Int = 1 << 24,
                            _ body: (UnsafeRawBufferPointer, _ end: Int) -> Bool) throws {
        var capacity = pieceSize
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0     // bytes in `buffer`
        var offset = 0     // the file offset of buffer[0]
        var eof = false
        while !eof {
            if filled == capacity {
                // One line longer than a piece: room for it.
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                bigger.copyMemory(from: buffer, byteCount: filled)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
            let n = read(fd, buffer + filled, capacity - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            if n == 0 { eof = true } else { filled += n }
            var start = 0
            while start < filled, let nl = memchr(buffer + start, 0x0A, filled - start) {
                let end = buffer.distance(to: nl)
                guard body(UnsafeRawBufferPointer(start: buffer + start, count: end - start), offset + end) else { return }
                start = end + 1
            }
            if eof {
                if start < filled { _ = body(UnsafeRawBufferPointer(start: buffer + start, count: filled - start), offset + filled) }
                return
            }
            // The unfinished line moves to the front.
            memmove(buffer, buffer + start, filled - start)
            offset += start
            filled -= start
        }
    }
}
