import FlyingFox
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

signal(SIGPIPE, SIG_IGN)

let configuration: StandInConfiguration
do {
    configuration = try StandInConfiguration.parse(
        arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
} catch {
    printError("stripe-stand-in: \(error.message)\n\(StandInConfiguration.usage)")
    exit(64)
}

let standIn = StandIn(configuration: configuration)
let server = try await StandInServer.make(configuration: configuration, standIn: standIn)

Task {
    do {
        try await server.run()
    } catch {
        printError("stripe-stand-in: server stopped: \(error)")
        exit(1)
    }
}

let stopSignals = [SIGTERM, SIGINT].map { number in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler { exit(0) }
    source.resume()
    return source
}

try await server.waitUntilListening(timeout: 30)
guard let listening = await StandInServer.listeningDescription(of: server) else {
    printError("stripe-stand-in: could not read the listening address")
    exit(1)
}
FileHandle.standardOutput.write(Data("listening on \(listening)\n".utf8))

while true {
    try await Task.sleep(for: .seconds(3600))
}
