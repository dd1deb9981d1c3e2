// The YAML loaders: collector.yaml, the catalogue and the rules (compiled with
// Sources/Collector/Config/*.swift against the debug build's Telemetry, Alerts and Yams).
import Alerts
import Telemetry

/// What every loader promises: it returns or reports problems, each as `file:line: message`
/// with the file it was given and a line inside the text (1 for the whole file).
func checkProblems(_ p: ConfigProblems, lines: Int) {
    if p.problems.isEmpty { fatalError("a failure without a problem") }
    for problem in p.problems {
        if problem.file != "fuzz.yaml" { fatalError("a problem names another file: \(problem)") }
        if problem.line < 1 || problem.line > lines + 1 { fatalError("a problem outside the text: \(problem) (\(lines) lines)") }
        if problem.message.isEmpty { fatalError("a problem without a message") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    // Lines as YAML counts them: \n, \r, \r\n, NEL, LS and PS all end one (VT and FF too here:
    // an upper bound is enough).
    let lines = text.reduce(1) { $1.isNewline ? $0 + 1 : $0 }
    do { _ = try ConfigLoader.parse(text, file: "fuzz.yaml") } catch { checkProblems(error, lines: lines) }
    var catalogue = Catalogue()
    do { catalogue = try CatalogueLoader.parse([("fuzz.yaml", text)]) } catch { checkProblems(error, lines: lines) }
    do { _ = try RuleLoader.parse([("fuzz.yaml", text)], catalogue: catalogue) } catch { checkProblems(error, lines: lines) }
    return 0
}
