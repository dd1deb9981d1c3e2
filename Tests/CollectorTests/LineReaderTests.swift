import Foundation
import Testing
@testable import Collector

/// A file's lines read a piece at a time are the file's lines: across piece boundaries, longer
/// than a piece, with or without a last newline, with their end offsets.
struct LineReaderTests {
    func lines(of text: String, pieceSize: Int) throws -> [(String, Int)] {
        let path = NSTemporaryDirectory() + "line-reader-\(UUID().uuidString)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var out: [(String, Int)] = []
        try LineReader.forEachLine(handle.fileDescriptor, pieceSize: pieceSize) { line, end in
            out.append((String(decoding: line, as: UTF8.self), end))
            return true
        }
        return out
    }

    @Test func linesAreTheFilesLinesWhateverThePieces() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var text = ""
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                text += String(repeating: "x", count: Int.random(in: 0...40, using: &rng)) + (Bool.random(using: &rng) ? "\r\n" : "\n")
            }
            if Bool.random(using: &rng) { text += "last" }
            // The lines split on "\n" (a final empty piece is no line), each with where it ends.
            var expected: [(String, Int)] = []
            var offset = 0
            // (By bytes: "\r\n" is one Character, which a String split would not cut.)
            let parts = Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
            for (k, part) in parts.enumerated() where !(k == parts.count - 1 && part.isEmpty) {
                expected.append((String(decoding: part, as: UTF8.self), offset + part.count))
                offset += part.count + 1
            }
            for piece in [1, 3, 16, 1 << 16] {
                let got = try lines(of: text, pieceSize: piece)
                #expect(got.map(\.0) == expected.map(\.0) && got.map(\.1) == expected.map(\.1), "piece \(piece): \(text.debugDescription)")
            }
        }
    }

    @Test func stopsWhenAsked() throws {
        let path = NSTemporaryDirectory() + "line-reader-\(UUID().uuidString)"
        try Data("a\nb\nc\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var seen: [String] = []
        try LineReader.forEachLine(handle.fileDescriptor, pieceSize: 2) { line, _ in
            seen.append(String(decoding: line, as: UTF8.self))
            return seen.count < 2
        }
        #expect(seen == ["a", "b"])
    }
}
