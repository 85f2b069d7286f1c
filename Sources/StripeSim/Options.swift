/// The `stripe-sim` command line.
public struct SimulatorOptions: Sendable, Equatable {
    public var port: UInt16 = 12111
    public var writesPerSecond = 25
    public var readsPerSecond = 25
    public var live = false
    public var account = SimulatorConfiguration.defaultAccountId
    public var help = false

    public static let usage = """
        usage: stripe-sim [--port N] [--writes-per-second N] [--reads-per-second N] [--live] [--account ID]

          --port N                 port on 127.0.0.1 (default 12111; 0 picks a free one)
          --writes-per-second N    test-mode write limit per account, answered 429 above it (default 25)
          --reads-per-second N     the same for reads (default 25)
          --live                   serve live mode: sk_live_ keys work, test keys are refused
          --account ID             the default account's id (default \(SimulatorConfiguration.defaultAccountId))

        The first line printed is `listening on 127.0.0.1:PORT`. Runs until SIGTERM or SIGINT; state is in memory.
        """

    public init() {}

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(Problem) -> SimulatorOptions {
        var options = SimulatorOptions()
        var rest = arguments[...]
        func value(_ flag: String) throws(Problem) -> String {
            guard let next = rest.popFirst() else { throw Problem(message: "\(flag) needs a value") }
            return next
        }
        func count(_ flag: String) throws(Problem) -> Int {
            let text = try value(flag)
            guard let number = Int(text), number > 0 else { throw Problem(message: "\(flag) takes a whole number above 0, not '\(text)'") }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--port":
                let text = try value(argument)
                guard let port = UInt16(text) else { throw Problem(message: "--port takes 0 to 65535, not '\(text)'") }
                options.port = port
            case "--writes-per-second": options.writesPerSecond = try count(argument)
            case "--reads-per-second": options.readsPerSecond = try count(argument)
            case "--live": options.live = true
            case "--account":
                let id = try value(argument)
                guard id.hasPrefix("acct_"), id.count > 5 else { throw Problem(message: "--account takes an id starting acct_, not '\(id)'") }
                options.account = id
            case "--help", "-h": options.help = true
            default: throw Problem(message: "unknown argument '\(argument)'")
            }
        }
        return options
    }

    public var configuration: SimulatorConfiguration {
        SimulatorConfiguration(defaultAccount: account, live: live, writesPerSecond: writesPerSecond, readsPerSecond: readsPerSecond)
    }
}
