/// The `stripe-sim` command line.
public struct SimulatorOptions: Sendable, Equatable {
    public var port: UInt16 = 12111
    public var limits = RateLimits.sandbox
    public var globalPerSecond: Int?
    public var endpointPerSecond: Int?
    public var live = false
    public var account = SimulatorConfiguration.defaultAccountId
    public var help = false

    public static let usage = """
        usage: stripe-sim [--port N] [--limits sandbox|live|none] [--global-rps N] [--endpoint-rps N] [--live] [--account ID]

          --port N                 port on 127.0.0.1 (default 12111; 0 picks a free one)
          --limits L               Stripe's rate limits, answered 429 above them: sandbox (default; 25 requests/s
                                   per account, 25/s per endpoint), live (100/s per account, 25/s per endpoint), none
          --global-rps N           requests a second per account, instead of the limits' own
          --endpoint-rps N         requests a second per account and endpoint, instead of the limits' own
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
            case "--limits":
                let text = try value(argument)
                guard let limits = RateLimits(rawValue: text) else {
                    throw Problem(message: "--limits takes sandbox, live or none, not '\(text)'")
                }
                options.limits = limits
            case "--global-rps": options.globalPerSecond = try count(argument)
            case "--endpoint-rps": options.endpointPerSecond = try count(argument)
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
        var configuration = SimulatorConfiguration(defaultAccount: account, live: live, limits: limits)
        if let globalPerSecond { configuration.globalPerSecond = globalPerSecond }
        if let endpointPerSecond { configuration.endpointPerSecond = endpointPerSecond }
        return configuration
    }
}
