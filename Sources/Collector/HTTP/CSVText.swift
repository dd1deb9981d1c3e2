/// CSV cells as RFC 4180 writes them, for answers analysts open in a spreadsheet: a text cell
/// holding a comma, a quote or a line break is quoted (quotes doubled), and one starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet shows
/// it rather than running it as a formula. Numbers we format ourselves are written as they are.
enum CSVText {
    /// One text cell.
    static func field(_ s: some StringProtocol) -> String {
        var text = String(s)
        if let first = text.utf8.first, [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D].contains(first) {
            text = "'" + text
        }
        guard text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A cell that may be a number (left as it is) or text (`field`).
    static func cell(_ s: String) -> String { Double(s) != nil ? s : field(s) }
}
