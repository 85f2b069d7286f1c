import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The package's built executables, for tests that run them as a user would.
public enum BuiltProducts {
    /// The executable `name` from `$override` when set, else the build folder beside the test
    /// runner (`.build/<triple>/debug/` on Linux), else the package's `.build/debug`.
    public static func executable(_ name: String, override: String, filePath: String = #filePath) -> URL? {
        if let path = ProcessInfo.processInfo.environment[override], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var folders: [URL] = []
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        folders.append(runner.deletingLastPathComponent())
        folders.append(Bundle.main.bundleURL)
        folders.append(Bundle.main.bundleURL.deletingLastPathComponent())
        var directory = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                folders.append(directory.appendingPathComponent(".build/debug"))
                break
            }
            directory = directory.deletingLastPathComponent()
        }
        return folders.map { $0.appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// The built `stripe-sim` (`$STRIPE_SIM_BIN` overrides).
    public static var stripeSim: URL? { executable("stripe-sim", override: "STRIPE_SIM_BIN") }
}

/// A `stripe-sim` process started on a free loopback port.
public enum SimulatorLaunch {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Starts `stripe-sim --port 0 arguments...` and reads its first `lines` lines of output;
    /// the first is "listening on 127.0.0.1:PORT". Returns the running process, its base URL
    /// (`http://127.0.0.1:PORT`) and the lines read.
    public static func start(_ arguments: [String], lines: Int = 1) throws -> (process: Process, baseURL: String, lines: [String]) {
        guard let binary = BuiltProducts.stripeSim else {
            throw Failure(message: "no built stripe-sim executable: run `swift build --build-tests` first (or set STRIPE_SIM_BIN)")
        }
        let process = Process()
        let output = Pipe()
        process.executableURL = binary
        process.arguments = ["--port", "0"] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.spawn()
        var read: [String] = []
        var line = Data()
        while read.count < lines, let byte = try output.fileHandleForReading.read(upToCount: 1), let first = byte.first {
            if first == 0x0A {
                read.append(String(decoding: line, as: UTF8.self))
                line = Data()
            } else {
                line.append(first)
            }
        }
        guard let listening = read.first, listening.hasPrefix("listening on 127.0.0.1:") else {
            process.terminate()
            throw Failure(message: "stripe-sim did not start: \(read.first ?? String(decoding: line, as: UTF8.self))")
        }
        return (process, "http://" + listening.dropFirst("listening on ".count), read)
    }
}

/// The simulator's control routes (`/_sim/...`), called with a JSON body (a query for GET).
public enum SimulatorControl {
    @discardableResult
    public static func call(_ baseURL: String, _ method: String, _ path: String, _ body: [String: Any] = [:]) throws -> [String: Any] {
        var components = URLComponents(string: baseURL + "/_sim/" + path)!
        if method == "GET", !body.isEmpty {
            components.queryItems = body.keys.sorted().map { URLQueryItem(name: $0, value: "\(body[$0]!)") }
        }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        if method != "GET" {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        let (data, status) = try send(request)
        guard (200..<300).contains(status) else {
            throw SimulatorLaunch.Failure(message: "\(method) /_sim/\(path) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Sends a request and waits for the answer: its body and HTTP status.
    public static func send(_ request: URLRequest) throws -> (Data, Int) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<(Data, Int), any Error> = .failure(SimulatorLaunch.Failure(message: "no answer"))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { result = .failure(error) } else {
                result = .success((data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }
}
