import Foundation
import Telemetry

/// Where `collector import` stores its batches.
enum ImportTarget {
    /// The collector's SQLite store: readings bound to its series, their rollups handed to its
    /// merger, the journal kept for the next start's derived series.
    case sqlite(TelemetryStore)
    /// A shared PostgreSQL store: each batch one transaction, rollups in it.
    case postgres(PostgresStore)
}

/// Reads files into the store in batches, with a progress bar on a terminal. Line files
/// (line protocol, CSV) are decoded on a thread of their own while the previous batch is
/// committed (`DecodedChunks`, in file order, so of two equal (series, time) the first line
/// wins as before); with SQLite the rollup merger takes the third share of the work.
struct Importer {
    let target: ImportTarget
    let config: CollectorConfig
    let precision: TimePrecision
    let batchSize: Int
    private(set) var totals: (inserted: Int, duplicates: Int, quarantined: Int) = (0, 0, 0)
    private var batch = IngestBatch()
    /// Readings decoded and not yet committed, named by index into `names`.
    private var pending: [IndexedReading] = []
    /// The current file's series names, by index, and their ids once bound (-1: not yet).
    private var names: [SeriesName] = []
    private var ids: [Int32] = []
    private let decoder = PayloadDecoder()
    private let tty = isatty(2) != 0
    private var lastProgress = ContinuousClock.now

    init(target: ImportTarget, config: CollectorConfig, precision: TimePrecision, batchSize: Int) {
        self.target = target
        self.config = config
        self.precision = precision
        self.batchSize = batchSize
    }

    mutating func importFile(_ file: String, format: ImportCommand.Format) throws {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        let now = EpochMillis(Date().timeIntervalSince1970 * 1000)
        names = []
        ids = []
        var context = DecodeContext(topic: "import/\((file as NSString).lastPathComponent)", now: now,
                                    acceptAge: config.storage.acceptAgeMillis, maxReadings: config.limits.maxReadingsPerMessage)
        context.precision = precision
        if format == .senml {
            // One pack: stored whole or quarantined whole, like one message. Read, not mapped:
            // a file truncated while mapped would kill the import (SIGBUS).
            let data = try handle.readToEnd() ?? Data()
            // A plain pack is read from its bytes (`SenMLNames`), any other by the decoder.
            var plain = SenMLNames()
            var out: [Reading] = []
            do {
                if data.withUnsafeBytes({ plain.decode($0, context: context, into: &pending) }) {
                    names = plain.names
                } else {
                    _ = try data.withUnsafeBytes { try decoder.decode($0, format: .senml, context: context, into: &out) }
                    var index: [SeriesName: Int32] = [:]
                    for r in out {
                        let k = index[r.series] ?? Int32(names.count)
                        if k == Int32(names.count) {
                            names.append(r.series)
                            index[r.series] = k
                        }
                        pending.append(IndexedReading(name: k, time: r.time, value: r.value))
                    }
                }
            } catch let e as DecodeError {
                batch.quarantine.append(QuarantineRecord(received: now, topic: context.topic, reason: e.reason, detail: e.detail,
                                                         payload: Array(data.prefix(1024))))
            }
            try flush(now: now)
            progress(file, done: data.count, of: data.count, final: true)
            return
        }
        let chunks = DecodedChunks(capacity: 2)
        let decoded = DispatchSemaphore(value: 0)
        let (batchSize, lineContext, fd) = (self.batchSize, context, handle.fileDescriptor)
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        NamedThread.start("import-decode") {
            Self.decodeLines(fd, csv: format == .csv, context: lineContext, batchSize: batchSize, into: chunks)
            decoded.signal()
        }
        // A failed commit stops the decoder before the error leaves.
        defer {
            chunks.cancel()
            decoded.wait()
        }
        while let chunk = chunks.take() {
            names += chunk.newNames
            pending += chunk.readings
            batch.quarantine += chunk.quarantine
            try flush(now: now)
            if let e = chunk.readError { throw ImportReadError(file: file, reason: e) }
            progress(file, done: chunk.endOffset, of: max(size, chunk.endOffset), final: false)
        }
        progress(file, done: size, of: size, final: true)
    }

    /// Decodes the file `fd` line by line (read a piece at a time: `LineReader`; a series'
    /// name parsed once and found by its bytes after: `LineProtocolNames`; a line's
    /// quarantine topic built only when it is quarantined) into chunks of about `batchSize`
    /// readings, until the end, a cancel or a read error (the last chunk's `readError`).
    private static func decodeLines(_ fd: Int32, csv: Bool, context: DecodeContext, batchSize: Int,
                                    into chunks: DecodedChunks) {
        defer { chunks.finish() }
        var chunk = DecodedChunk()
        var table = LineProtocolNames()
        var sentNames = 0
        var lineNo = 0
        var end = 0
        do {
            try LineReader.forEachLine(fd) { line, lineEnd in
                lineNo += 1
                end = lineEnd
                var text = line
                if let last = text.last, last == UInt8(ascii: "\r") { text = UnsafeRawBufferPointer(rebasing: text.dropLast()) }
                var blank = true
                for k in 0..<text.count where text[k] != 0x20 && text[k] != 0x09 {
                    blank = false
                    break
                }
                if blank { return true }
                do throws(DecodeError) {
                    if csv {
                        if lineNo == 1, text.starts(with: Array("series".utf8)) { return true }   // a header
                        let r = try csvReading(Array(text), context: context)
                        chunk.readings.append(IndexedReading(name: table.index(of: r.series), time: r.time, value: r.value))
                    } else {
                        try table.decode(line: text, context: context, into: &chunk.readings)
                    }
                } catch {
                    chunk.quarantine.append(QuarantineRecord(received: context.now, topic: "\(context.topic):\(lineNo)", reason: error.reason,
                                                             detail: error.detail, payload: Array(text.prefix(1024))))
                }
                if chunk.readings.count >= batchSize {
                    chunk.endOffset = lineEnd
                    chunk.newNames = Array(table.names[sentNames...])
                    sentNames = table.names.count
                    guard chunks.put(chunk) else { return false }
                    chunk = DecodedChunk()
                    chunk.readings.reserveCapacity(batchSize + 64)
                }
                return true
            }
        } catch {
            chunk.readError = "\(error)"
        }
        chunk.endOffset = end
        chunk.newNames = Array(table.names[sentNames...])
        if !chunk.readings.isEmpty || !chunk.quarantine.isEmpty || chunk.readError != nil { _ = chunks.put(chunk) }
    }

    /// `series,time,value`: series `sensor/metric`; time epoch seconds or milliseconds, or RFC 3339.
    static func csvReading(_ line: [UInt8], context: DecodeContext) throws(DecodeError) -> Reading {
        let fields = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count == 3 else { throw DecodeError("bad_csv", "expected series,time,value, got \(fields.count) field(s)") }
        let name = fields[0].split(separator: "/", maxSplits: 1)
        guard name.count == 2, let series = try? SeriesName(sensor: String(name[0]), metric: String(name[1])) else {
            throw DecodeError("bad_name", "'\(fields[0])' is not sensor/metric")
        }
        guard let t = Double(fields[1]).flatMap(TimestampParser.epoch) ?? TimestampParser.rfc3339(fields[1]) else {
            throw DecodeError("bad_time", "'\(fields[1])' is neither epoch seconds, epoch milliseconds nor RFC 3339")
        }
        guard t >= context.now - context.acceptAge, t <= context.now + context.maxFuture else {
            throw DecodeError("time_out_of_range", "\(fields[1]) is outside accept_age (now - \(context.acceptAge / 86_400_000) d ... now + 5 min)")
        }
        guard let v = Double(fields[2]), v.isFinite else { throw DecodeError("bad_value", "'\(fields[2])' is not a finite number") }
        return Reading(series: series, time: t, value: v)
    }

    private mutating func flush(now: EpochMillis) throws {
        guard !pending.isEmpty || !batch.quarantine.isEmpty else { return }
        let stats: TelemetryStore.CommitStats
        switch target {
        case .sqlite(let store):
            if !store.bind(pending, names: names, ids: &ids, into: &batch) {
                throw DecodeError("series_limit", "limits.max_series reached")
            }
            // Handed to the merger without waiting for it: it merges on the other core while the
            // next batch is decoded (its queue bound holds the import back if it falls behind).
            stats = try store.commit(batch, now: now, rollups: .handOff)
        case .postgres(let store):
            stats = try store.commit(pending.map { Reading(series: names[Int($0.name)], time: $0.time, value: $0.value) },
                                     quarantine: batch.quarantine)
        }
        pending.removeAll(keepingCapacity: true)
        totals.inserted += stats.inserted
        totals.duplicates += stats.duplicates
        totals.quarantined += batch.quarantine.count
        batch.removeAll()
    }

    private mutating func progress(_ file: String, done: Int, of total: Int, final: Bool) {
        guard tty, final || ContinuousClock.now - lastProgress > .milliseconds(200) else { return }
        lastProgress = .now
        let pct = total == 0 ? 100 : done * 100 / total
        let bar = String(repeating: "#", count: pct / 5) + String(repeating: "-", count: 20 - pct / 5)
        let name = (file as NSString).lastPathComponent
        FileHandle.standardError.write(Data("\r\(name) [\(bar)] \(pct)%  \(totals.inserted + pending.count) readings\(final ? "\n" : "")".utf8))
    }
}

/// A file that could be opened but not read to its end (what was read before is stored).
struct ImportReadError: Error, CustomStringConvertible {
    let file: String
    let reason: String
    var description: String { "\(file): read failed: \(reason)" }
}
