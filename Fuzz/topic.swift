@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    guard let pattern = try? TopicPattern(String(lines[0])) else { return 0 }
    let labels = pattern.values(in: lines.count > 1 ? String(lines[1]) : "")
    if let s = labels.sensor { precondition(!s.isEmpty && !s.contains("/"), "a sensor label spans levels: \(s)") }
    return 0
}
