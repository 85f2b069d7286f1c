#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import StripeSim

func report(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Parses the flags, starts the simulator on 127.0.0.1 and serves until SIGTERM or SIGINT.
func main() -> Int32 {
    let options: SimulatorOptions
    do {
        options = try SimulatorOptions.parse(Array(CommandLine.arguments.dropFirst()))
    } catch {
        report("error: \(error.message)\n\(SimulatorOptions.usage)")
        return 2
    }
    if options.help {
        print(SimulatorOptions.usage)
        return 0
    }
    // Block the stop signals before any thread starts, so every thread inherits the mask and
    // the main thread alone takes them with sigwait.
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGTERM)
    sigaddset(&signals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &signals, nil)
    signal(SIGPIPE, SIG_IGN)

    let simulator = Simulator(configuration: options.configuration)
    let server: HTTPServer
    do {
        server = try HTTPServer(port: options.port) { simulator.handle($0) }
    } catch {
        report("error: \(error.message)")
        return 1
    }
    simulator.publicBase = "http://127.0.0.1:\(server.port)"
    server.start()
    print("listening on 127.0.0.1:\(server.port)")
    print("account \(options.account) (\(options.live ? "live" : "test") mode)")
    // Flushes every stream: whoever started the simulator reads the port from the first line.
    fflush(nil)

    var received: Int32 = 0
    sigwait(&signals, &received)
    server.stop()
    return 0
}

exit(main())
