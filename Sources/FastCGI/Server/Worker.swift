import CFastCGI
import Threads

/// One accepting thread. With `.threads` it serves each request itself in the one `FCGX_Request` it keeps for its
/// whole life; with `.tasks` it gives each accepted request an `FCGX_Request` of its own and hands it to a task.
struct Worker: Sendable {
    /// What the pool's threads share.
    let pool: WorkerPool
    /// This thread's slot in the pool's roster.
    let index: Int

    /// Starts the thread; a thread the system refuses counts as exited.
    func start() {
        do {
            try DetachedThread.start(stackSize: 256 * 1024) {
                switch pool.dispatch {
                case .threads: serveInTurn()
                case .tasks: handOff()
                }
            }
        } catch {
            pool.roster.set(.exited, of: index)
        }
    }

    /// `.threads`: accept, answer, write, finish, in turn.
    private func serveInTurn() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, pool.listenFD, 0)
        while pool.acceptor.accept(request, index: index) {
            let params = FastCGIExchange.params(of: request)
            let bytes = TransportResponses.answer(params: params, responder: pool.responder) { head in
                FastCGIExchange.body(of: request, declared: params["CONTENT_LENGTH"], limit: pool.bodyLimit(for: head))
            }
            FastCGIExchange.finish(request, writing: bytes)
            pool.roster.set(.waiting, of: index)
        }
        pool.roster.set(.exited, of: index)
    }

    /// `.tasks`: accept and read a request, hand it to a task that answers it, accept the next.
    private func handOff() {
        while pool.places.take(unless: pool.lifecycle) {
            let accepted = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
            FCGX_InitRequest(accepted, pool.listenFD, 0)
            guard pool.acceptor.accept(accepted, index: index) else {
                accepted.deallocate()
                pool.places.giveBack()
                break
            }
            pool.places.requestStarted()
            let params = FastCGIExchange.params(of: accepted)
            if let slot = pool.roster.willReadBody(serving: pool.lifecycle.current.isServing) {
                Worker(pool: pool, index: slot).start()
            }
            let request = TransportResponses.request(params: params) { head in
                FastCGIExchange.body(of: accepted, declared: params["CONTENT_LENGTH"], limit: pool.bodyLimit(for: head))
            }
            pool.roster.didReadBody()
            pool.roster.set(.waiting, of: index)
            let exchange = HandOff(request: accepted, places: pool.places)
            guard let request else {
                exchange.finish(writing: ResponseEncoder.encode(TransportResponses.badRequest))
                continue
            }
            Task { [responder = pool.responder] in
                let response = await responder.respond(to: request)
                exchange.finish(writing: ResponseEncoder.encode(response))
            }
        }
        pool.roster.set(.exited, of: index)
    }
}
