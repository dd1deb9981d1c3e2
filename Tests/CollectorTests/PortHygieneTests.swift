import Foundation
import Testing

/// No test or script obtains a port by binding port 0, closing it and passing the number
/// on: between the close and the server's bind, any outgoing connection can be given that
/// port. Servers we write listen on port 0 and report their port; others get a port from
/// `ReservedPort` / `reserve_port` (below the ephemeral range, under an flock).
@Suite struct PortHygieneTests {
    /// Patterns of the racy idiom, with what each one catches.
    static let forbidden: [(pattern: String, what: String)] = [
        (#"freeLoopbackPort|\bfree_port\b"#, "the old bind-close helpers"),
        (#"sin_port\s*=\s*0\b"#, "a raw socket bound to port 0 (to read a port number back)"),
        (#"\.bind\(\(\s*["'][0-9.:a-z]*["']\s*,\s*0\s*\)\)[^\n]*\n?[^\n]*(getsockname|close\(\))"#,
         "a Python socket bound to port 0, then read back or closed"),
    ]

    /// Every file of the test suite, the scripts, the benchmarks and the Makefile.
    static func files() -> [String] {
        let fm = FileManager.default
        var out = [packageRoot + "/Makefile"]
        for top in ["Tests", "scripts", "Benchmarks", ".ci"] {
            let root = packageRoot + "/" + top
            for case let rel as String in fm.enumerator(atPath: root) ?? FileManager.DirectoryEnumerator()
            where [".swift", ".sh", ".py", "run"].contains(where: rel.hasSuffix) && !rel.contains(".build/") {
                out.append(root + "/" + rel)
            }
        }
        return out.filter { !$0.hasSuffix("/PortHygieneTests.swift") }
    }

    @Test func noPortIsTakenByBindCloseRebind() throws {
        let files = Self.files()
        #expect(files.count > 20, "found only \(files.count) files under \(packageRoot)")
        var found: [String] = []
        for path in files {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            for (pattern, what) in Self.forbidden {
                let re = try NSRegularExpression(pattern: pattern)
                if let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let line = text[..<Range(m.range, in: text)!.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).count
                    found.append("\(path.dropFirst(packageRoot.count + 1)):\(line): \(what)")
                }
            }
        }
        #expect(found.isEmpty, "\(found.joined(separator: "\n"))")
    }

    /// The check itself catches the idiom (so an empty finding means something).
    @Test func theCheckCatchesTheIdiom() throws {
        let samples = [
            "port = try freeLoopbackPort()",
            "PORT=$(free_port)",
            "addr.sin_port = 0",
            "s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1]); s.close()",
            "with socket.socket() as s:\n    s.bind((\"127.0.0.1\", 0))\n    return s.getsockname()[1]",
        ]
        for sample in samples {
            let hit = try Self.forbidden.contains { f in
                try NSRegularExpression(pattern: f.pattern).firstMatch(in: sample, range: NSRange(sample.startIndex..., in: sample)) != nil
            }
            #expect(hit, "not caught: \(sample)")
        }
        // A server listening on port 0 and reporting its port is fine.
        let fine = "s = http.server.HTTPServer(('127.0.0.1', 0), H)\nopen(port_file, 'w').write(str(s.server_address[1]))"
        #expect(try !Self.forbidden.contains { f in
            try NSRegularExpression(pattern: f.pattern).firstMatch(in: fine, range: NSRange(fine.startIndex..., in: fine)) != nil
        })
    }
}
