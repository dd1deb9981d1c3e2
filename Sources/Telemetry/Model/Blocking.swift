import Dispatch

/// Runs a blocking call (a PostgreSQL statement, a file read) on a Dispatch thread and awaits
/// it, so it holds no task's thread (a slow query would otherwise hold one from every other
/// request).
public func blocking<T: Sendable>(qos: DispatchQoS.QoSClass = .userInitiated,
                                  _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { k in
        DispatchQueue.global(qos: qos).async { k.resume(with: Result { try body() }) }
    }
}
