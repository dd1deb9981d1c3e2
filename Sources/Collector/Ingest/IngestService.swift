import Foundation
import ServiceLifecycle
import Telemetry

/// Runs the `IngestLoop` on its own thread as a Service: graceful shutdown (SIGTERM) or
/// cancellation asks the loop to commit, acknowledge and return.
struct IngestService: Service {
    let loop: IngestLoop

    func run() async throws {
        let loop = self.loop
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    NamedThread.start("mqtt-ingest") {
                        loop.run()
                        done.resume()
                    }
                }
            } onCancel: {
                loop.requestStop()
            }
        } onGracefulShutdown: {
            loop.requestStop()
        }
    }
}
