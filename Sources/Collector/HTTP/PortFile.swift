import Foundation

/// The file `collector run --port-file` writes once HTTP listens: the port number and a
/// newline. Written to a temporary name and renamed, so a reader never sees half of it;
/// removed again on a clean stop. With `http.listen: host:0` it is how a supervisor or a
/// test learns the port the kernel chose.
enum PortFile {
    static func write(_ port: Int, to path: String) throws {
        let tmp = path + ".tmp"
        try Data("\(port)\n".utf8).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else {
            throw StartupError("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func remove(_ path: String) {
        unlink(path)
    }
}
