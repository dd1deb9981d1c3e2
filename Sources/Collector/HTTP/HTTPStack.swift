import Hummingbird
import NIOCore
import Logging
import Prometheus

/// The HTTP server the daemon and `collector serve` share: the same middlewares in the same
/// order, the same connection limit and idle cut, the port file written once it listens.
enum HTTPStack {
    /// A router with the metrics, method, gzip and (with tokens) access middlewares, and the
    /// live tokens SIGHUP replaces. Without tokens beyond loopback, `openWarning` is logged:
    /// what anyone who reaches the port could do.
    static func router(registry: PrometheusCollectorRegistry, access: AccessControl?, host: String,
                       openWarning: String, logger: Logger) -> (Router<BasicRequestContext>, LiveAccess?) {
        let router = Router()
        router.add(middleware: HTTPMetricsMiddleware(registry: registry))
        router.add(middleware: MethodMiddleware())
        router.add(middleware: GzipMiddleware())
        let liveAccess = access.map(LiveAccess.init)
        if let liveAccess {
            router.add(middleware: AccessMiddleware(live: liveAccess))
        } else if !["127.0.0.1", "::1", "localhost"].contains(host) {
            logger.warning("HTTP listens beyond loopback without http.tokens_file: \(openWarning)")
        }
        return (router, liveAccess)
    }

    /// The server on `http.listen`: connections beyond the limit closed at once, idle and slow
    /// clients cut (and counted) by our own handler, not Hummingbird's, GETs answered from the
    /// pipeline (`QuickGetHandler`); the port written to `portFile` once it listens
    /// (`listen: host:0` lets the kernel choose).
    static func application(router: Router<BasicRequestContext>, http: CollectorConfig.HTTPConfig, registry: PrometheusCollectorRegistry,
                            serverName: String, portFile: String?, logger: Logger) -> some ApplicationProtocol {
        let (connectionLimit, descriptors) = ConnectionCount.effectiveLimit(configured: http.maxConnections)
        if connectionLimit < http.maxConnections {
            logger.warning("http.max_connections lowered to what the descriptor limit leaves; raise LimitNOFILE",
                           metadata: ["max_connections": "\(connectionLimit)", "nofile": "\(descriptors)"])
        }
        let connections = ConnectionCount(limit: connectionLimit, registry: registry)
        let idleClosed = IdleConnectionHandler.Counters(registry: registry)
        let idleTimeout = TimeAmount.milliseconds(http.idleTimeoutMillis)
        // One responder for both ways in: GETs answered from the pipeline (`QuickGetHandler`)
        // and the rest through Hummingbird's connection task.
        let responder = router.buildResponder()
        let quick = QuickGetHandler.Shared(responder: responder, serverName: serverName, logger: logger)
        return Application(
            responder: responder,
            server: .http1(configuration: .init(additionalChannelHandlers: [
                ConnectionLimitHandler(count: connections),
                // (Made for each connection: what can be is made once, above.)
                IdleConnectionHandler(timeout: idleTimeout, counters: idleClosed),
                QuickGetHandler(quick),
            ])),
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: serverName),
            onServerRunning: { channel in
                let port = channel.localAddress?.port
                logger.info("HTTP listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                                                         "port": "\(port.map(String.init) ?? "?")"])
                if let portFile, let port {
                    do { try PortFile.write(port, to: portFile) } catch {
                        logger.error("cannot write the port file", metadata: ["path": "\(portFile)", "error": "\(error)"])
                    }
                }
            },
            logger: logger
        )
    }

    /// Log lines to standard error at `level` (the config's `log_level`), for every command that runs a server.
    static func bootstrapLogging(_ level: String) {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}
