import Foundation
import Telemetry

/// One run of decoded lines of an import file: its readings (named by index into the file's
/// names), the names first met in it, the lines quarantined, and how far into the file it
/// reaches (for the progress bar).
struct DecodedChunk: Sendable {
    var readings: [IndexedReading] = []
    var newNames: [SeriesName] = []
    var quarantine: [QuarantineRecord] = []
    var endOffset = 0
    /// Why reading the file stopped early (the last chunk only).
    var readError: String?
}

/// Hands decoded chunks from the import's decoding thread to its committing one, in order,
/// two at most (so decoding runs at most that far ahead, and memory stays at a few batches).
typealias DecodedChunks = BoundedQueue<DecodedChunk>
