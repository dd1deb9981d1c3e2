import Synchronization

/// The tokens in force: read by `AccessMiddleware` on every request, replaced by SIGHUP
/// (`ReloadService`), so a removed token stops working at once.
final class LiveAccess: Sendable {
    private let state: Mutex<AccessControl>

    init(_ access: AccessControl) { state = Mutex(access) }

    var current: AccessControl { state.withLock { $0 } }

    func replace(_ access: AccessControl) { state.withLock { $0 = access } }
}
