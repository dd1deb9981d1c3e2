import Foundation
import ServiceLifecycle

/// Runs the `IngestLoop` on its own thread as a Service: graceful shutdown (SIGTERM) or
/// cancellation asks the loop to commit, acknowledge and return.
struct IngestService: Service {
    let loop: IngestLoop

    func run() async throws {
        let loop = self.loop
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        loop.run()
                        done.resume()
                    }
                    thread.name = "mqtt-ingest"
                    thread.start()
                }
            } onCancel: {
                loop.requestStop()
            }
        } onGracefulShutdown: {
            loop.requestStop()
        }
    }
}
